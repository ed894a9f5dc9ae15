"""`paramedic preflight` through a real `paramedic run` (issue 15, item 5).

The engine of the drill tests (tier 1, cold-restart plan), its pages on a loopback receiver,
a dashboard on another. Fresh, preflight fails on-call reach (no test page yet) and the
escalation paths (no drill yet), naming the fix; after a drill, `--send-test` passes every
item and the metric says so. With oncall's channel pointed at a dead port, `--send-test`
fails the alert routes and on-call reach with sentences naming the channel, exit code 1.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from paramedic.alerting.channels.loopback import LoopbackReceiver
from tests.conftest import free_port
from tests.integration.runner import started, until
from tests.integration.test_drill_real import drill, write_config
from tests.integration.test_resolve_recovered import ENV, cli, engines_ended, events

pytestmark = pytest.mark.integration


async def preflight(url: str, *args: str) -> tuple[int, dict[str, dict[str, Any]]]:
    """`paramedic preflight --json ARGS`: the exit code and the items by name."""
    code, out, err = await cli(url, "preflight", "--json", *args)
    assert code in (0, 1), err
    body = json.loads(out)
    assert body["ok"] == (code == 0)
    return code, {i["name"]: i for i in body["items"]}


def verdicts(items: dict[str, dict[str, Any]]) -> dict[str, bool]:
    return {name: item["ok"] for name, item in items.items()}


async def test_preflight_fails_what_is_unproven_then_passes_after_a_drill_and_a_test_page(
    tmp_path: Path,
) -> None:
    """Fresh: monitoring, alerts and dashboards pass; on_call and escalation fail naming
    oncall and engine (exit 1). After a crash drill, `preflight --send-test` pages oncall (a
    TEST page on the receiver) and passes all five (exit 0); `GET /api/preflight` and
    `paramedic_preflight_ok` say so for each item."""
    port = free_port()
    async with (
        LoopbackReceiver() as hook,
        LoopbackReceiver() as dash,
        engines_ended(tmp_path) as pids,
    ):
        config = write_config(tmp_path, hook.url, port, dashboard=dash.url + "/d/recovery")
        p = await started(config, ENV)
        try:
            await until("the engine up", lambda: events(p, "service.up"))
            code, items = await preflight(p.url)
            assert 1 == code
            expected = {
                "monitoring": True,
                "alerts": True,
                "dashboards": True,
                "on_call": False,
                "escalation": False,
            }
            assert expected == verdicts(items)
            assert "no test page delivered to oncall within 31 days" in items["on_call"]["sentence"]
            assert "no successful drill of engine within 90 days" in items["escalation"]["sentence"]
            assert "probe:live" in items["monitoring"]["sentence"]
            assert ["/d/recovery"] == [r.path for r in dash.requests]

            await drill(p.url, "crash")
            before = len(hook.requests)
            code, items = await preflight(p.url, "--send-test")
            assert 0 == code, items
            assert all(verdicts(items).values())
            tests = [r.json() for r in hook.requests[before:] if r.path == "/pagerduty"]
            assert any(
                "[TEST]" in t["title"] and t["labels"]["receiver"] == "oncall" for t in tests
            )

            assert {"ok": dict.fromkeys(expected, True)} == p.get("/api/preflight").json()
            scraped = text_string_to_metric_families(p.get("/metrics").text)
            [family] = [f for f in scraped if f.name == "paramedic_preflight_ok"]
            assert {s.labels["item"]: s.value for s in family.samples} == dict.fromkeys(
                expected, 1.0
            )
        finally:
            pids += p.child_pids()
            p.ensure_dead()


async def test_a_channel_on_a_dead_port_fails_preflight_with_a_sentence(tmp_path: Path) -> None:
    """oncall's pagerduty posts to a port nobody listens on: `preflight --send-test` exits 1;
    the alerts item names pagerduty and why its test page was not delivered (P0 and P1 still
    reach the team's slack); the on_call item names oncall; monitoring and dashboards pass."""
    port = free_port()
    dead = f"http://127.0.0.1:{free_port()}/pagerduty"
    async with (
        LoopbackReceiver() as hook,
        LoopbackReceiver() as dash,
        engines_ended(tmp_path) as pids,
    ):
        config = write_config(tmp_path, hook.url, port, pager=dead, dashboard=dash.url)
        p = await started(config, ENV)
        try:
            await until("the engine up", lambda: events(p, "service.up"))
            code, items = await preflight(p.url, "--send-test")
            assert 1 == code
            assert items["monitoring"]["ok"]
            assert items["dashboards"]["ok"]
            assert not items["alerts"]["ok"]
            sentence = items["alerts"]["sentence"]
            assert "channel pagerduty did not deliver its test page: " in sentence, sentence
            assert not items["on_call"]["ok"]
            assert "no test page delivered to oncall" in items["on_call"]["sentence"]
        finally:
            pids += p.child_pids()
            p.ensure_dead()
