"""The operator's surface end to end: a real crash under an API silence is held (the reason
names the silence), nothing reaches the receiver, `paramedic silence expire` pages it; the
CLI prints ids in full at 80 columns, takes unique prefixes, and answers `--json`."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from paramedic.alerting.channels.loopback import LoopbackReceiver
from tests.integration.configs import tier1_engine
from tests.integration.harness import running_paramedic
from tests.integration.runner import run_cli

pytestmark = pytest.mark.integration

TOKENS = {"OPS_T": "operator-token-0123456789", "HOOK_SECRET": "hook-secret-0123456789"}


UP_AT_ONCE = "    health: {up_after: 1, evaluate_every: 50ms}\n"


def config(hook: str) -> str:
    return f"""
  tokens:
    - {{name: olga, role: operator, token_env: OPS_T}}
channels:
  pagerduty: {{webhook: {{url: "{hook}/hook", secret_env: HOOK_SECRET}}}}
{tier1_engine(UP_AT_ONCE)}"""


async def cli(url: str, *args: str, columns: int = 80) -> tuple[int, str, str]:
    """`python -m paramedic.cli ARGS` as a user runs it (token from the environment)."""
    return await run_cli(url, *args, token=TOKENS["OPS_T"], columns=columns)


async def test_a_crash_under_a_silence_is_held_then_paged_when_the_silence_expires(
    tmp_path: Path,
) -> None:
    """silence add (CLI) -> kill -9 the engine -> alert held naming the silence, the receiver
    untouched -> silence expire by prefix (CLI) -> the receiver gets the P0 trigger."""
    async with (
        LoopbackReceiver() as hook,
        running_paramedic(tmp_path, config(hook.url), env=TOKENS) as (p, timeline),
    ):
        host, port = p.parts.api.address
        url = f"http://{host}:{port}"
        await timeline.wait_for("service.up")
        for args, words in [
            (
                ("service=engine", "-c", "x"),
                "ends: give exactly one of ends, duration, until_resolved",
            ),
            (
                ("service", "--for", "1h", "-c", "x"),
                "matchers: Value error, 'service' is not a matcher",
            ),
            (
                ("service=engine", "--for", "1h", "--until-resolved", "-c", "x"),
                "until_resolved: give",
            ),
            (("service=engine", "--for", "31d", "-c", "x"), "duration: at most 30 d after starts"),
            (
                ("service=engine", "--until", "2020-01-01T00:00:00", "-c", "x"),
                "ends: Value error, give a time zone",
            ),
            (
                ("service=engine", "--until", "2020-01-01T00:00:00Z", "-c", "x"),
                "ends: must be later than now",
            ),
        ]:
            code, out, err = await cli(url, "silence", "add", *args)
            assert (2, "") == (code, out), args
            assert words in err, (args, err)
        code, out, err = await cli(url, "silence", "list", "--all", "--json")
        assert {"silences": []} == json.loads(out)
        code, out, err = await cli(
            url, "silence", "add", "service=engine", "--for", "1h", "-c", "rebuilding"
        )
        assert 0 == code, err
        silence_id = out.split()[1]
        assert silence_id.startswith("sil_")
        pid = p.parts.processes["engine"].pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        raised = await timeline.wait_for("alert.raised")
        held = await timeline.wait_for("alert.held")
        assert f"silenced by silence {silence_id} (olga: rebuilding)" == held.reason  # type: ignore[attr-defined]
        assert [] == hook.requests
        code, out, err = await cli(url, "silence", "expire", silence_id[:12])
        assert (0, f"silence {silence_id} expired\n") == (code, out), err
        released = await timeline.wait_for("alert.released")
        assert raised.alert_id == released.alert_id  # type: ignore[attr-defined]
        trigger = (await asyncio.wait_for(hook.next_request(), 10)).json()
        assert ("trigger", "P0") == (trigger["action"], trigger["severity"])
        code, out, _ = await cli(url, "silence", "list", "--all", "--json")
        [listed] = json.loads(out)["silences"]
        assert ("expired", "olga") == (listed["state"], listed["expired_by"])
        code, out, _ = await cli(url, "audit", "--json")
        entries = [(e["who"], e["action"], e["outcome"][:3]) for e in json.loads(out)["entries"]]
        # newest first: the expiry, the add, then the six refused adds (bad input is audited
        # too, with its 422 and the field it named)
        invalid = [("olga", "add_silence", "422")] * 6
        assert [
            ("olga", "expire_silence", "200"),
            ("olga", "add_silence", "201"),
            *invalid,
        ] == entries


async def test_alerts_prints_whole_ids_at_80_columns_and_ack_takes_a_unique_prefix(
    tmp_path: Path,
) -> None:
    """Two open alerts with long ids sharing a prefix: `paramedic alerts` at 80 columns shows
    each id whole on one line; `ack` with the shared prefix lists both and changes nothing;
    with a unique prefix and `--for 30m` it acknowledges that one until 30 min from now."""
    async with (
        LoopbackReceiver() as hook,
        running_paramedic(tmp_path, config(hook.url), env=TOKENS) as (p, _timeline),
    ):
        assert p.parts.alerting is not None
        host, port = p.parts.api.address
        url = f"http://{host}:{port}"
        ids = [f"inc_01kzzzzzzzzzzzzzzzzzzzzzz{n}:failure-of-a-long-named-service" for n in "ab"]
        for aid in ids:
            await p.parts.alerting.raise_alert(_alert(aid))
        code, out, err = await cli(url, "alerts")
        assert 0 == code, err
        assert max(len(line) for line in out.splitlines()) <= 80, out
        for aid in ids:
            assert any(aid in line for line in out.splitlines()), out
        code, out, err = await cli(url, "ack", ids[0][:20], "-r", "mine")
        assert 2 == code
        assert "matches 2 open alerts" in err
        assert all(aid in err for aid in ids)
        assert {"firing"} == {a.state for a in p.parts.alerting.alerts.values()}
        unique = ids[1][: ids[1].index("b:") + 1]
        code, out, err = await cli(url, "ack", unique, "-r", "mine", "--for", "30m")
        assert 0 == code, err
        assert out.startswith(f"acknowledged {ids[1]} until ")
        assert "acknowledged" == p.parts.alerting.alerts[ids[1]].state
        code, out, err = await cli(url, "ack", ids[0], "-r", "x", "--for", "2d")
        assert 2 == code
        assert "for: " in err
        assert "1 d" in err
        code, out, _ = await cli(url, "alerts", "--json")
        assert set(ids) == {a["id"] for a in json.loads(out)["alerts"]}
        for command in (["status"], ["history"], ["silence", "list"]):
            code, out, err = await cli(url, *command, "--json")
            assert isinstance(json.loads(out), dict), (command, err)


def _alert(aid: str) -> Any:
    from paramedic.alerting.model import Alert

    return Alert(
        id=aid,
        type="degradation",
        source="engine",
        severity="P1",
        title="engine slow",
        labels={"service": "engine", "kind": "degradation"},
    )
