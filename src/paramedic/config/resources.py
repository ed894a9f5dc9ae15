"""A service's `resources:` section: memory trend, disk space, CPU and metric thresholds.

Sizes are written with a unit (`512MiB`, `2GiB`, `5GB`) for the same reason durations are:
`limit: 2000` could mean bytes or megabytes, and a supervisor that guesses wrong by 10^6 is
worse than none. Binary units (KiB, MiB, GiB, TiB) are 1024-based; KB, MB, GB, TB are
1000-based, as the disk vendors and `df -H` count.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from paramedic.config.types import Duration, PositiveDuration, StrictModel, repeated
from paramedic.core.failures import FailureKind
from paramedic.core.text import duration

__all__ = [
    "CpuConfig",
    "DiskCheck",
    "MemoryConfig",
    "MetricThreshold",
    "Percent",
    "Rate",
    "ResourcesConfig",
    "Size",
    "format_size",
    "parse_rate",
    "parse_size",
]

_SIZE_UNITS = {
    "B": 1,
    "KB": 1000,
    "MB": 1000**2,
    "GB": 1000**3,
    "TB": 1000**4,
    "KiB": 1024,
    "MiB": 1024**2,
    "GiB": 1024**3,
    "TiB": 1024**4,
}
_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$")
_MAX_SIZE = 2**63 - 1  # what the store and psutil count in
_RATE_UNITS = {"s": 1.0, "sec": 1.0, "min": 60.0, "m": 60.0, "h": 3600.0, "hour": 3600.0}
_PERCENT = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*%\s*$")


def parse_size(text: str) -> int:
    """Bytes from `512MiB` / `2GB`; ValueError with an example on anything else."""
    match = _SIZE.match(text)
    if match is None:
        msg = (
            f"{text!r} is not a size; write it with a unit, e.g. 512MiB, 2GiB"
            " (KiB/MiB/GiB are 1024-based, KB/MB/GB 1000-based)"
        )
        raise ValueError(msg)
    size = float(match[1]) * _SIZE_UNITS[match[2]]
    if not size <= _MAX_SIZE:  # also catches an infinity: a 400-digit number overflows
        msg = f"{text[:40]!r} is larger than the largest size, 8 EiB"
        raise ValueError(msg)
    return round(size)


def parse_rate(text: str) -> float:
    """Bytes per second from `1MiB/min`, `100KiB/s`, `50MB/h`."""
    size, sep, per = text.partition("/")
    if not sep or per.strip() not in _RATE_UNITS:
        msg = f"{text!r} is not a growth rate; write size/time, e.g. 1MiB/min, 100KiB/s, 50MB/h"
        raise ValueError(msg)
    return parse_size(size) / _RATE_UNITS[per.strip()]


def format_size(n: float) -> str:
    """A byte count for people: `812 MiB`, `2 GiB`, `1.5 GiB`, three significant digits at most."""
    sign = "-" if n < 0 else ""
    value = abs(float(n))
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            break
        value /= 1024
    if unit == "B" or value >= 100 or math.isclose(value, round(value)):
        return f"{sign}{value:.0f} {unit}"
    return f"{sign}{value:.3g} {unit}"


def _unit_required(parse: Callable[[str], float], example: str) -> Callable[[Any], Any]:
    """A before-validator that refuses bare numbers, as `Duration` does."""

    def validate(value: Any) -> Any:
        if isinstance(value, bool):
            return value
        if isinstance(value, int | float):
            msg = f"{value} has no unit; write e.g. {example}"
            raise ValueError(msg)
        if isinstance(value, str):
            return parse(value)
        return value

    return validate


Size = Annotated[int, BeforeValidator(_unit_required(parse_size, "512MiB or 2GiB")), Field(gt=0)]
"""Bytes, written with a unit; bare numbers are refused."""

Rate = Annotated[float, BeforeValidator(_unit_required(parse_rate, "1MiB/min")), Field(ge=0)]
"""Bytes per second, written as size/time (`1MiB/min`)."""

Percent = Annotated[float, Field(ge=0, le=100)]


class MemoryConfig(StrictModel):
    """Memory leak detection: least-squares trend of RSS over a sliding window.

    A leak is convicted when the fitted line climbs faster than `min_slope`, fits well
    (`min_r2`: a noisy flat series is not a leak) and reaches `limit` within `warn_within`.
    The window must be at least half full before anything is convicted, because a service
    warming its caches after a start grows fast for a while and then stops.
    """

    window: PositiveDuration = 300.0
    min_samples: int = Field(default=30, ge=3)
    limit: Size
    warn_within: PositiveDuration
    min_slope: Rate = 1024**2 / 60.0
    min_r2: float = Field(default=0.8, ge=0, le=1)


class DiskCheck(StrictModel):
    """Free space on the filesystem holding `path`: `min_free` as a percentage or a size."""

    path: Path
    min_free: str

    @field_validator("path")
    @classmethod
    def _absolute(cls, value: Path, info: ValidationInfo) -> Path:
        # Like every path in the config, a relative one is taken from the config file's
        # folder, so the check cannot move with the working directory.
        if not value.is_absolute():
            base = (info.context or {}).get("base_dir")
            if base is None:
                msg = f"{value} is relative and there is no config folder to resolve it from"
                raise ValueError(msg)
            value = Path(base) / value
        return Path(os.path.normpath(value))

    @field_validator("min_free", mode="before")
    @classmethod
    def _min_free(cls, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            msg = f"{value} has no unit; write a percentage (10%) or a size (5GiB)"
            raise ValueError(msg)
        if isinstance(value, str):
            match = _PERCENT.match(value)
            if match is not None:
                if not 0 <= float(match[1]) <= 100:
                    msg = f"{value!r}: a percentage must be between 0% and 100%"
                    raise ValueError(msg)
            else:
                try:
                    parse_size(value)
                except ValueError:
                    msg = f"{value!r} is neither a percentage (10%) nor a size (5GiB)"
                    raise ValueError(msg) from None
            return value.strip()
        return value

    @property
    def min_free_percent(self) -> float | None:
        match = _PERCENT.match(self.min_free)
        return float(match[1]) if match else None

    @property
    def min_free_bytes(self) -> int | None:
        return None if _PERCENT.match(self.min_free) else parse_size(self.min_free)


class CpuConfig(StrictModel):
    """CPU of the service's process, in percent of the whole machine (all cores = 100).

    A busy-polling trading thread keeps one core at 100% by design, which on a 2-core box
    reads 50%: set `max_percent` above what the service spins at when healthy.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    max_percent: Percent
    for_: Duration = Field(alias="for")


