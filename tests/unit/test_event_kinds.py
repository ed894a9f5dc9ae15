"""The events other rooms read live in core, and their stored form did not move with them.

A timeline row keeps only an event's `kind` and payload: a kind renamed or a field dropped
would make an old store unreadable. This table is the stored contract of the cross-room
families (failure, process, incident), written when they moved to core.
"""

from __future__ import annotations

import dataclasses

from paramedic.core import failure_events, incident_events, process_events
from paramedic.core.clock import Instant
from paramedic.core.events import Event, event_from_record

STORED: dict[str, tuple[str, ...]] = {
    "approval.granted": ("incident", "method", "by", "why", "late"),
    "approval.rejected": ("incident", "method", "by", "why", "late"),
    "approval.requested": ("incident", "method", "sentence", "timeout_s", "market_open"),
    "approval.timed_out": ("incident", "method", "waited_s"),
    "command.started": ("pid", "start_time", "boot_id", "label"),
    "escalation.triggered": ("incident", "trigger", "reason", "checks", "rto_target_s"),
    "failure.cleared": ("incident", "downtime_s", "reason", "failure_kind"),
    "failure.detected": (
        "incident",
        "failure_kind",
        "reason",
        "source",
        "evidence",
        "upstream_down",
        "needs_human",
        "severity",
    ),
    "incident.documented": ("incident", "by", "format"),
    "incident.lessons": ("incident", "by", "text"),
    "incident.opened": ("incident", "failure_kind", "reason", "source"),
    "incident.transitioned": ("incident", "from_state", "to_state", "reason", "method", "attempt"),
    "process.adopted": ("pid", "start_time", "boot_id", "sentence", "spawn_id"),
    "process.attached": ("pid", "source"),
    "process.exited": ("pid", "returncode", "signal", "runtime_s", "expected", "note"),
    "process.left_running": ("pid", "start_time", "boot_id", "spawn_id"),
    "process.orphan_ended": ("pid", "label", "sentence"),
    "process.spawned": ("pid", "argv", "start_time", "boot_id", "spawn_id"),
    "recovery.decided": (
        "incident",
        "method",
        "requires_approval",
        "sentence",
        "fallback_chain",
        "facts",
    ),
    "recovery.finished": ("incident", "method", "ok", "duration_s", "reason"),
    "recovery.progress": (
        "incident",
        "state",
        "percentage",
        "current_step",
        "status_message",
        "completed_steps",
        "remaining_steps",
        "eta_wall",
        "eta_source",
    ),
    "recovery.step_finished": ("incident", "step", "ok", "duration_s", "detail"),
    "recovery.step_started": ("incident", "step", "index", "total"),
    "resumption.phase": ("incident", "phase", "multiplier", "held", "sentence"),
    "service.up": ("reason",),
    "validation.checked": ("incident", "window", "ok", "sentence", "checks"),
    "watchdog.gave_up": ("restarts", "window_s"),
}


def _registered() -> dict[str, type[Event]]:
    found: dict[str, type[Event]] = {}
    for module in (failure_events, process_events, incident_events):
        for name in module.__all__:
            cls = getattr(module, name)
            if isinstance(cls, type) and issubclass(cls, Event):
                found[cls.kind] = cls
    return found


def test_kinds_and_payload_fields_are_those_stored() -> None:
    """Every core event family's kind, and the payload fields in order, as stores hold them."""
    actual = {
        kind: tuple(
            f.name for f in dataclasses.fields(cls) if f.name not in ("id", "at", "service")
        )
        for kind, cls in _registered().items()
    }
    assert STORED == actual


def test_a_stored_row_of_each_kind_reads_back() -> None:
    """A row as an older version wrote it (kind, envelope, payload) decodes to its class."""
    for kind, cls in _registered().items():
        payload = {
            f.name: f.default
            for f in dataclasses.fields(cls)
            if f.default is not dataclasses.MISSING and f.name in STORED[kind]
        }
        required = [
            f.name
            for f in dataclasses.fields(cls)
            if f.name in STORED[kind] and f.name not in payload
        ]
        payload |= {name: _sample(cls, name) for name in required}
        event = event_from_record(
            kind, id="evt_1", mono=1.0, wall=2.0, service="engine", payload=payload
        )
        assert cls is type(event)
        assert Instant(mono=1.0, wall=2.0) == event.at


def _sample(cls: type[Event], name: str) -> object:
    kind = str({f.name: f.type for f in dataclasses.fields(cls)}[name])
    if "tuple" in kind:
        return ["a"]
    if kind.startswith("int"):
        return 1
    if kind.startswith("float"):
        return 1.5
    if kind.startswith("bool"):
        return True
    return "x"


def test_a_validation_verdict_reads_back_with_each_check() -> None:
    """`validation.checked` keeps every check as (name, ok, critical, sentence, duration_s):
    the JSON lists a store gives back decode to the same nested tuples."""
    checks = (("positions", True, True, "positions: agree", 0.012),)
    payload = {
        "incident": "inc_1",
        "window": "immediate",
        "ok": True,
        "sentence": "immediate validation passed: 1 checks",
        "checks": [list(c) for c in checks],
    }
    event = event_from_record(
        "validation.checked", id="evt_1", mono=1.0, wall=2.0, service="engine", payload=payload
    )
    assert isinstance(event, incident_events.ValidationChecked)
    assert checks == event.checks
