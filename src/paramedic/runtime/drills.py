"""Drills: cause a failure on purpose, follow the incident to its end, record how it went.

A drill is durable events (`core/drill_events.py`): `drill.started` is recorded before
anything is injected, so a drill's pages can always be told apart; then the failure is
caused (SIGKILL or SIGSTOP of a supervised process, else the service's chaos hook, run by
the check kit: an HTTP call or a program exec'd without a shell); then the incident is
followed on the bus until it is HEALTHY, handed to a human (MANUAL_RECOVERY) or the drill's
timeout passes; `drill.finished` closes it. While a drill runs, the service's alerts carry
the labels `drill` and `drill_to` (`labels`), which alerting honours (`alerting/drill.py`).

A drill cut off by a stop or a crash of paramedic is finished as `interrupted` (at the stop,
or when paramedic starts again), and a process it had stopped is continued, never left
frozen.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import aiohttp
import structlog

from paramedic.checks.run import run_check
from paramedic.config.chaos import DRILL_KINDS, hook_key
from paramedic.config.model import Config
from paramedic.core.bus import EventBus, Published, Subscription
from paramedic.core.clock import Clock
from paramedic.core.contracts import Record
from paramedic.core.drill_events import DrillFinished, DrillInjected, DrillStarted
from paramedic.core.errors import ParamedicError
from paramedic.core.failure_events import FailureDetected
from paramedic.core.ids import new_id
from paramedic.core.incident_events import IncidentTransitioned
from paramedic.core.text import duration
from paramedic.store.protocol import Store

__all__ = ["DrillRefused", "Drills"]

log = structlog.get_logger("paramedic.drills")

DEFAULT_CONTACT = "oncall"
ENDS = ("HEALTHY", "MANUAL_RECOVERY")


class DrillRefused(ParamedicError):
    """The drill cannot run as asked; `status` is the HTTP status the API answers with."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


@dataclass(slots=True)
class Active:
    drill: str
    service: str
    kind: str
    contacts: tuple[str, ...]
    stopped_pid: int | None = None  # a hang drill's SIGSTOP, undone at the end