class MetricThreshold(StrictModel):
    """A metric read from the service's /health that must not stay beyond a bound."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.:-]{0,127}$")
    above: float | None = None
    below: float | None = None
    for_: Duration = Field(alias="for")
    kind: FailureKind = "degradation"

    @model_validator(mode="after")
    def _one_bound(self) -> MetricThreshold:
        if (self.above is None) == (self.below is None):
            msg = f"metric {self.name}: give exactly one of above or below"
            raise ValueError(msg)
        return self


class ResourcesConfig(StrictModel):
    """Everything sampled about one service on the `sample_every` tick."""

    sample_every: PositiveDuration = 1.0
    memory: MemoryConfig | None = None
    disk: list[DiskCheck] = Field(default_factory=list)
    cpu: CpuConfig | None = None
    metrics: list[MetricThreshold] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> ResourcesConfig:
        if self.memory is not None:
            fits = int(self.memory.window / self.sample_every) + 1
            if fits < self.memory.min_samples:
                msg = (
                    f"memory.window {duration(self.memory.window)} holds only {fits}"
                    f" samples at sample_every {duration(self.sample_every)}, fewer"
                    f" than memory.min_samples {self.memory.min_samples}"
                )
                raise ValueError(msg)
        for label, names in (
            ("disk paths", [str(d.path) for d in self.disk]),
            ("metric names", [m.name for m in self.metrics]),
        ):
            if dupes := repeated(names):
                msg = f"{label} must be unique; repeated: {', '.join(dupes)}"
                raise ValueError(msg)
        return self
