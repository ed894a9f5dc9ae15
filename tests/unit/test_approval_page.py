"""The approval page (issue 13, item 1): its text, who gets it, and what ends it, on a
FakeClock with the real approval gate producing the events and the real alerting pipeline
(SQLite store, outbox) capturing what each channel is sent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from paramedic.alerting.approval_page import approval_alert, approval_severity
from paramedic.alerting.model import Alert
from paramedic.alerting.service import AlertingService
from paramedic.alerting.templates import AlertRenderer
from paramedic.config import InvalidConfig, load_config
from paramedic.config.alerting import AlertingConfig
from paramedic.core.bus import Published
from paramedic.core.events import Event
from paramedic.core.incident_events import ApprovalRequested
from paramedic.recovery.approval import ApprovalGate
from paramedic.store.sqlite import SQLiteStore
from paramedic.testing import CapturingChannel, FakeClock

API = "http://127.0.0.1:9090"
SENTENCE = "cold restart: checkpoint 41 s old, backup not synced"


def request(gate: ApprovalGate, incident: str = "inc_1") -> ApprovalRequested:
    return gate.request(
        incident, service="engine", method="cold", sentence=SENTENCE, market_open=True
    )


def test_the_page_says_what_is_asked_the_timeout_the_deadline_and_how_to_answer() -> None:
    """The rendered text page: the decision and its sentence, what a timeout does, the
    deadline in ISO 8601 UTC with the time left at sending, the exact CLI commands, the API
    call with its token header, and the console link."""
    clock = FakeClock()  # wall 2026-01-01T00:00:00Z
    gate = ApprovalGate(clock, timeout_s=300.0, emit=lambda e: None)
    asked = request(gate)
    clock.advance(12.0)
    alert = approval_alert(
        asked,
        severity="P0",
        severity_reason="an approval request of a P0 incident",
        now_wall=clock.wall(),
        api_url=API,
        dashboard="https://grafana.example/d/engine",
        runbook="https://wiki.example/engine",
    )
    assert (
        "inc_1:approval:" + asked.id,
        "approval_request",
        "engine: approval needed for a cold recovery",
    ) == (alert.id, alert.type, alert.title)
    text = AlertRenderer().render(alert, "text")
    assert text == (
        "Subject: [P0] engine: approval needed for a cold recovery\n"
        "\n"
        f"What: Approve a cold recovery of engine? {SENTENCE}\n"
        "When: 2026-01-01 00:00:00 UTC\n"
        "Impact: nothing runs until someone answers; on timeout (5 min) no action is taken:"
        " the request stays open (a late answer still works) and escalates"
        " (approval_timeout), again every 5 min\n"
        "Status: awaiting approval until 2026-01-01T00:05:00Z (4 min 48 s left)\n"
        "Actions:\n"
        "  - approve: paramedic approve inc_1 --url http://127.0.0.1:9090"
        " --reason 'approved from the page'\n"
        "  - reject: paramedic reject inc_1 --url http://127.0.0.1:9090 --reason '<why>'\n"
        "  - (the CLI reads an operator token from PARAMEDIC_TOKEN)\n"
        "  - API: POST http://127.0.0.1:9090/api/incidents/inc_1/approve (or /reject) with the"
        ' header "Authorization: Bearer <operator token>" and the body {"reason": "..."}\n'
        "  - console: https://grafana.example/d/engine\n"
        "ETA: the cold recovery starts once approved\n"
        "Runbook: https://wiki.example/engine\n"
        "Dashboard: https://grafana.example/d/engine\n"
    )


def test_the_severity_is_the_incidents_never_below_p1() -> None:
    """P0 stays P0; P2, P3 and an unknown incident severity page at P1."""
    assert ["P0", "P1", "P1", "P1", "P1"] == [
        approval_severity(s)[0] for s in ("P0", "P1", "P2", "P3", None)
    ]
    assert (
        "an approval request of a P2 incident pages at P1 at least" == (approval_severity("P2")[1])
    )


@dataclass
class Rig:
    clock: FakeClock
    store: SQLiteStore
    pager: CapturingChannel
    slack: CapturingChannel
    gate: ApprovalGate
    emitted: list[Event]
    log: CapturingChannel = field(default_factory=CapturingChannel)
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    service: AlertingService | None = None
    seq: int = 0

    def build(self, approvers: tuple[str, ...] = ("oncall", "team-lead")) -> AlertingService:
        self.service = AlertingService(
            AlertingConfig.model_validate({"contacts": {"team-lead": {"channels": ["slack"]}}}),
            clock=self.clock,
            store=self.store,
            channels={"pagerduty": self.pager, "slack": self.slack, "log": self.log},
            submit=lambda events: None,
            job=lambda coro: self.tasks.add(asyncio.ensure_future(coro)),
            api_url=API,
            approvers=approvers,
        )
        return self.service

    async def publish(self, event: Event) -> None:
        """The bus's hand-over of a committed event, then every job it started."""
        assert self.service is not None
        self.seq += 1
        self.service.on_published(Published(self.seq, event))
        while self.tasks:
            done = list(self.tasks)
            self.tasks.clear()
            await asyncio.gather(*done)

    def drain(self, channel: CapturingChannel) -> list[Any]:
        taken = []
        while not channel.arrived.empty():
            taken.append(channel.arrived.get_nowait())
        return taken

    async def sent(self, channel: CapturingChannel, n: int) -> list[Any]:
        return [await asyncio.wait_for(channel.arrived.get(), 5) for _ in range(n)]


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    store = SQLiteStore(tmp_path / "p.db")
    await store.open()
    clock = FakeClock()
    emitted: list[Event] = []
    gate = ApprovalGate(clock, timeout_s=300.0, emit=emitted.append)
    rig = Rig(clock, store, CapturingChannel("pagerduty"), CapturingChannel("slack"), gate, emitted)
    service = rig.build()
    runner = asyncio.create_task(service.outbox.run())
    yield rig
    runner.cancel()
    await asyncio.gather(runner, *rig.tasks, return_exceptions=True)
    await store.close()


