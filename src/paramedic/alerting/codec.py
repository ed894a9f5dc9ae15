"""Alerts to and from the plain JSON the store keeps."""

from __future__ import annotations

import dataclasses
from typing import Any

from paramedic.alerting.model import Ack, Alert

__all__ = ["alert_from_data", "alert_to_data"]


_FIELDS = tuple(f.name for f in dataclasses.fields(Alert))


def alert_to_data(alert: Alert) -> dict[str, Any]:
    data = {name: getattr(alert, name) for name in _FIELDS}
    data["labels"] = dict(alert.labels)
    data["actions"] = list(alert.actions)
    data["on_call"] = list(alert.on_call)
    data["ack"] = None if alert.ack is None else dataclasses.asdict(alert.ack)
    return data


def alert_from_data(data: dict[str, Any]) -> Alert:
    values = {k: v for k, v in data.items() if k in _FIELDS}
    values["actions"] = tuple(values.get("actions", ()))
    values["on_call"] = tuple(values.get("on_call", ()))
    ack = values.get("ack")
    # A monotonic reading from a previous run means nothing now; the wall time stays.
    values["ack"] = None if ack is None else Ack(**{**ack, "at_mono": 0.0, "expires_mono": None})
    return Alert(**values)