class Drills:
    """Starts drills, follows them, and knows each service's last successful one."""

    def __init__(
        self,
        config: Config,
        *,
        clock: Clock,
        bus: EventBus,
        record: Record,
        store: Store,
        pid_of: Callable[[str], int | None],
        session: Callable[[], aiohttp.ClientSession | None],
    ) -> None:
        self._config = config
        self._clock = clock
        self._bus = bus
        self._record = record
        self._store = store
        self._pid_of = pid_of
        self._session = session
        self.active: dict[str, Active] = {}  # by service: one drill at a time per service
        self.last_success: dict[str, float] = {}  # service -> wall time of drill.finished ok
        self._tasks: set[asyncio.Task[None]] = set()

    def labels(self, service: str) -> Mapping[str, str]:
        """The labels a drill adds to the service's alerts while it runs (else none)."""
        active = self.active.get(service)
        if active is None:
            return {}
        return {"drill": active.drill, "drill_to": ",".join(active.contacts)}

    def offered(self, service: str) -> list[str]:
        """The kinds `start` would not refuse for want of a way to inject them (a crash or
        hang of a process still needs it running when the drill starts)."""
        svc = self._config.services.get(service)
        if svc is None:
            return []
        has_process = svc.process is not None or svc.watch is not None
        return [
            kind
            for kind in DRILL_KINDS
            if svc.chaos.hook(kind) is not None or (has_process and kind in ("crash", "hang"))
        ]

    def running(self, service: str) -> str | None:
        active = self.active.get(service)
        return active.drill if active is not None else None

    # -- start and stop ---------------------------------------------------------------------

    async def load(self) -> None:
        """At start: each service's last successful drill (the metric), and drills a crash
        or a stop cut off finished as `interrupted`, so none reads as still running; a
        process such a hang drill stopped, still the service's, is continued."""
        started: dict[str, str] = {}  # drill -> service, while not finished
        stopped: dict[str, int] = {}  # drill -> the pid its hang stopped
        after = 0
        kinds = ("drill.started", "drill.injected", "drill.finished")
        while True:
            rows = await self._store.timeline(after_seq=after, limit=1000, kinds=kinds)
            for row in rows:
                drill = str(row.payload.get("drill", ""))
                if row.kind == "drill.started":
                    started[drill] = row.service or ""
                elif row.kind == "drill.injected":
                    if isinstance(pid := row.payload.get("stopped_pid"), int):
                        stopped[drill] = pid
                else:
                    started.pop(drill, None)
                    if row.payload.get("ok") and row.service:
                        self.last_success[row.service] = row.wall
            if len(rows) < 1000:
                break
            after = rows[-1].seq
        for drill, service in started.items():
            why = "paramedic stopped or crashed while the drill ran"
            if drill in stopped:
                cut = Active(drill, service, "hang", (), stopped_pid=stopped[drill])
                self._continue(cut)
            await self._finish(service, drill, "interrupted", ok=False, incident="", why=why)

    async def stop(self) -> None:
        """Cancel the drills in flight: each finishes as `interrupted` (a stopped process is
        continued)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def start(
        self,
        service: str,
        kind: str,
        *,
        by: str,
        contacts: list[str] | None = None,
        follow_s: float = 300.0,
    ) -> str:
        """Check the drill can run, record `drill.started` (durable), then inject and follow
        in the background; returns the drill's id. Raises DrillRefused, changing nothing."""
        svc = self._config.services.get(service)
        if svc is None:
            known = ", ".join(self._config.services)
            msg = f"service: unknown service {service!r}; configured: {known}"
            raise DrillRefused(msg, 404)
        if kind not in DRILL_KINDS:
            msg = f"kind: {kind!r} is not a drill; choose one of {', '.join(DRILL_KINDS)}"
            raise DrillRefused(msg)
        if svc.chaos.hook(kind) is None:
            if kind not in ("crash", "hang"):
                msg = (
                    f"{service} has no chaos hook for {kind}: add services.{service}.chaos."
                    f"{hook_key(kind)} ({{http: ...}} or {{command: ...}})"
                )
                raise DrillRefused(msg)
            if self._pid_of(service) is None:
                msg = (
                    f"{service} has no running process to {kind} and no chaos hook for it"
                    f" (services.{service}.chaos.{kind})"
                )
                raise DrillRefused(msg, 409)
        people = self._config.alerting.contacts
        named = tuple(dict.fromkeys(contacts or [DEFAULT_CONTACT]))
        unknown = [c for c in named if c not in people]
        if unknown:
            listed = ", ".join(people)
            msg = f"contacts: unknown contact {', '.join(unknown)}; known: {listed}"
            raise DrillRefused(msg)
        if service in self.active:
            msg = f"drill {self.active[service].drill} is still running on {service}"
            raise DrillRefused(msg, 409)
        drill = new_id("drl_")
        active = Active(drill, service, kind, named)
        self.active[service] = active  # before anything can page: its pages are the drill's
        try:
            await self._record(
                DrillStarted(
                    at=self._clock.now(),
                    service=service,
                    drill=drill,
                    drill_kind=kind,
                    contacts=named,
                    by=by,
                    timeout_s=follow_s,
                    target_rto_s=self._config.recovery.target_rto,
                )
            )
        except BaseException:
            del self.active[service]
            raise
        # Subscribed before the injection, so the failure it causes cannot be missed.
        sub = self._bus.subscribe(f"drill-{drill}", "failure.detected", "incident.transitioned")
        task = asyncio.get_running_loop().create_task(self._run(active, sub, follow_s))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return drill

    # -- one drill --------------------------------------------------------------------------

    async def _run(self, active: Active, sub: Subscription, follow_s: float) -> None:
        outcome, ok, incident, why = "interrupted", False, "", "paramedic stopped during the drill"
        try:
            at = self._clock.now()  # before the signal: time to detect counts from here
            injected, how = await self._inject(active)
            await self._record(
                DrillInjected(
                    at=at,
                    service=active.service,
                    drill=active.drill,
                    ok=injected,
                    how=how,
                    stopped_pid=active.stopped_pid,
                )
            )
            if not injected:
                outcome, why = "not_injected", how
                return
            outcome, ok, incident, why = await self._follow(active, sub, follow_s)
        except Exception as exc:  # the edge of the drill: recorded, never silent
            log.exception("drill failed", drill=active.drill)
            outcome, why = "error", f"the drill failed: {exc}"
        finally:
            self._bus.unsubscribe(sub)
            self._continue(active)
            del self.active[active.service]
            with contextlib.suppress(Exception):
                await self._finish(active.service, active.drill, outcome, ok, incident, why)

    async def _inject(self, active: Active) -> tuple[bool, str]:
        hook = self._config.services[active.service].chaos.hook(active.kind)
        if hook is not None:
            session = self._session()
            own = None
            if hook.http is not None and session is None:
                session = own = aiohttp.ClientSession()
            try:
                async with asyncio.timeout(hook.timeout):
                    check = hook.http if hook.http is not None else hook.command
                    assert check is not None
                    result = await run_check(check, session, label=f"{active.kind} hook: ")
            except TimeoutError:
                return False, f"{active.kind} hook: no answer within {duration(hook.timeout)}"
            finally:
                if own is not None:
                    await own.close()
            return result.ok, result.sentence
        pid = self._pid_of(active.service)
        if pid is None:
            return False, f"{active.service} has no running process to {active.kind}"
        sig = signal.SIGKILL if active.kind == "crash" else signal.SIGSTOP
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return False, f"process {pid} of {active.service} had already ended"
        if sig is signal.SIGSTOP:
            active.stopped_pid = pid
        return True, f"{sig.name} sent to process {pid} of {active.service}"

    async def _follow(
        self, active: Active, sub: Subscription, follow_s: float
    ) -> tuple[str, bool, str, str]:
        """Wait for the service's next conviction, then for its incident to end; the
        drill's timeout runs on the injected clock."""
        incident = ""
        expired = asyncio.Event()
        timer = self._clock.call_later(follow_s, expired.set)
        deadline = asyncio.ensure_future(expired.wait())
        getter: asyncio.Future[Published] | None = None
        try:
            while True:
                getter = asyncio.ensure_future(sub.queue.get())
                done, _ = await asyncio.wait(
                    {getter, deadline}, return_when=asyncio.FIRST_COMPLETED
                )
                if getter not in done:
                    break
                event = getter.result().event
                if isinstance(event, FailureDetected):
                    if event.service == active.service and not incident:
                        incident = event.incident
                elif (
                    isinstance(event, IncidentTransitioned)
                    and event.incident == incident
                    and event.to_state in ENDS
                ):
                    ok = event.to_state == "HEALTHY"
                    return event.to_state, ok, incident, event.reason
        finally:
            timer.cancel()
            deadline.cancel()
            if getter is not None:
                getter.cancel()
        if not incident:
            return "not_detected", False, "", f"nothing was detected within {duration(follow_s)}"
        why = f"incident {incident} had not ended within {duration(follow_s)}"
        return "timeout", False, incident, why

    def _continue(self, active: Active) -> None:
        """A process a hang drill stopped and nobody restarted is continued: a drill must
        never leave an engine frozen."""
        pid = active.stopped_pid
        if pid is not None and pid == self._pid_of(active.service):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)

    async def _finish(
        self, service: str, drill: str, outcome: str, ok: bool, incident: str, why: str
    ) -> None:
        now = self._clock.now()
        await self._record(
            DrillFinished(
                at=now,
                service=service,
                drill=drill,
                outcome=outcome,
                ok=ok,
                incident=incident,
                sentence=why,
            )
        )
        if ok:
            self.last_success[service] = now.wall
