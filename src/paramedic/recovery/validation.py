"""Post-recovery validation (seed 4.2/4.3): "up" is not "healthy".

A check is a named async probe ending in one sentence. The seed sorts them into three windows:
the immediate checks (processes, connections, positions against the exchange) decide whether
the recovery worked at all; the short and medium checks (order routing, latency, leaks) run on
the injected clock for 5 and 30 minutes afterwards, and a failure there is an escalation, not a
second recovery: the service is trading again and a human must judge.

Checks that compare documents say *where* they differ (`positions.AAPL: 100 here, 90 at the
exchange`), because "positions mismatch" alone sends the on-call engineer to diff JSON by hand.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import aiohttp

from paramedic.checks import (
    CheckAction,
    CheckResult,
    command_check,
    fetch_json,
    http_check,
    tcp_check,
)
from paramedic.config.recovery_plan import CheckSpec, ValidationConfig
from paramedic.core.clock import Clock, TimerHandle
from paramedic.core.jsonpath import (
    first_difference,
    is_number,
    json_mismatch,
    lookup,
    show,
)
from paramedic.core.text import duration, one_line

__all__ = [
    "Check",
    "ValidationReport",
    "Validator",
    "build_check",
    "run_checks",
]


@dataclass(frozen=True, slots=True)
class Check:
    """An attempt with a name and a bound; `run` never raises (except on cancellation)."""

    name: str
    probe: CheckAction
    timeout: float = 5.0
    critical: bool = True

    async def run(self) -> CheckResult:
        """The probe's result named after the check (`positions: ...`) and weighted by it."""
        start = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout):
                result = await self.probe()
        except TimeoutError:
            sentence = f"no answer within {duration(self.timeout)}"
            result = CheckResult(False, sentence, time.perf_counter() - start)
        except Exception as exc:  # a check's bug is a failed check, not a dead validator
            detail = one_line(str(exc)) or type(exc).__name__
            result = CheckResult(False, detail, time.perf_counter() - start)
        return dataclasses.replace(
            result,
            sentence=f"{self.name}: {result.sentence}",
            name=self.name,
            critical=self.critical,
        )


async def run_checks(checks: Sequence[Check]) -> list[CheckResult]:
    """All at once: the window is short and the checks are independent."""
    return list(await asyncio.gather(*(check.run() for check in checks)))


def _compare_probe(spec: CheckSpec, session: aiohttp.ClientSession) -> CheckAction:
    cfg = spec.compare
    assert cfg is not None

    async def probe() -> CheckResult:
        left, right = await asyncio.gather(
            fetch_json(session, "GET", cfg.left), fetch_json(session, "GET", cfg.right)
        )
        if cfg.paths is None:
            found = first_difference(left, right, cfg.tolerance)
        else:
            found = None
            for path in cfg.paths:
                found = first_difference(
                    lookup(left, path), lookup(right, path), cfg.tolerance, path
                )
                if found is not None:
                    break
        if found is None:
            scope = f"{len(cfg.paths)} paths" if cfg.paths is not None else "documents"
            return CheckResult(True, f"{scope} agree between {cfg.left} and {cfg.right}")
        where, a, b = found
        return CheckResult(
            False,
            f"{where or 'document'} differs: {show(a)} at {cfg.left}, {show(b)} at {cfg.right}",
        )

    return probe


def _metric_probe(spec: CheckSpec, session: aiohttp.ClientSession) -> CheckAction:
    cfg = spec.metric
    assert cfg is not None

    async def probe() -> CheckResult:
        value = lookup(await fetch_json(session, "GET", cfg.url), cfg.path)
        if not is_number(value):
            return CheckResult(False, f"{cfg.path} is {show(value)} at {cfg.url}, not a number")
        if cfg.below is not None and not value < cfg.below:
            return CheckResult(False, f"{cfg.path} is {value:g}, not below {cfg.below:g}")
        if cfg.above is not None and not value > cfg.above:
            return CheckResult(False, f"{cfg.path} is {value:g}, not above {cfg.above:g}")
        bounds = [
            f"< {cfg.below:g}" if cfg.below is not None else "",
            f"> {cfg.above:g}" if cfg.above is not None else "",
        ]
        return CheckResult(
            True, f"{cfg.path} is {value:g} ({' and '.join(b for b in bounds if b)})"
        )

    return probe


def _test_order_probe(spec: CheckSpec, session: aiohttp.ClientSession) -> CheckAction:
    cfg = spec.test_order
    assert cfg is not None

    async def probe() -> CheckResult:
        start = time.perf_counter()
        try:
            async with asyncio.timeout(cfg.deadline):
                doc = await fetch_json(session, "POST", cfg.url, body=cfg.body)
        except TimeoutError:
            deadline = duration(cfg.deadline)
            return CheckResult(False, f"test order not acknowledged within {deadline}")
        took = time.perf_counter() - start
        mismatch = json_mismatch(doc, cfg.expect_json)
        if mismatch is not None:
            return CheckResult(
                False, f"test order answered in {duration(took)} but {mismatch}", took
            )
        return CheckResult(True, f"test order acknowledged in {duration(took)}", took)

    return probe


def _process_probe(running: Callable[[], bool] | None) -> CheckAction:
    async def probe() -> CheckResult:
        if running is None:
            return CheckResult(False, "no process view was given to the validator")
        ok = running()
        return CheckResult(ok, "process running" if ok else "process not running")

    return probe


