"""What a restart reads back from the timeline: the failure still open per service and the
Alertmanager verdicts still failing, read with two narrow queries."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from paramedic.core.clock import Instant
from paramedic.core.events import Event, NoteAdded
from paramedic.core.failure_events import FailureCleared, FailureDetected, ServiceUp
from paramedic.core.incident_events import (
    EscalationTriggered,
    IncidentOpened,
    IncidentTransitioned,
    RecoveryDecided,
    RecoveryFinished,
)
from paramedic.detect.events import SignalChanged
from paramedic.runtime.resume import read_store
from paramedic.store.sqlite import SQLiteStore

AT = Instant(mono=1.0, wall=time.time())


def signal(service: str, source: str, ok: bool) -> SignalChanged:
    return SignalChanged(
        at=AT, service=service, source=source, ok=ok, failure_kind="degradation", reason=source
    )


def failed(service: str, incident: str) -> FailureDetected:
    return FailureDetected(
        at=AT, service=service, incident=incident, failure_kind="degradation", reason="x",
        source="alertmanager:A",
    )  # fmt: skip


def cleared(service: str, incident: str) -> FailureCleared:
    return FailureCleared(at=AT, service=service, incident=incident, downtime_s=1.0, reason="ok")


async def test_open_failures_and_failing_alertmanager_verdicts(tmp_path: Path) -> None:
    """engine: failed, cleared, failed again with A and B failing, then B resolved: open
    incident 2 with A failing (A's failure before the clear does not count). gateway: its
    failure cleared. billing: seen up after a failure (an old store's restart): nothing open.
    Process signals are live: never carried over."""
    events: list[Event] = [
        signal("engine", "alertmanager:Old", False),
        failed("engine", "inc_1"),
        signal("engine", "alertmanager:Old", True),
        cleared("engine", "inc_1"),
        signal("engine", "alertmanager:A", False),
        failed("engine", "inc_2"),
        signal("engine", "alertmanager:B", False),
        signal("engine", "process", False),
        signal("engine", "alertmanager:B", True),
        signal("gateway", "alertmanager:G", False),
        failed("gateway", "inc_g"),
        signal("gateway", "alertmanager:G", True),
        cleared("gateway", "inc_g"),
        failed("billing", "inc_b"),
        ServiceUp(at=AT, service="billing", reason="ok"),
    ]
    store = SQLiteStore(tmp_path / "p.db")
    await store.open()
    await store.append_many(events)
    left = await read_store(store, page=2)  # small pages: the paging is exercised too
    await store.close()
    engine = left.services["engine"]
    assert engine.open_failure is not None
    assert ("inc_2", ["alertmanager:A"]) == (engine.open_failure.incident, list(engine.failing))
    assert left.services["gateway"].open_failure is None
    assert left.services["billing"].open_failure is None
    assert {"inc_1", "inc_g"} == set(left.cleared)
    assert ["inc_2"] == [f.incident for f in left.open_failures()]


async def test_the_incident_events_carry_what_escalation_pages_name(tmp_path: Path) -> None:
    """The incident events read back (for the alerting catch-up) include, in timeline order,
    the escalations and what their pages name: decisions, finished methods and the notes
    (where the failed state was preserved); other kinds stay out."""
    inc: dict[str, Any] = {"at": AT, "service": "engine", "incident": "inc_1"}
    events: list[Event] = [
        IncidentOpened(**inc, failure_kind="crash", reason="killed"),
        RecoveryDecided(**inc, method="cold", requires_approval=False, sentence="cold"),
        signal("engine", "process", False),
        RecoveryFinished(**inc, method="cold", ok=False, duration_s=1.0, reason="exit 3"),
        NoteAdded(at=AT, service="engine", author="paramedic", text="incident inc_1: preserved"),
        IncidentTransitioned(**inc, from_state="A", to_state="MANUAL_RECOVERY", reason="r"),
        EscalationTriggered(**inc, trigger="recovery_failed", reason="no method left"),
    ]
    store = SQLiteStore(tmp_path / "p.db")
    await store.open()
    await store.append_many(events)
    left = await read_store(store, page=2)
    await store.close()
    assert [e.kind for e in events if e.kind != "signal.changed"] == [
        e.kind for e in left.incidents
    ]
