"""`paramedic top --once` and ids by prefix against a real `paramedic run` supervising two
real example engines, killed with SIGKILL: the overview at each stage of an incident, ids
printed whole at 80 columns, an ambiguous prefix refused with the candidates listed."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, free_port
from tests.integration.runner import OPERATOR_TOKEN, RunningParamedic, config_file, wait_until

pytestmark = pytest.mark.integration

ENGINE = REPO / "examples" / "engine.py"


def _settle(release: Path) -> str:
    """The argv of a step that lasts until the test creates `release` (it shows the step
    mid-recovery first: an event, not a guess at how long the CLI takes on a loaded machine)."""
    code = f"import os, time\nwhile not os.path.exists({str(release)!r}): time.sleep(0.05)"
    return json.dumps([sys.executable, "-c", code])  # JSON is YAML


def _service(name: str, release: Path) -> str:
    port = free_port()
    return f"""
  {name}:
    tier: 1
    process:
      argv: [{sys.executable!r}, {str(ENGINE)!r}, --port, "{port}"]
      stop_timeout: 1s
    probes:
      - {{name: ready, role: readiness, http: {{url: "http://127.0.0.1:{port}/health"}},
          period: 100ms, timeout: 80ms, failure_threshold: 2}}
    health: {{up_after: 1, evaluate_every: 50ms}}
    recovery:
      methods:
        cold:
          steps:
            - {{name: Restart engine, restart_process: {{}}, timeout: 10s, expected: 500ms}}
            - {{name: Settle, command: {{argv: {_settle(release)}}}, timeout: 30s, expected: 8s}}
            - {{name: Wait until healthy, wait_healthy: {{}}, timeout: 10s, expected: 1s}}
"""


def _config(tmp_path: Path) -> Path:
    release = tmp_path / "settled"
    body = f"""
recovery:
  approval:
    timeout: 10m
    require: {{market_open: [cold, manual], market_closed: [cold, manual]}}
