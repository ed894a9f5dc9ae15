"""A plain install of paramedic is the client alone: no dependency, and it heartbeats.

The wheel is built from this tree and installed into a fresh virtual environment with no
package index and no pip configuration (this machine's find-links included): had the
project declared any dependency outside the `server` extra, the install itself would fail.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from paramedic.cli.launch import INSTALL_HINT
from paramedic.wire import Heartbeat, KeyRing, decode
from tests.conftest import REPO

pytestmark = pytest.mark.integration

KEY = b"client-install-key-0123456789abc"

SENDER = """
import importlib.util, sys, time
from paramedic.client import HeartbeatSender
absent = [m for m in ("fastapi", "uvicorn", "aiohttp", "apprise", "pydantic")
          if importlib.util.find_spec(m) is not None]
assert not absent, absent
with HeartbeatSender("127.0.0.1", int(sys.argv[1]), "engine", sys.argv[2].encode(),
                     interval=0.05) as sender:
    sender.beat()
    time.sleep(0.2)
"""


def _offline_pip_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    return {**env, "PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def _run(argv: list[str | Path], env: dict[str, str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
    assert 0 == done.returncode, f"{argv}:\n{done.stdout}\n{done.stderr}"


def test_plain_install_has_no_dependencies_and_sends_heartbeats(tmp_path: Path) -> None:
    """Build the wheel, install it with no index into a bare venv, send heartbeats from it:
    they decode here; the server's packages are absent there; `paramedic` names the extra."""
    env = _offline_pip_env()
    tree = tmp_path / "tree"  # a copy, so the build leaves nothing in the repository
    shutil.copytree(
        REPO / "src", tree / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, tree / name)
    wheels = tmp_path / "wheels"
    _run(
        [
            *(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-index"),
            *("--no-build-isolation", "--wheel-dir", wheels, tree),
        ],
        env,
    )
    (wheel,) = wheels.glob("paramedic-*.whl")
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], env)
    python = venv / "bin" / "python"
    # No --no-deps: the install must succeed with nothing but the wheel at hand.
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            python,
            "install",
            "--quiet",
            "--no-index",
            wheel,
        ],
        env,
    )

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.0.1", 0))
        sink.settimeout(10)
        port = sink.getsockname()[1]
        _run([python, "-c", SENDER, str(port), KEY.decode()], env)
        beat = decode(sink.recv(2048), KeyRing({"engine": {0: KEY}}), now_ns=time.time_ns())
    assert isinstance(beat, Heartbeat)
    assert ("engine", 0) == (beat.service, beat.seq)

    cli = subprocess.run([venv / "bin" / "paramedic", "version"], capture_output=True, text=True)
    assert 1 == cli.returncode
    assert 1 == len(cli.stderr.splitlines()), cli.stderr
    assert INSTALL_HINT in cli.stderr
