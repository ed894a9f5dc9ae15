"""Building blocks shared by every config section: strict models, durations, addresses."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from paramedic.config.durations import parse_duration

__all__ = ["Duration", "StrictModel", "host_port"]


def _duration(value: Any) -> Any:
    if isinstance(value, bool):
        return value  # let the float check reject it with pydantic's own message
    if isinstance(value, int | float):
        msg = f"{value} has no unit; write e.g. {value}ms or {value}s"
        raise ValueError(msg)
    if isinstance(value, str):
        return parse_duration(value)
    return value


Duration = Annotated[float, BeforeValidator(_duration), Field(ge=0)]
"""Seconds, written in config with a unit (`100ms`, `5s`); bare numbers are refused."""


class StrictModel(BaseModel):
    """Every config section forbids unknown keys: a typo must never pass silently."""

    model_config = ConfigDict(extra="forbid")


def host_port(value: str, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """Split `host:port` (or `[v6]:port`, or a bare port); ValueError with an example if bad."""
    host, sep, port = value.rpartition(":")
    if not sep:
        host, port = default_host, value
    host = host.strip("[]") or default_host
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        msg = f"{value!r} is not host:port (port 0-65535), e.g. 127.0.0.1:9090"
        raise ValueError(msg)
    return host, int(port)
