"""Probe semantics on a FakeClock with scripted actions: thresholds, flips, gating, reset."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import pytest

from paramedic.checks import CheckResult, HealthReport
from paramedic.config.probes import HealthReading, ProbeConfig
from paramedic.detect.probes import ProbeRunner, ServiceProbes
from paramedic.detect.signals import Signal
from paramedic.process.identity import process_age
from paramedic.testing import FakeClock


async def pump(rounds: int = 10) -> None:
    """Let woken tasks run to their next await (no time passes, no real sleep)."""
    for _ in range(rounds):
        await asyncio.sleep(0)


async def step(clock: FakeClock, seconds: float) -> None:
    """Advance fake time, then let the probe loops that woke run their attempt."""
    clock.advance(seconds)
    await pump()


class Script:
    """A probe action that answers from a script; the last answer repeats; counts its calls."""

    def __init__(self, answers: Iterable[bool | Exception | CheckResult] = (True,)) -> None:
        self.answers = list(answers)
        self.calls = 0

    def set(self, *answers: bool | Exception | CheckResult) -> None:
        self.answers = list(answers)

    async def __call__(self) -> CheckResult:
        self.calls += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, CheckResult):
            return answer
        return CheckResult(answer, f"attempt {self.calls} {'ok' if answer else 'bad'}", 0.001)


def config(**fields: Any) -> ProbeConfig:
    base: dict[str, Any] = {
        "name": "health",
        "role": "liveness",
        "tcp": {"host": "127.0.0.1", "port": 1},
        "period": "500ms",
        "timeout": "200ms",
    }
    return ProbeConfig.model_validate({**base, **fields})


class Harness:
    def __init__(self) -> None:
        self.clock = FakeClock()
        self.signals: list[Signal] = []
        self.reports: list[tuple[str, HealthReport]] = []
        self.runners: list[ProbeRunner] = []
        self.services: list[ServiceProbes] = []

    def runner(self, script: Script, **fields: Any) -> ProbeRunner:
        runner = ProbeRunner(
            "engine",
            config(**fields),
            self.clock,
            self.signals.append,
            None,
            lambda svc, rep: self.reports.append((svc, rep)),
            action=script,
        )
        self.runners.append(runner)
        return runner

    def service(self, probes: list[dict[str, Any]], actions: dict[str, Script]) -> ServiceProbes:
        svc = ServiceProbes(
            "engine",
            [config(**p) for p in probes],
            self.clock,
            self.signals.append,
            None,
            actions=actions,
        )
        self.services.append(svc)
        return svc

    def verdicts(self) -> list[tuple[str, bool, str | None]]:
        return [(s.source, s.ok, s.kind) for s in self.signals]


@pytest.fixture
async def h() -> AsyncIterator[Harness]:
    harness = Harness()
    yield harness
    for runner in harness.runners:
        await runner.stop()
    for svc in harness.services:
        await svc.stop()


async def test_failure_threshold_flips_once_then_success_flips_back(h: Harness) -> None:
    """3 consecutive failures make one hang signal; one success makes one ok signal."""
    script = Script([True])
    runner = h.runner(script, failure_threshold=3)
    runner.start()
    await pump()
    assert [("probe:health", True, None)] == h.verdicts()

    script.set(False)
    await step(h.clock, 0.5)
    await step(h.clock, 0.5)
    assert 1 == len(h.signals), "two failures are below the threshold"
    await step(h.clock, 0.5)
    await step(h.clock, 0.5)
    await step(h.clock, 0.5)

    assert [("probe:health", True, None), ("probe:health", False, "hang")] == h.verdicts()
    assert "liveness probe health failed 3 times in a row: attempt 4 bad" == h.signals[1].reason
    assert h.clock.monotonic() - 1.0 == h.signals[1].at
    assert runner.passing is False

    script.set(True)
    await step(h.clock, 0.5)
    assert ("probe:health", True, None) == h.verdicts()[-1]
    assert 3 == len(h.signals)


async def test_interrupted_failures_do_not_flip(h: Harness) -> None:
    """Failures must be consecutive: bad, bad, ok, bad, bad never reaches a threshold of 3."""
    script = Script([False, False, True, False, False, True])
    h.runner(script, failure_threshold=3).start()
    await pump()
    for _ in range(5):
        await step(h.clock, 0.5)

    assert 6 == script.calls
    assert [("probe:health", True, None)] == h.verdicts()


async def test_readiness_success_threshold(h: Harness) -> None:
    """Readiness needs success_threshold consecutive successes; its failure is degradation."""
    script = Script([False])
    runner = h.runner(script, role="readiness", success_threshold=2, failure_threshold=1)
    runner.start()
    await pump()
    assert [("probe:health", False, "degradation")] == h.verdicts()

    script.set(True, False, True, True)
    await step(h.clock, 0.5)
    await step(h.clock, 0.5)
    await step(h.clock, 0.5)
    assert 1 == len(h.signals), "ok, bad, ok is not two consecutive successes"
    await step(h.clock, 0.5)

    assert ("probe:health", True, None) == h.verdicts()[-1]
    assert 2 == len(h.signals)


async def test_initial_delay_and_period(h: Harness) -> None:
    """Nothing runs before initial_delay; then one attempt per period, on the fake clock."""
    script = Script()
    h.runner(script, initial_delay="2s", period="1s", timeout="100ms").start()
    await pump()
    await step(h.clock, 1.999)
    assert 0 == script.calls

    await step(h.clock, 0.001)
    assert 1 == script.calls
    await step(h.clock, 0.999)
    assert 1 == script.calls
    await step(h.clock, 0.001)
    assert 2 == script.calls


async def test_exception_and_timeout_are_failed_attempts(h: Harness) -> None:
    """An action that raises or overruns its timeout fails the attempt; the loop goes on."""
    hang: asyncio.Future[CheckResult] = asyncio.get_running_loop().create_future()

    async def hanging() -> CheckResult:
        return await hang

    answers: list[Callable[[], Awaitable[CheckResult]]] = [
        Script([RuntimeError("socket on fire")]),
        hanging,
        Script([True]),
    ]

    async def action() -> CheckResult:
        return await answers.pop(0)()

    runner = ProbeRunner(
        "engine",
        config(failure_threshold=1, timeout="10ms", period="20ms"),
        h.clock,
        h.signals.append,
        None,
        action=action,
    )

    first = await runner.run_once()
    second = await runner.run_once()  # the real 10 ms loop deadline ends the hang
    third = await runner.run_once()

    assert (False, "connect 127.0.0.1:1 raised RuntimeError: socket on fire") == (
        first.ok,
        first.sentence,
    )
    assert (False, "connect 127.0.0.1:1 timed out after 10 ms") == (second.ok, second.sentence)
    assert third.ok
    assert [False, True] == [s.ok for s in h.signals]


async def test_faulty_sink_does_not_end_the_loop(h: Harness) -> None:
    """A sink that raises is logged; the probe keeps probing on the next period."""
    script = Script([True])

    def broken(_signal: Signal) -> None:
        raise RuntimeError("store down")

    runner = ProbeRunner("engine", config(), h.clock, broken, None, action=script)
    h.runners.append(runner)
    runner.start()
    await pump()
    await step(h.clock, 0.5)

    assert 2 == script.calls
    assert runner.running


async def test_health_components_emit_on_change_and_report_every_time(h: Harness) -> None:
    """Component signals only on change (healthy presumed); on_health gets every reading."""

    def reading(exchange: bool, at: float) -> CheckResult:
        report = HealthReport(
            healthy=exchange,
            components={"exchange": exchange, "risk": True},
            metrics={"order_latency_p99_us": 412.0},
            at=at,
        )
        return CheckResult(True, "GET /health -> 200", 0.001, health=report)

    script = Script([reading(True, 1.0), reading(False, 2.0), reading(False, 3.0)])
    script.answers.append(reading(True, 4.0))
    runner = ProbeRunner(
        "engine",
        config(),
        h.clock,
        h.signals.append,
        None,
        lambda svc, rep: h.reports.append((svc, rep)),
        health=HealthReading(),
        action=script,
    )
    h.runners.append(runner)
    for _ in range(4):
        await runner.run_once()

    health = [(s.source, s.ok, s.kind, s.reason) for s in h.signals if s.source != "probe:health"]
    assert [
        ("health:exchange", False, "network_partition", "/health reports exchange: false"),
        ("health:exchange", True, None, "/health reports exchange: true"),
    ] == health
    assert [1.0, 2.0, 3.0, 4.0] == [rep.at for _svc, rep in h.reports]
    assert {"engine"} == {svc for svc, _rep in h.reports}
    assert 412.0 == h.reports[0][1].metrics["order_latency_p99_us"]


STARTUP = {"name": "boot", "role": "startup", "period": "1s", "timeout": "100ms"}
LIVE = {"name": "live", "role": "liveness", "period": "500ms"}
READY = {"name": "ready", "role": "readiness", "period": "500ms"}


async def test_startup_gates_liveness_and_readiness(h: Harness) -> None:
    """Liveness and readiness stay idle until startup succeeds; then startup stops."""
    boot, live, ready = Script([False, False, True]), Script(), Script()
    svc = h.service(
        [{**STARTUP, "failure_threshold": 10}, LIVE, READY],
        {"boot": boot, "live": live, "ready": ready},
    )
    svc.start()
    await pump()
    await step(h.clock, 1.0)
    assert (2, 0, 0) == (boot.calls, live.calls, ready.calls)
    assert not svc.started

    await step(h.clock, 1.0)
    assert svc.started
    assert (3, 1, 1) == (boot.calls, live.calls, ready.calls)
    await step(h.clock, 0.5)
    await step(h.clock, 0.5)
    assert (3, 3, 3) == (boot.calls, live.calls, ready.calls), "startup stops once it passed"
    assert [
        ("probe:boot", True, None),
        ("probe:live", True, None),
        ("probe:ready", True, None),
    ] == (h.verdicts())


async def test_startup_failure_is_a_crash_and_keeps_gating(h: Harness) -> None:
    """Startup past failure_threshold emits crash; liveness never runs meanwhile."""
    boot, live = Script([False]), Script()
    svc = h.service([{**STARTUP, "failure_threshold": 3}, LIVE], {"boot": boot, "live": live})
    svc.start()
    await pump()
    await step(h.clock, 1.0)
    await step(h.clock, 1.0)
    await step(h.clock, 1.0)

    assert [("probe:boot", False, "crash")] == h.verdicts()
    assert "startup probe boot failed 3 times in a row: attempt 3 bad" == h.signals[0].reason
    assert 0 == live.calls

    boot.set(True)
    await step(h.clock, 1.0)
    assert [("probe:boot", True, None), ("probe:live", True, None)] == h.verdicts()[1:]
    assert 1 == live.calls


async def test_reset_regates_and_reverifies(h: Harness) -> None:
    """After reset startup must pass again and every probe reports its first verdict anew:
    the new process is verified afresh, and a restart that cures the hang emits one ok."""
    boot, live = Script([True]), Script([False])
    svc = h.service(
        [STARTUP, {**LIVE, "failure_threshold": 2, "initial_delay": "2s"}],
        {"boot": boot, "live": live},
    )
    svc.start()
    await pump()
    await step(h.clock, 2.0)
    await step(h.clock, 0.5)
    assert [("probe:boot", True, None), ("probe:live", False, "hang")] == h.verdicts()

    boot.set(False, True)
    live.set(True)
    svc.reset()
    await pump()
    assert not svc.started
    assert 2 == boot.calls, "startup probes again at once after reset"
    await step(h.clock, 1.0)
    assert svc.started
    assert 3 == boot.calls
    live_before = live.calls
    await step(h.clock, 0.5)
    assert live_before == live.calls, "initial_delay counts again from the reset"
    await step(h.clock, 0.5)

    assert live_before + 1 == live.calls
    assert [
        ("probe:boot", True, None),
        ("probe:live", False, "hang"),
        ("probe:boot", True, None),
        ("probe:live", True, None),
    ] == h.verdicts()


async def test_a_slow_boot_is_held_not_degradation(h: Harness) -> None:
    """Issue 10 defect 12: without a startup probe, readiness refused for its first 1.5 s is a
    boot: no failing signal before its first pass, one "not ready yet" sentence, then ok."""
    ready = Script([False, False, False, True])
    svc = h.service([{**READY, "failure_threshold": 2}], {"ready": ready})
    svc.start()
    await pump()
    await step(h.clock, 0.5)
    await step(h.clock, 0.5)
    runner = svc.runners["ready"]
    assert [] == h.verdicts()
    assert (
        "not ready yet: 0 s since start, readiness probe ready: attempt 1 bad"
        " (startup grace 30 s)" == runner.held
    )
    await step(h.clock, 0.5)
    assert [("probe:ready", True, None)] == h.verdicts()
    assert "" == runner.held


async def test_no_first_pass_within_the_grace_is_a_startup_degradation(h: Harness) -> None:
    """A liveness probe that never passes within its startup_grace is one degradation saying
    so (not a hang: it was never seen working), at the first failure after the grace."""
    live = Script([False])
    svc = h.service([{**LIVE, "startup_grace": "2s"}], {"live": live})
    svc.start()
    await pump()
    for _ in range(3):
        await step(h.clock, 0.5)
    assert [] == h.verdicts(), "1.5 s: still inside the grace"
    await step(h.clock, 0.5)
    assert [("probe:live", False, "degradation")] == h.verdicts()
    assert (
        "liveness probe live has not passed once in 2 s since the process started"
        " (startup grace 2 s): attempt 5 bad" == h.signals[0].reason
    )


async def test_after_a_first_pass_failures_count_at_once_and_reset_rearms_the_grace(
    h: Harness,
) -> None:
    """Once passed, the probe is judged as usual (a liveness failure is a hang); a restart
    of the process re-arms the grace for the new one."""
    live = Script([True, False])
    svc = h.service([{**LIVE, "failure_threshold": 1}], {"live": live})
    svc.start()
    await pump()
    await step(h.clock, 0.5)
    assert [("probe:live", True, None), ("probe:live", False, "hang")] == h.verdicts()
    live.set(False)
    svc.reset()
    await pump()
    for _ in range(4):
        await step(h.clock, 0.5)
    assert 2 == len(h.signals), "the new process is booting: its failures are held"
    assert svc.runners["live"].held.startswith("not live yet: 0 s since start")


async def test_a_startup_probe_is_the_grace_for_the_others(h: Harness) -> None:
    """With a startup probe, liveness failing right after it passed is a hang at once."""
    boot, live = Script([True]), Script([False])
    svc = h.service([STARTUP, {**LIVE, "failure_threshold": 1}], {"boot": boot, "live": live})
    svc.start()
    await pump()
    assert [("probe:boot", True, None), ("probe:live", False, "hang")] == h.verdicts()


async def test_the_grace_counts_from_the_process_start_not_from_attaching(h: Harness) -> None:
    """A process attached to 40 s after it started is past a 30 s grace: its first failures
    count at once, said as a startup failure."""
    live = Script([False])
    svc = h.service([{**LIVE, "failure_threshold": 1}], {"live": live})
    svc.reset(age=40.0)
    svc.start()
    await pump()
    assert [("probe:live", False, "degradation")] == h.verdicts()
    assert h.signals[0].reason.startswith("liveness probe live has not passed once in 40 s")


def test_process_age_reads_the_real_start() -> None:
    """Our own process started before now and after boot; a reaped pid has no age."""
    age = process_age(os.getpid())
    assert age is not None
    assert 0.0 <= age < time.monotonic() + 1
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(timeout=30)
    assert process_age(child.pid) is None
