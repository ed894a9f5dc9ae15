"""`paramedic run`: start, wait for SIGTERM/SIGINT, stop within the deadline, give an exit code."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import structlog

from paramedic.config.model import Config
from paramedic.core.errors import LifecycleError
from paramedic.core.text import duration
from paramedic.runtime.app import Paramedic
from paramedic.runtime.build import build

__all__ = ["serve"]

log = structlog.get_logger("paramedic")


async def serve(
    config: Config,
    *,
    base_dir: Path,
    on_started: Callable[[Paramedic], None] | None = None,
) -> int:
    """Run until a signal; 0 after a clean stop, 1 if it could not start or stop in time."""
    paramedic = Paramedic(build(config, base_dir=base_dir))
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT)
    for sig in signals:
        loop.add_signal_handler(sig, paramedic.request_stop, f"received {sig.name}")
    try:
        try:
            await paramedic.start()
        except LifecycleError as exc:
            print(f"paramedic: cannot start: {exc}", file=sys.stderr)
            return 1
        if on_started is not None:
            on_started(paramedic)
        reason = await paramedic.wait_stop_requested()
        # The deadline runs from the signal, and the caller exits at once after this returns
        # (`cli.run` skips the interpreter's teardown, which took 0.2-0.9 s, measured).
        spent = paramedic.parts.clock.monotonic() - paramedic.stop_requested_mono
        try:
            async with asyncio.timeout(max(0.0, config.shutdown_timeout - spent)):
                await paramedic.stop(reason)
        except TimeoutError:
            paramedic.kill_everything()
            print(
                f"paramedic: shutdown took longer than {duration(config.shutdown_timeout)};"
                " killed what was left",
                file=sys.stderr,
            )
            return 1
        return 0
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
