"""Drills: cause a failure on purpose, follow the incident to its end, record how it went.

A drill is durable events (`core/drill_events.py`): `drill.started` is recorded before
anything is injected, so a drill's pages can always be told apart; then the failure is
caused (SIGKILL or SIGSTOP of a supervised process, else the service's chaos hook, run by
the check kit: an HTTP call or a program exec'd without a shell); then the incident is
followed on the bus until it is HEALTHY, handed to a human (MANUAL_RECOVERY) or the drill's
timeout passes; `drill.finished` closes it. While a drill runs, and after it until its
incident ends (HEALTHY, or superseded by a new incident of the service), the service's
alerts carry the labels `drill` and `drill_to` (`labels`), which alerting honours
(`alerting/drill.py`): a drill handed to a human still never pages the real ladder.

Both survive a crash of paramedic (`drill_state.py`): the next start reads them back from
the store before alerting resumes, and a drill the crash cut off goes on following its
incident, with the time its timeout has left. Only a hang drill cut off before anything
convicted the process it stopped is finished as `interrupted` (the process is continued: a
drill never leaves an engine frozen); so is every drill a planned stop cuts off.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

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
from paramedic.core.incident_events import IncidentOpened, IncidentTransitioned
from paramedic.core.text import duration
from paramedic.runtime.drill_state import ENDS, Active, read_drills
from paramedic.store.protocol import Store

__all__ = ["DrillRefused", "Drills"]

log = structlog.get_logger("paramedic.drills")

DEFAULT_CONTACT = "oncall"


class DrillRefused(ParamedicError):
    """The drill cannot run as asked; `status` is the HTTP status the API answers with."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


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
        # by service: a finished drill whose incident is still open (its pages stay a drill's)
        self.held: dict[str, Active] = {}
        self.last_success: dict[str, float] = {}  # service -> wall time of drill.finished ok
        self._tasks: set[asyncio.Task[None]] = set()
        self._cut: list[tuple[Active, Subscription, tuple[str, str] | None]] = []
        self._stale: list[Active] = []
        self._restored = False
        # In bus order, before any alerting job runs: the drill's incident and its end.
        bus.add_listener(self._observe)

    def labels(self, service: str) -> Mapping[str, str]:
        """The labels a drill adds to the service's alerts while it runs, and after it while
        its incident is open (else none)."""
        active = self.active.get(service) or self.held.get(service)
        return active.labels() if active is not None else {}

    def _observe(self, published: Published) -> None:
        """The drill's incident is the service's first conviction after the start; it ends
        at HEALTHY, or when a new incident of the service supersedes it."""
        event = published.event
        service = event.service or ""
        if isinstance(event, FailureDetected):
            active = self.active.get(service)
            if active is not None and not active.incident:
                active.incident = event.incident
        elif isinstance(event, IncidentTransitioned) and event.to_state == "HEALTHY":
            self._close(service, lambda incident: incident == event.incident)
        elif isinstance(event, IncidentOpened):
            self._close(service, lambda incident: incident not in ("", event.incident))

    def _close(self, service: str, ends: Callable[[str], bool]) -> None:
        active = self.active.get(service)
        if active is not None and ends(active.incident):
            active.closed = True
        held = self.held.get(service)
        if held is not None and ends(held.incident):
            del self.held[service]

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

    async def restore(self) -> None:
        """Before alerting resumes after a restart: each service's last successful drill
        (the metric), and what still makes its alerts a drill's (`drill_state.py`): a drill
        a crash cut off (active again, its bus subscription taken now so nothing the
        rebuild publishes is missed) and a finished drill whose incident is still open."""
        if self._restored:
            return
        self._restored = True
        found = await read_drills(self._store, set(self._config.services))
        self.last_success.update(found.last_success)
        self._stale = found.stale
        for held in found.held:
            self.held[held.service] = held
        for cut in found.cut:
            self.active[cut.active.service] = cut.active
            sub = self._subscribe(cut.active.drill)
            self._cut.append((cut.active, sub, cut.end))

    async def load(self) -> None:
        """Once processes are re-adopted and incidents rebuilt: each drill a crash cut off
        goes on following its incident with the time its timeout has left (or is finished
        as its incident ended meanwhile). A hang drill cut off before anything convicted it
        is finished as `interrupted`, its process (still the service's) continued: nothing
        would ever convict a process continued by the restart, and none stays frozen."""
        await self.restore()
        why = "paramedic stopped or crashed while the drill ran"
        for stale in self._stale:
            self._continue(stale)
            await self._finish(stale.service, stale.drill, "interrupted", False, "", why)
        self._stale = []
        cut, self._cut = self._cut, []
        for active, sub, end in cut:
            if end is None and not active.incident and active.stopped_pid is not None:
                self._bus.unsubscribe(sub)
                self._continue(active)
                del self.active[active.service]
                await self._finish(active.service, active.drill, "interrupted", False, "", why)
                continue
            left = active.started_wall + active.timeout_s - self._clock.wall()
            log.warning("a drill a crash cut off goes on", drill=active.drill, left_s=left)
            self._spawn(self._run(active, sub, max(left, 0.0), inject=False, end=end))

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
        now = self._clock.now()
        active = Active(drill, service, kind, named, started_wall=now.wall, timeout_s=follow_s)
        held = self.held.pop(service, None)  # a new drill's pages are its own
        self.active[service] = active  # before anything can page: its pages are the drill's
        try:
            await self._record(
                DrillStarted(
                    at=now,
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
            if held is not None:
                self.held[service] = held
            raise
        # Subscribed before the injection, so the failure it causes cannot be missed.
        self._spawn(self._run(active, self._subscribe(drill), follow_s))
        return drill

    def _subscribe(self, drill: str) -> Subscription:
        return self._bus.subscribe(f"drill-{drill}", "incident.transitioned")

    def _spawn(self, run: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(run)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- one drill --------------------------------------------------------------------------

    async def _run(
        self,
        active: Active,
        sub: Subscription,
        follow_s: float,
        *,
        inject: bool = True,
        end: tuple[str, str] | None = None,
    ) -> None:
        """Inject (unless resumed after a restart), follow, finish; a drill whose incident
        is still open when it finishes keeps labelling the service's alerts (`held`)."""
        outcome, ok, why = "interrupted", False, "paramedic stopped during the drill"
        try:
            if inject:
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
            if end is not None:  # the incident ended while paramedic was down
                outcome, why = end
                ok = outcome == "HEALTHY"
            else:
                outcome, ok, why = await self._follow(active, sub, follow_s)
        except Exception as exc:  # the edge of the drill: recorded, never silent
            log.exception("drill failed", drill=active.drill)
            outcome, why = "error", f"the drill failed: {exc}"
        finally:
            self._bus.unsubscribe(sub)
            self._continue(active)
            del self.active[active.service]
            incident = "" if outcome == "not_injected" else active.incident
            if incident and not active.closed:
                self.held[active.service] = active
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
    ) -> tuple[str, bool, str]:
        """Wait for the service's next conviction (`_observe` notes it), then for its
        incident to end; the drill's timeout runs on the injected clock."""
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
                if (
                    isinstance(event, IncidentTransitioned)
                    and active.incident
                    and event.incident == active.incident
                    and event.to_state in ENDS
                ):
                    return event.to_state, event.to_state == "HEALTHY", event.reason
        finally:
            timer.cancel()
            deadline.cancel()
            if getter is not None:
                getter.cancel()
        within = duration(active.timeout_s)
        if not active.incident:
            return "not_detected", False, f"nothing was detected within {within}"
        return "timeout", False, f"incident {active.incident} had not ended within {within}"

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
