"""The start-up phases: in order, stopped in reverse, and a failed one named and undone."""

from __future__ import annotations

from pathlib import Path

import pytest

from paramedic.config import parse_config
from paramedic.runtime.app import Paramedic, Phase, StartFailed
from paramedic.runtime.build import build


def _paramedic(tmp_path: Path) -> Paramedic:
    config = parse_config("store: {path: p.db}\napi: {listen: 127.0.0.1:0}\n", base_dir=tmp_path)
    return Paramedic(build(config, base_dir=tmp_path))


def _phases(names: list[str], seen: list[str], fail: str = "") -> list[Phase]:
    def phase(name: str) -> Phase:
        async def start() -> None:
            seen.append(f"start {name}")
            if name == fail:
                raise RuntimeError("no luck")

        async def stop() -> None:
            seen.append(f"stop {name}")

        return Phase(name, start, stop)

    return [phase(n) for n in names]


async def test_phases_start_in_order_and_stop_in_reverse(tmp_path: Path) -> None:
    """Start runs every phase in its order; stop runs their stops backwards."""
    p = _paramedic(tmp_path)
    seen: list[str] = []
    p.phases = _phases(["a", "b", "c"], seen)
    await p.start()
    await p.stop("test over")
    expected = ["start a", "start b", "start c", "stop c", "stop b", "stop a"]
    assert expected == seen


async def test_a_phase_that_cannot_start_is_named_and_undone(tmp_path: Path) -> None:
    """The failed phase and those before it are stopped (backwards), none after it starts,
    and the error names the phase."""
    p = _paramedic(tmp_path)
    seen: list[str] = []
    p.phases = _phases(["a", "b", "c"], seen, fail="b")
    with pytest.raises(StartFailed) as raised:
        await p.start()
    assert ("b", "b: no luck") == (raised.value.phase, str(raised.value))
    assert ["start a", "start b", "stop b", "stop a"] == seen


async def test_the_real_phases_have_unique_names(tmp_path: Path) -> None:
    """Every phase's name is its own (it is what the log and the error show)."""
    names = [phase.name for phase in _paramedic(tmp_path).phases]
    assert len(names) == len(set(names))
    assert ["api socket", "store"] == names[:2]
    assert "ready" == names[-1]
