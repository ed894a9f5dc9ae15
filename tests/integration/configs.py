"""YAML pieces the integration tests share: one `engine` with a recovery plan."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.conftest import REPO, free_port, free_udp_port

# A child that says "engine up" on its output (kept in its log file), then waits to be killed.
SLEEPER = f'[{sys.executable!r}, "-u", "-c", "print(\'engine up\'); import signal; signal.pause()"]'
# Every decision but manual needs no approval.
NO_APPROVAL = "  approval: {require: {market_open: [manual], market_closed: [manual]}}\n"
# The plain cold restart: restart the process, wait until it is healthy again.
COLD_RESTART = """\
            - {name: Restart engine, restart_process: {}, timeout: 10s}
            - {name: Wait until healthy, wait_healthy: {}, timeout: 10s}
"""


def engine_plan(
    steps: str = COLD_RESTART, *, recovery: str = NO_APPROVAL, argv: str = SLEEPER, plan: str = ""
) -> str:
    """`recovery:` (its body: `recovery`) and one service, `engine` (`argv`, up after one
    50 ms check), whose plan has one method, cold, of `steps`, then `plan` (validation,
    resumption...)."""
    return f"""
recovery:
{recovery}services:
  engine:
    process: {{argv: {argv}}}
    health: {{up_after: 1, evaluate_every: 50ms}}
    recovery:
      methods:
        cold:
          steps:
{steps}{plan}"""


def tier1_engine(extra: str = "") -> str:
    """`services:` with one tier-1 `engine` that is never restarted (its crash stays a
    firing P0), then `extra` (more keys of the engine, indented four spaces)."""
    return f"""
services:
  engine:
    tier: 1
    process:
      argv: {SLEEPER}
      restart: {{policy: never}}
{extra}"""


def demo_copy(tmp_path: Path) -> tuple[Path, int]:
    """examples/demo.yaml (the single-engine demo) on free ports, with its files referenced
    where they are."""
    examples = REPO / "examples"
    engine_port, udp = free_port(), free_udp_port()
    text = (examples / "demo.yaml").read_text()
    text = text.replace("8081", str(engine_port)).replace("9999", str(udp))
    text = text.replace("engine.py", str(examples / "engine.py"))
    text = text.replace("demo-secrets/", f"{examples}/demo-secrets/")
    text = text.replace("../var", str(tmp_path / "var"))
    path = tmp_path / "demo.yaml"
    path.write_text(text)
    return path, engine_port


def probed_engine(port: int, *, tier: int) -> str:
    """`services.engine` running examples/engine.py on `port`, ready-probed every 100 ms (a
    failure seen in 200 ms) and up after one check, as the recovery e2e tests supervise it;
    its `recovery:` and other keys follow, indented four spaces."""
    engine = str(REPO / "examples" / "engine.py")
    return f"""  engine:
    tier: {tier}
    process:
      argv: [{sys.executable!r}, {engine!r}, --port, "{port}"]
      stop_timeout: 1s
    probes:
      - {{name: ready, role: readiness, http: {{url: "http://127.0.0.1:{port}/health"}},
          period: 100ms, timeout: 80ms, failure_threshold: 2}}
    health: {{up_after: 1, evaluate_every: 50ms}}
"""