def failure(severity: str) -> Alert:
    return Alert(
        id="inc_1:failure",
        type="crash",
        source="engine",
        severity=severity,  # type: ignore[arg-type]
        title="engine crash",
        labels={"service": "engine", "kind": "crash"},
        incident="inc_1",
    )


async def test_the_approvers_are_paged_once_and_the_approval_resolves_it(rig: Rig) -> None:
    """approval.requested pages the approvers (the on-call's pager, the team lead's Slack)
    at the incident's P0, once even if the event comes twice; no ladder runs behind it; the
    approval resolves the page on both, naming who approved."""
    service = rig.service
    assert service is not None
    await service.raise_alert(failure("P0"))
    await rig.sent(rig.pager, 1)  # the failure's own page
    await rig.sent(rig.slack, 1)
    asked = request(rig.gate)
    await rig.publish(asked)
    await rig.publish(asked)
    (page,) = await rig.sent(rig.pager, 1)
    (chat,) = await rig.sent(rig.slack, 1)
    assert ("trigger", "P0", "oncall") == (page.action, page.severity, page.labels["receiver"])
    assert ("trigger", "team-lead") == (chat.action, chat.labels["receiver"])
    assert "paramedic approve inc_1 --url http://127.0.0.1:9090" in page.body
    rig.clock.advance(250.0)  # within the timeout; a P0 ladder pages the backup at +2 min
    await asyncio.sleep(0.05)
    later = [n.alert_id for c in (rig.pager, rig.slack) for n in rig.drain(c)]
    assert later  # the failure's own ladder ran...
    assert {"inc_1:failure"} == set(later)  # ...the approval page has none
    await rig.publish(rig.gate.approve("inc_1", by="olga", why="go"))
    (resolved,) = await rig.sent(rig.pager, 1)
    (resolved_chat,) = await rig.sent(rig.slack, 1)
    assert ("resolve", "resolve") == (resolved.action, resolved_chat.action)
    assert "resolved by olga: approved cold: go; the recovery runs" == resolved.fields["status"]
    assert [] == [a for a in service.alerts.values() if a.type == "approval_request"]


async def test_a_timeout_resolves_the_page_saying_so_and_a_rejection_names_who(
    rig: Rig,
) -> None:
    """No failure alert open: the page is P1. The gate's timeout resolves it with the
    timeout's follow-up; a late rejection afterwards is no second follow-up. A second
    request (another incident) is its own page, and a rejection resolves it by name."""
    await rig.publish(request(rig.gate))
    (page,) = await rig.sent(rig.pager, 1)
    assert "P1" == page.severity
    await rig.sent(rig.slack, 1)
    rig.clock.advance(300.0)
    timed_out = rig.emitted[0]
    assert "approval.timed_out" == timed_out.kind
    await rig.publish(timed_out)
    (resolved,) = await rig.sent(rig.pager, 1)
    await rig.sent(rig.slack, 1)
    assert resolved.fields["status"] == (
        "resolved by paramedic: timed out: no answer on cold within 5 min; no action taken,"
        " escalating; the request stays open: approving or rejecting it still works"
    )
    await rig.publish(rig.gate.reject("inc_1", by="olga", why="late no"))
    other = ApprovalGate(rig.clock, timeout_s=300.0, emit=lambda e: None)
    await rig.publish(request(other, "inc_2"))
    (second,) = await rig.sent(rig.pager, 1)  # not a follow-up of inc_1: a new trigger
    assert ("trigger", "inc_2") == (second.action, second.alert_id.split(":")[0])
    await rig.sent(rig.slack, 1)
    await rig.publish(other.reject("inc_2", by="olga", why="too risky"))
    (no,) = await rig.sent(rig.pager, 1)
    assert (
        "resolved by olga: rejected cold: too risky; a human recovers the service"
        == no.fields["status"]
    )


