"""The operator's CLI against a real `paramedic run`: a real crash pages the receiver, `ack` by
prefix with `--for` holds it, a refused decision (409) is in the audit trail with its reason;
and `run` says at start what `config check` warns about."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from paramedic.alerting.channels.loopback import LoopbackReceiver
from tests.conftest import free_port
from tests.integration.runner import RunningParamedic, run_cli

pytestmark = pytest.mark.integration

TOKENS = {"OPS_T": "operator-token-0123456789", "HOOK_SECRET": "hook-secret-0123456789"}
ENGINE = f"""
services:
  engine:
    tier: 1
    process:
      argv: [{sys.executable!r}, "-c", "import signal; signal.pause()"]
      restart: {{policy: never}}
"""


def write_config(tmp_path: Path, channels: str) -> Path:
    path = tmp_path / "paramedic.yaml"
    path.write_text(
        f"""
api:
  listen: 127.0.0.1:{free_port()}
  tokens: [{{name: olga, role: operator, token_env: OPS_T}}]
store: {{path: var/p.db}}
{channels}
{ENGINE}
"""
    )
    return path


async def cli(url: str, *args: str) -> tuple[int, str, str]:
    """`python -m paramedic.cli ARGS` as a user runs it (token from the environment)."""
    return await run_cli(url, *args, token=TOKENS["OPS_T"], columns=200)


async def test_ack_for_by_prefix_and_a_refused_decision_through_the_real_cli(
    tmp_path: Path,
) -> None:
    """kill -9 the engine: the receiver gets the P0. `paramedic ack PREFIX --for 30m` holds
    that alert until 30 min from now; `paramedic approve` of its incident (no plan) is a 409
    the CLI prints (exit 2); `paramedic audit --json` shows both, the refusal with its reason."""
    async with LoopbackReceiver() as hook:
        webhook = f'{{url: "{hook.url}/hook", secret_env: HOOK_SECRET}}'
        config = write_config(tmp_path, f"channels:\n  pagerduty: {{webhook: {webhook}}}")
        p = RunningParamedic(config, env=TOKENS)
        try:
            url = await asyncio.to_thread(p.wait_started)
            pids: list[int] = []
            while not pids:
                pids = await asyncio.to_thread(p.child_pids)
                await asyncio.sleep(0.05)
            os.kill(pids[0], signal.SIGKILL)
            page = (await asyncio.wait_for(hook.next_request(), 15)).json()
            code, out, err = await cli(url, "alerts", "--json")
            assert 0 == code, err
            [alert] = [a for a in json.loads(out)["alerts"] if a["state"] == "firing"]
            assert "P0" == alert["severity"], page
            incident = alert["id"].split(":")[0]

            asked = time.time()
            code, out, err = await cli(url, "ack", alert["id"][:12], "-r", "on it", "--for", "30m")
            assert 0 == code, err
            said, until = out.strip().rsplit(" until ", 1)
            assert f"acknowledged {alert['id']}" == said
            assert 1800 == pytest.approx(datetime.fromisoformat(until).timestamp() - asked, abs=30)

            code, out, err = await cli(url, "approve", incident, "-r", "go ahead")
            assert (2, "") == (code, out)
            refusal = f"incident {incident}: engine has no recovery plan, nothing to approve"
            assert f"paramedic: 409: {refusal}\n" == err

            code, out, err = await cli(url, "audit", "--json")
            assert 0 == code, err
            entries = [
                (e["who"], e["action"], e["target"], e["reason"], e["outcome"])
                for e in json.loads(out)["entries"]
            ]
            assert [
                ("olga", "approve", incident, "go ahead", f"409: {refusal}"),
                ("olga", "acknowledge", alert["id"], "on it", "200"),
            ] == entries
            p.signal(signal.SIGTERM)
            assert 0 == await asyncio.to_thread(p.wait, 15)
        finally:
            await asyncio.to_thread(p.ensure_dead)


def test_run_logs_what_config_check_warns_about(tmp_path: Path) -> None:
    """No channel but the log: `config check` warns that a crash of the tier-1 engine pages
    no one, and `paramedic run` of the same file says so once started (it used to be silent)."""
    config = write_config(tmp_path, "")
    checked = subprocess.run(
        [sys.executable, "-m", "paramedic.cli", "config", "check", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={**os.environ, **TOKENS},
    )
    assert (0, "ok (1 warning(s))\n") == (checked.returncode, checked.stdout), checked.stderr
    warned = "no channel other than the log is configured"
    assert warned in checked.stderr
    p = RunningParamedic(config, env=TOKENS)
    try:
        p.wait_started()
        deadline = time.monotonic() + 10
        while not any(warned in line for line in p.output) and time.monotonic() < deadline:
            time.sleep(0.05)
        [line] = [line for line in p.output if warned in line]
        assert "config warning" in line
        assert "a crash of engine pages no one" in line
        p.signal(signal.SIGTERM)
        assert 0 == p.wait(timeout=15)
    finally:
        p.ensure_dead()


async def test_a_decision_the_full_store_cannot_record_is_an_error_in_the_cli(
    tmp_path: Path,
) -> None:
    """The store's disk is full (paramedic degraded, as in the store-trouble torture):
    `paramedic approve` of a whole incident id gets the API's 503 and exits 2 with its
    sentence; it used to print `approved ...` and exit 0, though nothing was done."""
    from tests.torture import test_store_trouble as trouble

    with trouble.tmpfs(tmp_path / "store", "2m") as store:
        async with LoopbackReceiver() as hook, LoopbackReceiver() as switch:
            config = trouble.write_config(tmp_path, store, hook.url, switch.url)
            p = RunningParamedic(config, env=trouble.ENV)
            try:
                url = await asyncio.to_thread(p.wait_started)
                await trouble.degrade_and_kill(
                    p, tmp_path, hook, switch, lambda: trouble.fill(store)
                )
                env = {**os.environ, "PARAMEDIC_URL": url, "PARAMEDIC_TOKEN": trouble.TOKEN}
                whole = "inc_01kzzzzzzzzzzzzzzzzzzzzzza"
                answered = await asyncio.to_thread(
                    subprocess.run,
                    [sys.executable, "-m", "paramedic.cli", "approve", whole, "-r", "go"],
                    capture_output=True,
                    text=True,
                    timeout=30,
                    env=env,
                    check=False,
                )
                said = "paramedic: 503: cannot record the audit trail; nothing was done\n"
                assert (2, "", said) == (answered.returncode, answered.stdout, answered.stderr)
                p.signal(signal.SIGTERM)
                await asyncio.to_thread(p.wait, 20)
            finally:
                p.ensure_dead()
