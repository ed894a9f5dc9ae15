"""A real core dump of a real sleeping child, when gcore is installed."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from paramedic.config.recovery_plan import PreserveConfig
from paramedic.recovery.preserve import preserve_state

pytestmark = pytest.mark.integration


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield proc
    proc.kill()
    proc.wait()


@pytest.mark.skipif(shutil.which("gcore") is None, reason="gcore (gdb) is not installed")
async def test_gcore_dumps_a_sleeping_child(
    sleeper: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    """gcore writes core.<pid> into the snapshot; the process is left running, not stopped."""
    cfg = PreserveConfig.model_validate({"snapshot_dir": str(tmp_path), "gcore": True})
    snap = await preserve_state(
        cfg, service="engine", incident_id="inc_x1y2z3", wall=1_767_225_600.0, pid=sleeper.pid
    )
    if snap.core is None and "ptrace" in snap.core_note:
        pytest.skip(f"this sandbox forbids ptrace: {snap.core_note}")
    core = snap.folder / f"core.{sleeper.pid}"
    assert f"core.{sleeper.pid}" == snap.core
    assert core.stat().st_size > 0
    assert f"core.{sleeper.pid}" == json.loads((snap.folder / "manifest.json").read_text())["core"]
    assert None is sleeper.poll()