def build_check(
    spec: CheckSpec,
    session: aiohttp.ClientSession,
    *,
    process_running: Callable[[], bool] | None = None,
) -> Check:
    """The check a spec asks for; `process_running` is the integrator's view of the process.

    http, tcp and command are the check kit's, as they are for probes and steps; compare,
    metric and test_order (seed 4.3) read JSON through the kit's `fetch_json`.
    """
    probe: CheckAction
    if spec.process is not None:
        probe = _process_probe(process_running)
    elif spec.http is not None:
        probe = functools.partial(http_check, session, spec.http)
    elif spec.compare is not None:
        probe = _compare_probe(spec, session)
    elif spec.tcp is not None:
        probe = functools.partial(tcp_check, spec.tcp)
    elif spec.command is not None:
        probe = functools.partial(command_check, spec.command)
    elif spec.metric is not None:
        probe = _metric_probe(spec, session)
    else:
        probe = _test_order_probe(spec, session)
    return Check(spec.name, probe, spec.timeout, spec.critical)


@dataclass(frozen=True, slots=True)
class ValidationReport:
    window: str
    ok: bool
    results: tuple[CheckResult, ...]
    sentence: str


def _report(window: str, results: Sequence[CheckResult]) -> ValidationReport:
    failed = [r for r in results if r.blocking]
    warned = [r for r in results if not r.ok and not r.critical]
    warning = f"; non-critical: {'; '.join(r.sentence for r in warned)}" if warned else ""
    if not failed:
        passed = f"{window} validation passed: {len(results)} checks{warning}"
        return ValidationReport(window, True, tuple(results), passed)
    sentence = f"{window} validation failed: {'; '.join(r.sentence for r in failed)}{warning}"
    return ValidationReport(window, False, tuple(results), sentence)


OnFailure = Callable[[str, CheckResult], Awaitable[None]]
"""Awaited once per failing check and window; `result.critical` says whether it counts."""
OnDone = Callable[[], Awaitable[None]]
OnRun = Callable[[ValidationReport], Awaitable[None]]
"""Awaited after every run of a short/medium window, before its failures are reported."""


class Validator:
    """Immediate checks decide the recovery; short/medium checks keep watching and escalate."""

    def __init__(
        self,
        *,
        clock: Clock,
        on_failure: OnFailure,
        immediate: Sequence[Check] = (),
        short: Sequence[Check] = (),
        medium: Sequence[Check] = (),
        config: ValidationConfig | None = None,
        on_run: OnRun | None = None,
    ) -> None:
        cfg = config if config is not None else ValidationConfig()
        self._clock = clock
        self._on_failure = on_failure
        self._on_run = on_run
        self._last: dict[str, ValidationReport] = {}
        self._immediate = list(immediate)
        self._windows = {
            "short": (list(short), cfg.short_window, cfg.short_every),
            "medium": (list(medium), cfg.medium_window, cfg.medium_every),
        }
        self._immediate_window = cfg.immediate_window
        self._timers: list[TimerHandle] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._running: set[str] = set()
        self._reported: set[tuple[str, str]] = set()
        self._due = 0  # window runs scheduled and not yet over
        self._on_done: OnDone | None = None

    async def run_immediate(self) -> ValidationReport:
        """Any failure, or no answer within the immediate window, fails the recovery."""
        try:
            async with asyncio.timeout(self._immediate_window):
                results = await run_checks(self._immediate)
        except TimeoutError:
            window = duration(self._immediate_window)
            return ValidationReport(
                "immediate", False, (), f"immediate validation did not finish within {window}"
            )
        return _report("immediate", results)

    def last_reports(self) -> list[ValidationReport]:
        """The latest run of each short/medium window that has run (for the record)."""
        return list(self._last.values())

    @property
    def has_windows(self) -> bool:
        """Whether short or medium checks will run after the immediate ones."""
        return any(checks and every > 0 for checks, _span, every in self._windows.values())

    def start_windows(self, on_done: OnDone | None = None) -> None:
        """Set every timer now, so a FakeClock `advance` fires the whole window's runs;
        `on_done` is awaited once the last run of the last window is over."""
        self._on_done = on_done
        for window, (checks, span, every) in self._windows.items():
            if not checks or every <= 0:
                continue
            at = every
            while at <= span + 1e-9:
                self._due += 1
                self._timers.append(
                    self._clock.call_later(at, functools.partial(self._fire, window))
                )
                at += every

    def _fire(self, window: str) -> None:
        if window in self._running:
            self._due -= 1  # the previous run is still going: skip, never pile up
            return
        self._running.add(window)
        task = asyncio.get_running_loop().create_task(self._run_window(window))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_window(self, window: str) -> None:
        try:
            results = await run_checks(self._windows[window][0])
            report = self._last[window] = _report(window, results)
            if self._on_run is not None:
                await self._on_run(report)
            for result in results:
                key = (window, result.name)
                # One escalation per check per window: a check failing every 30 s is one fact.
                if not result.ok and key not in self._reported:
                    self._reported.add(key)
                    await self._on_failure(window, result)
        finally:
            self._running.discard(window)
            self._due -= 1
        if self._due == 0 and not self._running and self._on_done is not None:
            done, self._on_done = self._on_done, None
            await done()

    async def settle(self) -> None:
        """Wait for window runs already started (tests; an orderly stop)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def cancel(self) -> None:
        self._on_done = None
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:  # a failing check's own run halts the rest, not itself
                task.cancel()