services:{_service("engine", release)}{_service("gateway", release)}"""
    return config_file(tmp_path, body)


def _cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m paramedic.cli ARGS` as a user runs it, in an 80-column terminal."""
    env = {
        **os.environ,
        "PARAMEDIC_URL": url,
        "PARAMEDIC_TOKEN": OPERATOR_TOKEN,
        "COLUMNS": "80",
    }
    return subprocess.run(
        [sys.executable, "-m", "paramedic.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _unique_prefix(one: str, other: str) -> str:
    """The shortest prefix of `one` that `other` does not start with."""
    n = next(i for i, (a, b) in enumerate(zip(one, other, strict=False)) if a != b)
    return one[: n + 1]


def _line_with(text: str, needle: str) -> str:
    return next(line for line in text.splitlines() if needle in line)


def test_top_once_and_ids_by_prefix_through_an_incident(tmp_path: Path) -> None:
    """Both engines up: `top --once` shows each healthy, paramedic healthy, nothing open.
    SIGKILL both: `top` shows both awaiting approval with both incidents' and alerts' ids
    whole, each on one line, at 80 columns, and /metrics no longer has their last /health
    readings. `approve inc_` and `ack inc_` are ambiguous:
    exit 2, every candidate listed, nothing approved. A unique prefix acknowledges gateway's
    alert and rejects its incident (named in full); approving engine's by prefix runs its
    recovery, and `top` mid-recovery shows it recovering with its step, progress and ETA.
    `audit` and, once recovered, `history` print those ids whole too."""
    p = RunningParamedic(_config(tmp_path), env={"OPS_TOKEN": OPERATOR_TOKEN})
    try:
        url = p.wait_started()

        def both_up() -> bool:
            text = p.get("/metrics").text
            return all(
                f'paramedic_service_up{{service="{s}"}} 1.0' in text for s in ("engine", "gateway")
            )

        wait_until("both engines up", both_up)
        calm = _cli(url, "top", "--once")
        assert 0 == calm.returncode, calm.stderr
        assert "healthy" in _line_with(calm.stdout, "│ engine")
        assert "healthy" in _line_with(calm.stdout, "│ gateway")
        assert "paramedic: healthy" in calm.stdout
        assert "open incidents: none" in calm.stdout

        for pid in p.child_pids():
            os.kill(pid, signal.SIGKILL)

        def awaiting() -> dict[str, str]:
            incidents = p.get("/api/incidents").json()["incidents"]
            found = {i["service"]: i["id"] for i in incidents if i["state"] == "AWAITING_APPROVAL"}
            return found if len(found) == 2 else {}

        ids = wait_until("both incidents awaiting approval", awaiting)
        # Dead and not restarted before approval: no key metric of theirs is left on /metrics.
        assert "paramedic_service_health_metric{" not in p.get("/metrics").text

        def failure_alerts() -> list[str]:
            listed = p.get("/api/alerts?state=firing").json()["alerts"]
            found = [a["id"] for a in listed if a["id"].endswith(":failure")]
            return found if len(found) == 2 else []

        alerts = wait_until("both failure alerts firing", failure_alerts)
        screen = _cli(url, "top", "--once")
        assert 0 == screen.returncode, screen.stderr
        assert "awaiting approval" in _line_with(screen.stdout, "│ engine")
        assert "awaiting approval" in _line_with(screen.stdout, "│ gateway")
        for whole in (*ids.values(), *alerts):
            assert whole in screen.stdout  # whole, on one line
        firing = len(p.get("/api/alerts?state=firing").json()["alerts"])
        assert f"unacknowledged alerts {firing}" in " ".join(screen.stdout.split())

        ambiguous = _cli(url, "approve", "inc_", "-r", "go")
        assert 2 == ambiguous.returncode
        assert "give more of the id" in ambiguous.stderr
        assert all(whole in ambiguous.stderr for whole in ids.values())
        ambiguous_ack = _cli(url, "ack", "inc_", "-r", "mine")  # 4 open: 2 failures, 2 asks
        assert 2 == ambiguous_ack.returncode
        assert all(whole in ambiguous_ack.stderr for whole in alerts)
        assert ids == awaiting()  # nothing was approved

        gateway_alert = next(a for a in alerts if a.startswith(ids["gateway"]))
        # its incident's id is shared with its approval request's alert: up to ":fail"
        acked = _cli(url, "ack", gateway_alert[:-3], "-r", "mine")
        assert 0 == acked.returncode, acked.stderr
        assert f"acknowledged {gateway_alert}" in acked.stdout
        rejected = _cli(url, "reject", _unique_prefix(ids["gateway"], ids["engine"]), "-r", "no")
        assert 0 == rejected.returncode, rejected.stderr
        assert f"rejected {ids['gateway']}" == rejected.stdout.strip()
        approved = _cli(url, "approve", _unique_prefix(ids["engine"], ids["gateway"]), "-r", "go")
        assert 0 == approved.returncode, approved.stderr
        assert f"approved {ids['engine']}" == approved.stdout.strip()

        wait_until(
            "engine's Settle step",
            lambda: p.get("/recovery/status?service=engine").json()["current_step"] == "Settle",
        )
        busy = _cli(url, "top", "--once")
        assert 0 == busy.returncode, busy.stderr
        row = _line_with(busy.stdout, "│ engine")
        assert "recovering" in row
        assert "Settle" in row
        assert "%" in row
        assert " in " in row  # the ETA
        assert "manual" in _line_with(busy.stdout, "│ gateway")

        audit = _cli(url, "audit")  # 80 columns: the targets the reader may type, whole
        assert 0 == audit.returncode, audit.stderr
        for whole in (ids["engine"], ids["gateway"], gateway_alert):
            assert whole in audit.stdout
        (tmp_path / "settled").touch()  # the Settle step ends
        wait_until(
            "engine recovered",
            lambda: p.get("/recovery/status?service=engine").json()["state"] == "RECOVERED",
            within=30,
        )
        history = _cli(url, "history")
        assert 0 == history.returncode, history.stderr
        assert ids["engine"] in history.stdout
    finally:
        p.ensure_dead()


def _read_until(fd: int, needle: str, within: float = 20.0) -> str:
    """What the terminal got until `needle` appears (another process: a bounded poll)."""
    seen = ""
    deadline = time.monotonic() + within
    while needle not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"no {needle!r} within {within} s; the terminal showed:\n{seen[-2000:]}"
        if select.select([fd], [], [], min(left, 0.5))[0]:
            seen += os.read(fd, 65536).decode(errors="replace")
    return seen


def test_top_live_refreshes_in_a_terminal_and_ctrl_c_exits_cleanly(tmp_path: Path) -> None:
    """`paramedic top` in a terminal (a pty) draws the engines' rows, draws them again on
    the next refresh, and Ctrl-C (SIGINT) ends it with exit 0."""
    p = RunningParamedic(_config(tmp_path), env={"OPS_TOKEN": OPERATOR_TOKEN})
    master, slave = pty.openpty()
    try:
        url = p.wait_started()
        top = subprocess.Popen(
            [sys.executable, "-m", "paramedic.cli", "top", "--url", url, "--interval", "0.2"],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env={**os.environ, "COLUMNS": "100", "LINES": "60", "TERM": "xterm"},
            start_new_session=True,
        )
        try:
            first = _read_until(master, "gateway")
            assert "engine" in first
            again = _read_until(master, "paramedic top")  # the next frame is drawn
            assert again
            top.send_signal(signal.SIGINT)
            assert 0 == top.wait(timeout=15)
        finally:
            if top.poll() is None:
                top.kill()
                top.wait()
    finally:
        os.close(master)
        os.close(slave)
        p.ensure_dead()


def test_top_once_says_when_paramedic_is_unreachable() -> None:
    """Nothing listens at the URL: one sentence naming it and the fix, exit 2."""
    url = f"http://127.0.0.1:{free_port()}"
    answer = _cli(url, "top", "--once")
    assert 2 == answer.returncode
    assert f"cannot reach {url}" in answer.stderr
    assert "is `paramedic run` up?" in answer.stderr


def test_top_live_says_it_is_retrying_while_paramedic_is_unreachable() -> None:
    """Nothing listens at the URL: the live view says it cannot reach it and is retrying
    (it does not exit), and Ctrl-C ends it with exit 0."""
    url = f"http://127.0.0.1:{free_port()}"
    master, slave = pty.openpty()
    top = subprocess.Popen(
        [sys.executable, "-m", "paramedic.cli", "top", "--url", url, "--interval", "0.2"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env={**os.environ, "COLUMNS": "120", "TERM": "xterm"},
        start_new_session=True,
    )
    try:
        shown = _read_until(master, "retrying every 0.2 s")
        assert f"cannot reach {url}" in shown
        assert top.poll() is None
        top.send_signal(signal.SIGINT)
        assert 0 == top.wait(timeout=15)
    finally:
        if top.poll() is None:
            top.kill()
            top.wait()
        os.close(master)
        os.close(slave)