async def test_after_a_crash_a_lost_page_is_raised_and_an_answered_one_resolved(
    rig: Rig,
) -> None:
    """A restart's catch-up: a waiting request whose page never committed gets it; an open
    page whose request is no longer waiting (answered while the resolve was cut off) is
    resolved; with nothing read (None) no approval page is touched."""
    service = rig.service
    assert service is not None
    answered = request(rig.gate, "inc_1")
    await rig.publish(answered)
    await rig.sent(rig.pager, 1)
    await rig.sent(rig.slack, 1)
    assert (0, 0) == await service.catch_up([], {}, approvals=None)
    lost = request(ApprovalGate(rig.clock, timeout_s=300.0, emit=lambda e: None), "inc_2")
    assert (1, 1) == await service.catch_up([], {}, approvals=[lost])
    sent = await rig.sent(rig.pager, 2)
    assert {("trigger", "inc_2"), ("resolve", "inc_1")} == {
        (n.action, n.alert_id.split(":")[0]) for n in sent
    }
    assert (0, 0) == await service.catch_up([], {}, approvals=[lost])  # its row exists now


def test_approvers_are_checked_against_the_contacts(tmp_path: Path) -> None:
    """Written by the user, an approver must be a known contact (and channel), located at
    its line; left at the default, those the contacts lack are dropped."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("recovery:\n  approval:\n    approvers: [oncall, nobody, 'team-lead:fax']\n")
    with pytest.raises(InvalidConfig) as caught:
        load_config(bad)
    assert [
        (
            ("recovery", "approval", "approvers", 1),
            3,
            "unknown contact 'nobody'; contacts are backup-oncall, ceo, compliance, cto,"
            " engineering-manager, jira, log, oncall, risk-manager, team, team-lead,"
            " weekly-summary",
        ),
        (
            ("recovery", "approval", "approvers", 2),
            3,
            "contact 'team-lead' has no channel 'fax' (its channels: phone, slack)",
        ),
    ] == [(i.loc, i.line, i.message) for i in caught.value.issues]
    default = tmp_path / "default.yaml"
    default.write_text("alerting: {}\n")
    assert ["oncall", "team-lead"] == load_config(default).recovery.approval.approvers
    replaced = tmp_path / "replaced.yaml"
    replaced.write_text(
        "alerting:\n  replace_defaults: [contacts]\n"
        "  contacts: {oncall: {channels: [log]}}\n"
        "  routes: {receivers: [oncall]}\n"
    )
    assert ["oncall"] == load_config(replaced).recovery.approval.approvers


def test_config_check_warns_when_no_approver_is_on_a_configured_channel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A service with a recovery plan, a pager configured, but the approvers (here only the
    team lead, on phone and slack, neither configured) reach only the log: a warning at
    recovery.approval.approvers. With the on-call among them (pagerduty configured), none."""
    from paramedic.alerting.reach import review

    monkeypatch.setenv("HOOK_SECRET", "hook-secret-0123456789")
    body = """
channels:
  pagerduty: {webhook: {url: "http://127.0.0.1:9/hook", secret_env: HOOK_SECRET}}
recovery:
  approval: {approvers: [%s]}
services:
  engine:
    process: {argv: [/bin/true]}
    recovery: {methods: {cold: {steps: [{name: Restart, restart_process: {}, timeout: 10s}]}}}
"""
    path = tmp_path / "p.yaml"
    path.write_text(body % "team-lead")
    warnings: list[Any] = []
    load_config(path, warnings=warnings, review=review)
    assert [
        (
            ("recovery", "approval", "approvers"),
            "an approval request would page no one: the approvers (team-lead) are reached on"
            " phone, slack, and none of that is a configured channel other than the log",
        )
    ] == [(w.loc, w.message) for w in warnings if w.loc[0] == "recovery"]
    path.write_text(body % "team-lead, oncall")
    warnings.clear()
    load_config(path, warnings=warnings, review=review)
    assert [] == [w for w in warnings if w.loc[0] == "recovery"]
