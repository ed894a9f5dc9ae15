"""Config for paramedic watching itself: the `self_watch:` section.

A supervisor's own death is the one failure it cannot report. Two things cover it: the
systemd watchdog (configured in the unit, not here: systemd passes `WATCHDOG_USEC`) and an
outbound heartbeat to something outside the host, a dead man's switch that alerts when the
pings *stop* (healthchecks.io, Cronitor, Alertmanager's always-firing Watchdog pattern).

```yaml
self_watch:
  loop_stall_bound: 5s
  dead_mans_switch:
    url: ${PARAMEDIC_DEADMAN_URL}   # the URL is often the secret: keep it in the environment
    method: POST
    interval: 30s
    timeout: 5s
```
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import field_validator, model_validator

from paramedic.config.types import PositiveDuration, StrictModel
from paramedic.core.text import duration

__all__ = ["DeadMansSwitchConfig", "SelfWatchConfig"]


class DeadMansSwitchConfig(StrictModel):
    """Where paramedic says "still here", and how often.

    The external service owns the grace period (how many missed pings before it pages); set it
    to two or three intervals there. Many such URLs embed their key, so the URL is shown only
    as scheme://host in logs and errors (`target`).
    """

    url: str
    method: Literal["GET", "POST", "HEAD"] = "GET"
    interval: PositiveDuration = 30.0
    timeout: PositiveDuration = 5.0

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        # never echo the value in an error: it may be a secret
        msg = "must be an http:// or https:// URL with a host (and a port 1-65535 if given)"
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018  (raises ValueError on a bad port)
        except ValueError:
            raise ValueError(msg) from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(msg)
        return value

    @model_validator(mode="after")
    def _timeout_below_interval(self) -> DeadMansSwitchConfig:
        # A ping still in flight when the next is due means the endpoint is too slow to be
        # a witness; the next tick would be skipped. Refuse the setting rather than drift.
        if self.timeout >= self.interval:
            msg = (
                f"timeout ({duration(self.timeout)}) must be less than"
                f" interval ({duration(self.interval)})"
            )
            raise ValueError(msg)
        return self

    @property
    def target(self) -> str:
        """The URL without path, query or credentials: safe to log."""
        parts = urlsplit(self.url)
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{parts.hostname}{port}"


class SelfWatchConfig(StrictModel):
    """How paramedic decides it is itself healthy enough to vouch for (top-level `self_watch:`).

    `loop_stall_bound` is how old the loop monitor's last tick may be before paramedic stops
    petting the systemd watchdog and the dead man's switch and fails `/livez`. Keep it at or
    below half of the unit's `WatchdogSec` so a stall is acted on by systemd, not waited out.
    """

    dead_mans_switch: DeadMansSwitchConfig | None = None
    loop_stall_bound: PositiveDuration = 5.0
