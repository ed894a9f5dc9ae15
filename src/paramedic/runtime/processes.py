"""How a configured process becomes the `ManagedProcess` paramedic spawns, and where its
output goes: kept apart from the composition root, which only wires what this builds."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path

from paramedic.config.model import Config, ServiceConfig
from paramedic.core.clock import Clock
from paramedic.process.managed import ExitStatus, ManagedProcess
from paramedic.runtime.adoption import SUPERVISOR_ENV
from paramedic.runtime.sdnotify import NOTIFY_ENV_KEYS

__all__ = ["log_files", "managed_process", "resolve"]


def resolve(base_dir: Path, path: Path) -> Path:
    """A config path, relative to the config's folder unless absolute."""
    return path if path.is_absolute() else base_dir / path


def managed_process(
    name: str,
    svc: ServiceConfig,
    clock: Clock,
    supervisor: str,
    base_dir: Path,
    log_path: Path,
    *,
    on_exit: Callable[[ExitStatus], None],
) -> ManagedProcess:
    """The configured process as paramedic spawns it: its own environment (systemd's
    notify socket is paramedic's, not its children's; the supervisor token lets a restart
    find a child spawned just before a crash), its cwd and its log file."""
    spec = svc.process
    assert spec is not None
    env = dict(os.environ) if spec.inherit_env else {"PATH": os.environ.get("PATH", os.defpath)}
    for key in NOTIFY_ENV_KEYS:
        env.pop(key, None)
    env.update(spec.env)
    env["PARAMEDIC_SERVICE"] = name
    env[SUPERVISOR_ENV] = supervisor
    return ManagedProcess(
        name,
        spec.argv,
        clock=clock,
        env=env,
        cwd=resolve(base_dir, spec.cwd) if spec.cwd else base_dir,
        log_path=log_path,
        stop_signal=signal.Signals[spec.stop_signal],
        stop_timeout=spec.stop_timeout,
        on_exit=on_exit,
    )


def log_files(
    config: Config, name: str, log_path: Callable[[str, ServiceConfig], Path]
) -> list[Path]:
    """The output paramedic captured for `name`: its log file and rotated siblings."""
    svc = config.services[name]
    if svc.process is None:
        return []
    path = log_path(name, svc)
    return [path, *sorted(path.parent.glob(path.name + ".*"))]
