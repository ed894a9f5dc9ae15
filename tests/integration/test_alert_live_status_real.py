"""Every alert carries the recovery's live status (issue 13, item 3), through a real
`paramedic run`.

The example engine (examples/engine.py) has a three-step cold recovery with expected
durations; its last step ("Reconcile positions") waits for a file the test creates, so the
recovery stands at 50% for as long as the test looks. The crash pages three real receivers
on loopback: PagerDuty Events v2 (its URL pointed at a loopback receiver), a signed webhook
and Slack's Web API (a bot token; a loopback "Slack" answering with the message's `ts`) for
the team, and email through a real SMTP server (aiosmtpd). Updates are
throttled to one a second here (`status_updates_every: 1s`; 30 s by default).
"""

from __future__ import annotations

import asyncio
import calendar
import signal
import sys
import time
from collections.abc import Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from paramedic.alerting.channels.loopback import LoopbackReceiver
from tests.conftest import free_port
from tests.integration.runner import config_file, started, until
from tests.integration.test_channel_email import Inbox
from tests.integration.test_resolve_recovered import (
    ENGINE,
    ENV,
    crash_engine,
    engines_ended,
    events,
    next_resolve,
)

pytestmark = pytest.mark.integration

SLACK_POSTED = '{"ok": true, "channel": "C0123456789", "ts": "1764065723.000100"}'
EXPECTED = {"Restart engine": 1.0, "Wait until healthy": 2.0, "Reconcile positions": 20.0}


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


def write_config(
    tmp_path: Path, pd_url: str, hook_url: str, slack_url: str, smtp_port: int, gate: Path
) -> Path:
    port = free_port()
    wait = f"import os, time\nwhile not os.path.exists({str(gate)!r}): time.sleep(0.02)"
    return config_file(
        tmp_path,
        f"""channels:
  pagerduty: {{pagerduty: {{routing_key_env: PD_KEY, url: "{pd_url}/v2/enqueue"}}}}
  hook: {{webhook: {{url: "{hook_url}/hook", secret_env: HOOK_SECRET}}}}
  slack: {{slack_bot: {{token_env: SLACK_TOKEN, channel: C0123456789, url: "{slack_url}/api"}}}}
  email: {{email: {{host: 127.0.0.1, port: {smtp_port}, security: none,
          sender: paramedic@example.com, to: [compliance@example.com]}}}}
alerting:
  status_updates_every: 1s
  contacts: {{team: {{display: All team members, channels: [slack, hook]}}}}
  routes:
    routes:
      - {{name: P0, matchers: [severity=P0],
          receivers: ["oncall:pagerduty", "team:slack", "team:hook", "compliance:email"]}}
dashboard_url: "https://console.example/incidents/{{incident}}"
recovery:
  approval: {{require: {{market_open: [manual], market_closed: [manual]}}}}
  watch_period: 300ms
services:
  engine:
    tier: 1
    runbook: https://wiki.example/runbooks/engine-crash
    process:
      argv: [{sys.executable!r}, {ENGINE!r}, --port, "{port}"]
      stop_timeout: 2s
    probes:
      - {{name: ready, role: readiness, http: {{url: "http://127.0.0.1:{port}/health"}},
          period: 100ms, timeout: 100ms}}
    health: {{up_after: 1, evaluate_every: 50ms}}
    recovery:
      methods:
        cold:
          steps:
            - {{name: Restart engine, restart_process: {{}}, timeout: 10s, expected: 1s}}
            - {{name: Wait until healthy, wait_healthy: {{}}, timeout: 10s, expected: 2s}}
            - name: Reconcile positions
              timeout: 60s
              expected: 20s
              command: {{argv: [{sys.executable!r}, "-c", {wait!r}]}}
      validation:
        immediate: []
      resumption:
        phases:
          - {{name: monitoring_only, size_multiplier: 0.0, duration: 100ms}}
          - {{name: normal, size_multiplier: 1.0}}
""",
    )


def eta_wall(text: str) -> float:
    """The wall time an ETA field starts with (`2026-12-06 12:53:27 UTC (in 20 s)`)."""
    return float(calendar.timegm(time.strptime(text[:23], "%Y-%m-%d %H:%M:%S UTC")))


def mails(inbox: Inbox, action: str) -> list[Message]:
    return [m for _f, _t, m in inbox.envelopes if m["X-Paramedic-Action"] == action]


