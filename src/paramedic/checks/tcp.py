"""A TCP check: connect, then close at once. It proves the port accepts, nothing more."""

from __future__ import annotations

import asyncio
import contextlib
import time

from paramedic.checks.result import CheckResult
from paramedic.config.checks import TcpCheck
from paramedic.core.text import duration

__all__ = ["tcp_check"]


async def tcp_check(check: TcpCheck) -> CheckResult:
    """`connect host:port ok in 0.2 ms`, or `refused`, or the OS's reason."""
    label = f"connect {check.host}:{check.port}"
    start = time.perf_counter()
    try:
        _reader, writer = await asyncio.open_connection(check.host, check.port)
    except ConnectionRefusedError:
        return CheckResult(False, f"{label} refused", time.perf_counter() - start)
    except OSError as exc:
        took = time.perf_counter() - start
        return CheckResult(False, f"{label} failed: {exc.strerror or exc}", took)
    took = time.perf_counter() - start
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return CheckResult(True, f"{label} ok in {duration(took)}", took)
