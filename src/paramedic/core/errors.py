"""One root error and one subclass per area, so callers can catch by room."""

from __future__ import annotations

__all__ = [
    "AlertingError",
    "ApiError",
    "ConfigError",
    "DetectionError",
    "LifecycleError",
    "ParamedicError",
    "ProcessError",
    "RecoveryError",
    "StoreError",
]


class ParamedicError(Exception):
    """Root of every error paramedic raises on purpose."""


class ConfigError(ParamedicError):
    """The configuration cannot be loaded or is invalid."""


class StoreError(ParamedicError):
    """The durable store cannot be opened, migrated or written."""


class LifecycleError(ParamedicError):
    """paramedic cannot start or stop cleanly (port taken, store not writable...)."""


class ProcessError(ParamedicError):
    """A supervised process cannot be spawned, signalled or watched."""


class DetectionError(ParamedicError):
    """A detector is misconfigured or cannot run."""


class RecoveryError(ParamedicError):
    """A recovery plan cannot be decided or run."""


class AlertingError(ParamedicError):
    """An alert cannot be routed or delivered."""


class ApiError(ParamedicError):
    """The HTTP API cannot serve or a client call to it failed."""
