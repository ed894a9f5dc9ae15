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
import contextlib
import functools
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import aiohttp

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
from paramedic.recovery.steps import call_command, call_http, fetch_json

__all__ = [
    "Check",
    "CheckResult",
    "Probe",
    "ValidationReport",
    "Validator",
    "build_check",
    "run_checks",
]

Probe = Callable[[], Awaitable[tuple[bool, str]]]
"""One attempt: ok, and a sentence saying what was seen."""


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    ok: bool
    sentence: str
    critical: bool = True

    @property
    def blocking(self) -> bool:
        """A failure that counts: a critical check that did not pass."""
        return not self.ok and self.critical


@dataclass(frozen=True, slots=True)
class Check:
    """A probe with a name and a bound; `run` never raises (except on cancellation)."""

    name: str
    probe: Probe
    timeout: float = 5.0
    critical: bool = True

    async def run(self) -> CheckResult:
        try:
            async with asyncio.timeout(self.timeout):
                ok, sentence = await self.probe()
        except TimeoutError:
            limit = duration(self.timeout)
            return CheckResult(
                self.name, False, f"{self.name}: no answer within {limit}", self.critical
            )
        except Exception as exc:  # a check's bug is a failed check, not a dead validator
            detail = one_line(str(exc)) or type(exc).__name__
            return CheckResult(self.name, False, f"{self.name}: {detail}", self.critical)
        return CheckResult(self.name, ok, f"{self.name}: {sentence}", self.critical)


async def run_checks(checks: Sequence[Check]) -> list[CheckResult]:
    """All at once: the window is short and the checks are independent."""
    return list(await asyncio.gather(*(check.run() for check in checks)))


def _http_probe(spec: CheckSpec, session: aiohttp.ClientSession) -> Probe:
    call = spec.http
    assert call is not None

    async def probe() -> tuple[bool, str]:
        outcome = await call_http(session, call)
        return outcome.ok, outcome.sentence

    return probe


def _compare_probe(spec: CheckSpec, session: aiohttp.ClientSession) -> Probe:
    cfg = spec.compare
    assert cfg is not None

    async def probe() -> tuple[bool, str]:
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
            return True, f"{scope} agree between {cfg.left} and {cfg.right}"
        where, a, b = found
        return False, (
            f"{where or 'document'} differs: {show(a)} at {cfg.left}, {show(b)} at {cfg.right}"
        )

    return probe


def _tcp_probe(spec: CheckSpec) -> Probe:
    cfg = spec.tcp
    assert cfg is not None
    label = f"connect {cfg.host}:{cfg.port}"

    async def probe() -> tuple[bool, str]:
        start = time.perf_counter()
        try:
            _reader, writer = await asyncio.open_connection(cfg.host, cfg.port)
        except OSError as exc:
            refused = isinstance(exc, ConnectionRefusedError)
            return False, f"{label} {'refused' if refused else exc.strerror or exc}"
        took = time.perf_counter() - start
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True, f"{label} ok in {duration(took)}"

    return probe


def _command_probe(spec: CheckSpec) -> Probe:
    cfg = spec.command
    assert cfg is not None

    async def probe() -> tuple[bool, str]:
        outcome = await call_command(cfg)
        return outcome.ok, outcome.sentence

    return probe


def _metric_probe(spec: CheckSpec, session: aiohttp.ClientSession) -> Probe:
    cfg = spec.metric
    assert cfg is not None

    async def probe() -> tuple[bool, str]:
        value = lookup(await fetch_json(session, "GET", cfg.url), cfg.path)
        if not is_number(value):
            return False, f"{cfg.path} is {show(value)} at {cfg.url}, not a number"
        if cfg.below is not None and not value < cfg.below:
            return False, f"{cfg.path} is {value:g}, not below {cfg.below:g}"
        if cfg.above is not None and not value > cfg.above:
            return False, f"{cfg.path} is {value:g}, not above {cfg.above:g}"
        bounds = [
            f"< {cfg.below:g}" if cfg.below is not None else "",
            f"> {cfg.above:g}" if cfg.above is not None else "",
        ]
        return True, f"{cfg.path} is {value:g} ({' and '.join(b for b in bounds if b)})"

    return probe


def _test_order_probe(spec: CheckSpec, session: aiohttp.ClientSession) -> Probe:
    cfg = spec.test_order
    assert cfg is not None

    async def probe() -> tuple[bool, str]:
        start = time.perf_counter()
        try:
            async with asyncio.timeout(cfg.deadline):
                doc = await fetch_json(session, "POST", cfg.url, body=cfg.body)
        except TimeoutError:
            return False, f"test order not acknowledged within {duration(cfg.deadline)}"
        took = time.perf_counter() - start
        mismatch = json_mismatch(doc, cfg.expect_json)
        if mismatch is not None:
            return False, f"test order answered in {duration(took)} but {mismatch}"
        return True, f"test order acknowledged in {duration(took)}"

    return probe


def build_check(
    spec: CheckSpec,
    session: aiohttp.ClientSession,
    *,
    process_running: Callable[[], bool] | None = None,
) -> Check:
    """The check a spec asks for; `process_running` is the integrator's view of the process."""
    probe: Probe
    if spec.process is not None:
        running = process_running

        async def process_probe() -> tuple[bool, str]:
            if running is None:
                return False, "no process view was given to the validator"
            ok = running()
            return ok, "process running" if ok else "process not running"

        probe = process_probe
    elif spec.http is not None:
        probe = _http_probe(spec, session)
    elif spec.compare is not None:
        probe = _compare_probe(spec, session)
    elif spec.tcp is not None:
        probe = _tcp_probe(spec)
    elif spec.command is not None:
        probe = _command_probe(spec)
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
    ) -> None:
        cfg = config if config is not None else ValidationConfig()
        self._clock = clock
        self._on_failure = on_failure
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
            for result in await run_checks(self._windows[window][0]):
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
