"""Probe actions: one attempt each, returning a result with one plain sentence.

The actions do the I/O and nothing else: timing knobs, thresholds and signals live in
`detect/probes.py`. An action may raise (the runner turns any exception into a failed
attempt) but tries to say what went wrong in words an on-call engineer can act on, e.g.
`GET http://127.0.0.1:8081/health -> 503 in 4.1 ms` or `connect 127.0.0.1:7001 refused`.

Durations are measured with `time.perf_counter`: they describe real I/O, which an injected
(possibly fake) clock must not distort. Deadlines are the runner's, on the loop's monotonic time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp

from paramedic.config.probes import CommandAction, HttpAction, ProbeConfig, TcpAction
from paramedic.core.errors import DetectionError
from paramedic.core.jsonpath import json_mismatch
from paramedic.core.text import duration, one_line
from paramedic.process.command import run_command

__all__ = [
    "CommandProbe",
    "HealthReport",
    "HttpProbe",
    "ProbeAction",
    "ProbeResult",
    "TcpProbe",
    "build_action",
    "describe_action",
    "parse_health",
]

_MAX_BODY = 1 << 20  # a /health body is small; a runaway one must not eat memory


@dataclass(frozen=True, slots=True)
class HealthReport:
    """One reading of a service's `/health` body (the seed's shape); `at` is monotonic."""

    healthy: bool
    components: Mapping[str, bool]
    metrics: Mapping[str, float]
    at: float


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """One attempt. `health` is set when a `/health` body was read; `health_error` says why not."""

    ok: bool
    reason: str
    duration: float
    health: HealthReport | None = field(default=None)
    health_error: str | None = None


class ProbeAction(Protocol):
    """What a runner calls once per period; a fake in tests, a real action in production."""

    async def __call__(self) -> ProbeResult: ...


def parse_health(body: bytes, at: float) -> HealthReport | str:
    """The seed's `/health` JSON as a report, or one sentence saying why it is not one.

    Never raises: a service that answers HTML or a truncated body is a fact to report, not a
    reason for the probe loop to die.
    """
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return f"/health body is not JSON: {one_line(body[:60].decode('utf-8', 'replace'))!r}"
    if not isinstance(doc, dict):
        return f"/health body is a JSON {type(doc).__name__}, not an object"
    healthy = doc.get("healthy")
    if not isinstance(healthy, bool):
        return f"/health body: healthy is {healthy!r}, not true/false"
    raw_components = doc.get("components", {})
    if not isinstance(raw_components, dict):
        return "/health body: components is not an object"
    components: dict[str, bool] = {}
    for name, value in raw_components.items():
        if not isinstance(value, bool):
            return f"/health body: components.{name} is {value!r}, not true/false"
        components[name] = value
    raw_metrics = doc.get("metrics", {})
    if not isinstance(raw_metrics, dict):
        return "/health body: metrics is not an object"
    metrics: dict[str, float] = {}
    for name, value in raw_metrics.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            return f"/health body: metrics.{name} is {value!r}, not a number"
        metrics[name] = float(value)
    return HealthReport(healthy=healthy, components=components, metrics=metrics, at=at)


def _json_mismatch(body: bytes, expect: Mapping[str, Any]) -> str | None:
    """None if every dotted path holds its expected value, else the first difference."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return "body is not JSON"
    return json_mismatch(doc, expect)


