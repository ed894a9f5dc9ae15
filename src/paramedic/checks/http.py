"""HTTP checks on aiohttp's keep-alive `ClientSession`: one request, judged by its answer.

Probes, recovery steps, validation checks and the JSON sources a recovery decision reads all
come through here, so a refused connection reads the same everywhere (`GET http://... failed:
refused`) and a runaway body is capped the same everywhere. The session is the caller's: it
is shared, so connection set-up is paid once per host, not once per probe period.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from paramedic.checks.health import HealthReport, parse_health
from paramedic.checks.result import CheckResult
from paramedic.config.checks import HttpCheck, HttpProbeCheck
from paramedic.core.jsonpath import MISSING, json_mismatch
from paramedic.core.text import duration, one_line

__all__ = [
    "MAX_BODY",
    "HttpAnswer",
    "client_error",
    "fetch_json",
    "http_check",
    "http_request",
    "read_capped",
]

MAX_BODY = 1 << 20
"""A /health or positions body is small; a runaway one must not eat memory."""


async def read_capped(response: aiohttp.ClientResponse, limit: int = MAX_BODY) -> bytes:
    """The body up to `limit` bytes: `read(n)` alone may stop at a chunk boundary."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await response.content.read(limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def client_error(exc: aiohttp.ClientError) -> tuple[str, bool]:
    """A sentence for a transport failure, and whether the request surely never arrived
    (a recovery step's outcome is known only then)."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        refused = isinstance(exc.os_error, ConnectionRefusedError)
        return ("refused" if refused else one_line(str(exc))), True
    return one_line(str(exc)) or type(exc).__name__, False


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """What came back, before anyone judged it."""

    status: int
    body: bytes
    took: float

    def json(self) -> Any:
        """The parsed body, or MISSING if it is not JSON."""
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            return MISSING


async def http_request(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    body: Any = None,
    headers: Mapping[str, str] | None = None,
) -> HttpAnswer:
    """One request with a capped body read; aiohttp.ClientError on transport failure."""
    start = time.perf_counter()
    async with session.request(
        method, url, json=body, headers=dict(headers or {}), allow_redirects=False
    ) as response:
        body_read = await read_capped(response)
        return HttpAnswer(response.status, body_read, time.perf_counter() - start)


async def fetch_json(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    body: Any = None,
    headers: Mapping[str, str] | None = None,
) -> Any:
    """The JSON a 2xx answer carries; ValueError with a sentence for any other answer."""
    try:
        answer = await http_request(session, method, url, body=body, headers=headers)
    except aiohttp.ClientError as exc:
        msg = f"{method} {url} failed: {client_error(exc)[0]}"
        raise ValueError(msg) from exc
    if not 200 <= answer.status < 300:
        msg = f"{method} {url} -> {answer.status}"
        raise ValueError(msg)
    doc = answer.json()
    if doc is MISSING:
        msg = f"{method} {url}: body is not JSON"
        raise ValueError(msg)
    return doc


def _json_mismatch(body: bytes, expect: Mapping[str, Any]) -> str | None:
    """None if every dotted path holds its expected value, else the first difference."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return "body is not JSON"
    return json_mismatch(doc, expect)


async def http_check(
    session: aiohttp.ClientSession,
    check: HttpCheck,
    *,
    label: str = "",
    now: Callable[[], float] = time.monotonic,
) -> CheckResult:
    """`check`'s request judged by its expectations; `now` stamps a `/health` reading.

    The body is read only when something looks at it (`expect_json`, `read_health`): a probe
    every 500 ms has no use for the rest. A HEAD answer has no body to read.
    """
    what = f"{label}{check.method} {check.url}"
    read_health = isinstance(check, HttpProbeCheck) and check.read_health and check.method != "HEAD"
    need_body = read_health or check.expect_json is not None
    start = time.perf_counter()
    try:
        async with session.request(
            check.method, check.url, json=check.body, headers=check.headers, allow_redirects=False
        ) as response:
            status = response.status
            body = await read_capped(response) if need_body else b""
    except aiohttp.ClientError as exc:
        why, never_sent = client_error(exc)
        return CheckResult(False, f"{what} failed: {why}", time.perf_counter() - start, never_sent)
    took = time.perf_counter() - start
    ok = check.accepts(status)
    sentence = f"{what} -> {status} in {duration(took)}"
    if not ok and check.expect_status:
        sentence += f" (expected {', '.join(map(str, check.expect_status))})"
    if ok and check.expect_json:
        mismatch = _json_mismatch(body, check.expect_json)
        if mismatch is not None:
            ok, sentence = False, f"{sentence}; {mismatch}"
    health: HealthReport | None = None
    health_error: str | None = None
    if read_health:
        parsed = parse_health(body, now())
        if isinstance(parsed, str):
            health_error = parsed
        else:
            health = parsed
    return CheckResult(ok, sentence, took, health=health, health_error=health_error)
