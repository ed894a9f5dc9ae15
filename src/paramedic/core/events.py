"""Event types: everything that happens in paramedic is one of these, frozen.

An event is stamped on both clocks when it is made, written to the timeline, then fanned out.
Each concrete type has a stable `kind` string, which is what the store keeps; the payload is
the dataclass fields other than the envelope (`id`, `at`), so a new field needs no migration.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from paramedic.core.clock import Instant
from paramedic.core.ids import new_id

__all__ = [
    "Event",
    "NoteAdded",
    "ParamedicStarted",
    "ParamedicStopping",
    "event_from_record",
    "event_types",
    "register_event",
]

_ENVELOPE = frozenset({"id", "at"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Envelope shared by all events: an id, the instant, and optionally the service concerned."""

    kind: ClassVar[str] = "event"

    at: Instant
    id: str = field(default_factory=lambda: new_id("evt_"))
    service: str | None = None

    def payload(self) -> dict[str, Any]:
        """The fields beyond the envelope, JSON-ready."""
        return {name: getattr(self, name) for name in _payload_fields(type(self))}

    def summary(self) -> str:
        """One plain sentence for logs and the timeline; subclasses say what happened."""
        return self.kind


_PAYLOAD_FIELDS: dict[type, tuple[str, ...]] = {}  # per event type, like _TYPES below


def _payload_fields(cls: type[Event]) -> tuple[str, ...]:
    """Per event type, once: `dataclasses.fields` costs more than the event it describes."""
    names = _PAYLOAD_FIELDS.get(cls)
    if names is None:
        names = tuple(
            f.name
            for f in dataclasses.fields(cls)
            if f.name not in _ENVELOPE and f.name != "service"
        )
        _PAYLOAD_FIELDS[cls] = names
    return names


# A table of types (not of runtime state): kind -> class, filled at import by the decorator.
_TYPES: dict[str, type[Event]] = {}

E = TypeVar("E", bound=type[Event])


def register_event(cls: E) -> E:
    """Class decorator: make a kind decodable from the store. Kinds must be unique."""
    if cls.kind in _TYPES and _TYPES[cls.kind] is not cls:
        other = _TYPES[cls.kind].__name__
        msg = f"event kind {cls.kind!r} registered twice ({other}, {cls.__name__})"
        raise TypeError(msg)
    _TYPES[cls.kind] = cls
    return cls


def event_types() -> dict[str, type[Event]]:
    """Every registered kind, for decoding a stored timeline."""
    return dict(_TYPES)


def event_from_record(
    kind: str, *, id: str, mono: float, wall: float, service: str | None, payload: dict[str, Any]
) -> Event:
    """Rebuild an event read back from the store. Unknown kinds raise KeyError."""
    cls = _TYPES[kind]
    names = {f.name for f in dataclasses.fields(cls)}
    known = {k: _tuplify(v) for k, v in payload.items() if k in names}
    return cls(at=Instant(mono=mono, wall=wall), id=id, service=service, **known)


def _tuplify(value: Any) -> Any:
    # JSON gives lists back; frozen events hold tuples so they stay hashable and immutable.
    if isinstance(value, list):
        return tuple(_tuplify(v) for v in value)
    return value


@register_event
@dataclass(frozen=True, slots=True, kw_only=True)
class ParamedicStarted(Event):
    """paramedic finished starting; `instance` tells one run from the next in the timeline."""

    kind: ClassVar[str] = "paramedic.started"
    version: str
    instance: str
    pid: int

    def summary(self) -> str:
        return f"paramedic {self.version} started (pid {self.pid}, run {self.instance})"


@register_event
@dataclass(frozen=True, slots=True, kw_only=True)
class ParamedicStopping(Event):
    """paramedic is shutting down, and why."""

    kind: ClassVar[str] = "paramedic.stopping"
    reason: str

    def summary(self) -> str:
        return f"paramedic stopping: {self.reason}"


@register_event
@dataclass(frozen=True, slots=True, kw_only=True)
class NoteAdded(Event):
    """An operator wrote a note on the timeline; who wrote it is part of the record."""

    kind: ClassVar[str] = "note.added"
    author: str
    text: str

    def summary(self) -> str:
        return f"note by {self.author}: {self.text}"