async def read_capped(response: aiohttp.ClientResponse, limit: int = _MAX_BODY) -> bytes:
    """The body up to `limit` bytes (probes, recovery steps and checks): `read(n)` alone may
    stop at a chunk boundary, and a runaway body must not eat memory."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await response.content.read(limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


class HttpProbe:
    """An HTTP request on a shared keep-alive session: connection set-up is paid once."""

    def __init__(
        self,
        config: HttpAction,
        session: aiohttp.ClientSession,
        *,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config
        self._session = session
        self._now = now
        self._label = f"{config.method} {config.url}"
        self._read_health = config.read_health and config.method != "HEAD"  # HEAD has no body

    async def __call__(self) -> ProbeResult:
        cfg = self._config
        start = time.perf_counter()
        try:
            async with self._session.request(
                cfg.method, cfg.url, headers=cfg.headers, allow_redirects=False
            ) as response:
                status = response.status
                need_body = self._read_health or cfg.expect_json is not None
                body = await read_capped(response) if need_body else b""
        except aiohttp.ClientConnectorError as exc:
            took = time.perf_counter() - start
            why = "refused" if isinstance(exc.os_error, ConnectionRefusedError) else str(exc)
            return ProbeResult(False, f"{self._label} failed: {one_line(why)}", took)
        except aiohttp.ClientError as exc:
            took = time.perf_counter() - start
            detail = one_line(str(exc)) or type(exc).__name__
            return ProbeResult(False, f"{self._label} failed: {detail}", took)
        took = time.perf_counter() - start
        ok = status in cfg.expect_status if cfg.expect_status else 200 <= status < 400
        reason = f"{self._label} -> {status} in {duration(took)}"
        if not ok and cfg.expect_status:
            reason += f" (expected {', '.join(map(str, cfg.expect_status))})"
        if ok and cfg.expect_json:
            mismatch = _json_mismatch(body, cfg.expect_json)
            if mismatch is not None:
                ok = False
                reason += f"; {mismatch}"
        health: HealthReport | None = None
        health_error: str | None = None
        if self._read_health:
            parsed = parse_health(body, self._now())
            if isinstance(parsed, str):
                health_error = parsed
            else:
                health = parsed
        return ProbeResult(ok, reason, took, health, health_error)


class TcpProbe:
    """A TCP connect, closed at once."""

    def __init__(self, config: TcpAction) -> None:
        self._config = config
        self._label = f"connect {config.host}:{config.port}"

    async def __call__(self) -> ProbeResult:
        start = time.perf_counter()
        try:
            _reader, writer = await asyncio.open_connection(self._config.host, self._config.port)
        except ConnectionRefusedError:
            return ProbeResult(False, f"{self._label} refused", time.perf_counter() - start)
        except OSError as exc:
            took = time.perf_counter() - start
            return ProbeResult(False, f"{self._label} failed: {exc.strerror or exc}", took)
        took = time.perf_counter() - start
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return ProbeResult(True, f"{self._label} ok in {duration(took)}", took)


class CommandProbe:
    """A program exec'd without a shell, in its own process group.

    On timeout or cancellation the whole group is SIGKILLed and the child reaped before the
    exception goes on: a hung check script must not leave itself, or what it spawned, behind.
    """

    def __init__(self, config: CommandAction) -> None:
        self._config = config
        self._label = config.argv[0]
        self._env = {**os.environ, **config.env}

    async def __call__(self) -> ProbeResult:
        cfg = self._config
        start = time.perf_counter()
        try:
            result = await run_command(cfg.argv, env=self._env, cwd=cfg.cwd)
        except OSError as exc:
            took = time.perf_counter() - start
            return ProbeResult(False, f"{self._label} cannot run: {exc.strerror or exc}", took)
        if result.returncode == 0:
            return ProbeResult(
                True, f"{self._label} exited 0 in {duration(result.took)}", result.took
            )
        return ProbeResult(False, result.describe(self._label), result.took)


def describe_action(probe: ProbeConfig) -> str:
    """How a probe's attempts are named in reasons, e.g. `GET http://127.0.0.1:8081/health`."""
    if probe.http is not None:
        return f"{probe.http.method} {probe.http.url}"
    if probe.tcp is not None:
        return f"connect {probe.tcp.host}:{probe.tcp.port}"
    assert probe.command is not None
    return probe.command.argv[0]


def build_action(
    probe: ProbeConfig,
    session: aiohttp.ClientSession | None,
    *,
    now: Callable[[], float] = time.monotonic,
) -> ProbeAction:
    """The action a probe config asks for; HTTP needs the shared session."""
    if probe.http is not None:
        if session is None:
            msg = f"probe {probe.name}: an http probe needs the shared aiohttp session"
            raise DetectionError(msg)
        return HttpProbe(probe.http, session, now=now)
    if probe.tcp is not None:
        return TcpProbe(probe.tcp)
    assert probe.command is not None
    return CommandProbe(probe.command)