async def test_the_alert_at_50_percent_shows_the_status_the_step_and_an_eta(
    tmp_path: Path, smtp: tuple[Inbox, int]
) -> None:
    """kill -9 the engine; the first page says `detected`. With steps 1-2 done and step 3
    blocked, the webhook's update reads `recovering 50%, step 3 of 3 "Reconcile positions"`,
    its actions name the finished steps with their times, and its ETA is the tracker's: 20 s
    (step 3's expected duration, validation having no checks) after the 50% snapshot. The
    same status reaches PagerDuty as a trigger under the first page's dedup_key, and email as
    a reply (In-Reply-To the first message's Message-ID), and Slack as chat.update of the
    message the page posted (its `ts`). Releasing step 3, the incident
    recovers: validating, recovered, resuming at 0% (the resumption's first phase), recovered
    at full size, each sent at once; then the alert resolves."""
    inbox, smtp_port = smtp
    gate = tmp_path / "positions-reconciled"
    env = {**ENV, "PD_KEY": "pd-routing-key-0123456789", "SLACK_TOKEN": "xoxb-0123456789"}
    async with (
        LoopbackReceiver(status=202) as pd,
        LoopbackReceiver() as hook,
        LoopbackReceiver(reply=SLACK_POSTED) as slack,
        engines_ended(tmp_path) as pids,
    ):
        config = write_config(tmp_path, pd.url, hook.url, slack.url, smtp_port, gate)
        p = await started(config, env)
        try:
            incident = await crash_engine(p)
            alert_id = f"{incident}:failure"

            def at_50(body: dict[str, Any]) -> bool:
                return (
                    body["alert_id"] == alert_id
                    and body["action"] == "update"
                    and body["fields"]["status"].startswith("recovering 50%")
                )

            found = await until(
                "the 50% update", lambda: [b for r in hook.requests if at_50(b := r.json())]
            )
            update = found[0]
            fields = update["fields"]
            [trigger] = [
                r.json()
                for r in hook.requests
                if r.json()["action"] == "trigger" and r.json()["alert_id"] == alert_id
            ]
            assert "detected" == trigger["fields"]["status"]
            assert trigger["idempotency_key"] == update["thread"]
            assert (
                'recovering 50%, step 3 of 3 "Reconcile positions" (cold recovery)'
                == fields["status"]
            )
            assert '"Restart engine" done' in fields["actions"]
            assert '"Wait until healthy" done' in fields["actions"]
            assert "https://wiki.example/runbooks/engine-crash" == fields["runbook"]
            assert f"https://console.example/incidents/{incident}" == fields["dashboard"]
            assert "On-call engineer" == fields["on_call"]
            assert 'Status: recovering 50%, step 3 of 3 "Reconcile positions"' in update["body"]
            [snapshot] = [
                e
                for e in events(p, "recovery.progress")
                if e["payload"]["incident"] == incident and e["payload"]["percentage"] == 50
            ]
            progress_at = snapshot["wall"]
            assert snapshot["payload"]["eta_wall"] is not None
            eta = eta_wall(fields["eta"])
            left = EXPECTED["Reconcile positions"]
            assert int(progress_at + left) - 1 <= eta <= progress_at + left + 1, fields["eta"]
            assert int(snapshot["payload"]["eta_wall"]) == eta

            listed = p.get("/api/alerts", params={"limit": 1000}).json()["alerts"]
            [stored] = [a["alert"] for a in listed if a["id"] == alert_id]
            assert stored["status"].startswith("recovering 50%"), stored["status"]

            pd_bodies = [r.json() for r in pd.requests]
            assert [alert_id] == [b["dedup_key"] for b in pd_bodies[:1]]
            pd_50 = [
                b
                for b in pd_bodies
                if b["payload"]["custom_details"]["status"].startswith("recovering 50%")
            ]
            assert pd_50, [b["payload"]["custom_details"]["status"] for b in pd_bodies]
            assert {("trigger", alert_id)} == {(b["event_action"], b["dedup_key"]) for b in pd_50}
            assert fields["eta"] == pd_50[0]["payload"]["custom_details"]["eta"]

            # Slack (a bot token): the page was posted once; the update edits that message.
            assert "/api/chat.postMessage" == slack.requests[0].path
            edits = [r.json() for r in slack.requests if r.path == "/api/chat.update"]
            edits_50 = [e for e in edits if "recovering 50%" in _slack_status(e)]
            assert edits_50, [_slack_status(e) for e in edits]
            assert {"1764065723.000100"} == {e["ts"] for e in edits_50}

            def mail_50() -> list[Message]:
                return [m for m in mails(inbox, "update") if "recovering 50%" in _body(m)]

            [mail] = (await until("the 50% email update", mail_50))[:1]
            [first] = mails(inbox, "trigger")
            assert first["Message-ID"] == mail["In-Reply-To"]
            assert first["Message-ID"] in mail["References"]
            assert mail["Subject"].startswith("Re: [P0]")

            gate.touch()
            await next_resolve(hook, alert_id)
            statuses = [
                r.json()["fields"]["status"]
                for r in hook.requests
                if r.json()["action"] == "update" and r.json()["alert_id"] == alert_id
            ]
            # Every change of phase after the release reached the webhook, in order:
            # validated (recovered), the resumption's first phase (trading at 0x size), then
            # full size.
            # (An update carries the status when it is built: one whose phase passed on
            # before it was built says the newer one, so only the order is asserted.)
            after = statuses[statuses.index(fields["status"]) + 1 :]
            phases = [
                x.split(" (")[0] if x.startswith("validating") else x
                for x in after
                if not x.startswith("recovering")  # progress, when it got its own update
            ]
            assert "validating" == phases[0], statuses
            assert ["resuming at 0% (monitoring_only)", "recovered"] == phases[-2:], statuses
            pids += [e["payload"]["pid"] for e in events(p, "process.spawned")]
            p.signal(signal.SIGTERM)
            assert 0 == await asyncio.to_thread(p.wait, 20)
        finally:
            gate.touch()
            await asyncio.to_thread(p.ensure_dead)


def _slack_status(body: dict[str, Any]) -> str:
    fields = {f["title"]: f["value"] for f in body["attachments"][0]["fields"]}
    return str(fields.get("Status", ""))


def _body(message: Message) -> str:
    payload = message.get_payload(decode=True)
    return payload.decode() if isinstance(payload, bytes) else str(message.get_payload())
