"""HTTP/1.1 on an asyncio Protocol: one request's bytes, one connection's response.

The wire half of `http_pool.py`: a request is checked and encoded once, as one buffer, so it
goes out in one write; a `Connection` carries one request at a time and parses the answer
with `httptools` (llhttp, the C parser uvicorn uses). Error messages name only `host:port`,
never the path or query, because webhook URLs carry secrets (Slack, Teams, ...).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple, NoReturn, cast
from urllib.parse import quote, urlsplit

from httptools import HttpParserError, HttpParserUpgrade, HttpResponseParser

__all__ = [
    "BAD_VALUE",
    "Connection",
    "HostKey",
    "HttpConnectError",
    "HttpError",
    "HttpProtocolError",
    "HttpResponse",
    "NoResponse",
    "PreparedRequest",
    "encode_request",
    "parse_url",
]

_MAX_HEAD = 64 * 1024  # response status line + headers; llhttp itself has no limit
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 token: methods, header names
BAD_VALUE = re.compile(r"[\r\n\0]")
_TARGET_SAFE = "!#$%&'()*+,/:;=?@[]~"  # keep reserved characters and existing %-escapes

HostKey = tuple[str, str, int]  # (scheme, host, port)


class PreparedRequest(NamedTuple):
    """A request's bytes and where they go, built by `HttpPool.prepare`."""

    key: HostKey
    where: str  # host:port, for error messages (never the path, which may hold a token)
    data: bytes
    head: bool


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str]  # names lower-cased; a repeated header's values joined by ", "
    body: bytes


class HttpError(Exception):
    """Base of this module's errors; messages name `host:port` only, never the path or query."""


class HttpConnectError(HttpError):
    """No connection could be made (DNS, refused, unreachable, TLS handshake)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class HttpProtocolError(HttpError):
    """The response was malformed, too large, or cut off by the connection closing."""


class NoResponse(HttpProtocolError):
    """Closed before any response byte: on a reused connection, the server timed it out."""


@lru_cache(maxsize=256)
def parse_url(url: str) -> tuple[HostKey, str, str, str]:
    """(pool key, Host header, request target, `host:port` for messages); cached because
    channels post to the same few URLs over and over."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ValueError(f"unsupported URL scheme {scheme!r}: only http and https")
    if "@" in parts.netloc:
        raise ValueError("credentials in the URL are not supported; send an Authorization header")
    host = parts.hostname
    if not host:
        raise ValueError("the URL has no host")
    if not host.isascii():
        host = host.encode("idna").decode("ascii")
    default = 443 if scheme == "https" else 80
    port = parts.port or default
    bracketed = f"[{host}]" if ":" in host else host
    host_header = bracketed if port == default else f"{bracketed}:{port}"
    target = quote(parts.path or "/", safe=_TARGET_SAFE)
    if parts.query:
        target += "?" + quote(parts.query, safe=_TARGET_SAFE)
    return (scheme, host, port), host_header, target, f"{bracketed}:{port}"


@lru_cache(maxsize=256)
def _is_token(text: str) -> bool:
    """Methods and header names repeat on every request: check each distinct one once."""
    return _TOKEN.fullmatch(text) is not None


def encode_request(
    method: str,
    target: str,
    host_header: str,
    user_agent: str,
    headers: Mapping[str, str] | None,
    body: bytes,
) -> bytes:
    """The whole request as one buffer, so it goes out in one write (and usually one packet)."""
    if not _is_token(method):
        raise ValueError("invalid HTTP method")
    lines = [f"{method} {target} HTTP/1.1"]
    extra: list[str] = []
    given: set[str] = set()
    for name, value in (headers or {}).items():
        if not _is_token(name) or "\r" in value or "\n" in value or "\0" in value:
            # The value is not echoed: it may be a credential.
            raise ValueError(f"invalid header {name!r}: CR, LF and NUL are not allowed")
        lower = name.lower()
        if lower == "content-length":
            continue  # always computed from the body, never sent twice
        if lower == "transfer-encoding":
            raise ValueError("Transfer-Encoding is not supported; bodies use Content-Length")
        given.add(lower)
        extra.append(f"{name}: {value}")
    if "host" not in given:
        lines.append(f"Host: {host_header}")
    if "user-agent" not in given:
        lines.append(f"User-Agent: {user_agent}")
    lines.append(f"Content-Length: {len(body)}")
    lines.extend(extra)
    lines.append("\r\n")
    try:
        return "\r\n".join(lines).encode("latin-1") + body
    except UnicodeEncodeError:
        # Raised afresh: the codec error would carry the whole request, URL and secrets included.
        raise ValueError("header names and values must be latin-1 text") from None


class Connection(asyncio.Protocol):
    """One connection carrying one request at a time; callbacks come from llhttp."""

    def __init__(self, where: str, max_body: int, loop: asyncio.AbstractEventLoop) -> None:
        self.where = where
        self.closed = False
        self.reusable = False
        self.idle_since = 0.0
        self.lost: asyncio.Future[None] = loop.create_future()
        self._loop = loop
        self._max_body = max_body
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[HttpResponse] | None = None
        self._parser = HttpResponseParser(self)
        self._reset(head=False)

    def _reset(self, head: bool) -> None:
        self._head = head
        self._got_bytes = False
        self._head_bytes = 0
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._size = 0
        self._status = 0
        self._headers_done = False
        self._informational = False
        self._done = False
        self._error: HttpProtocolError | None = None

    async def send(self, data: bytes, head: bool) -> HttpResponse:
        assert self._transport is not None
        self._reset(head)
        self._parser = HttpResponseParser(self)  # fresh state; a HEAD reply leaves it mid-body
        self.reusable = True
        waiter: asyncio.Future[HttpResponse] = self._loop.create_future()
        self._waiter = waiter
        self._transport.write(data)
        try:
            return await waiter
        except BaseException:
            self.abort()  # timeout, cancellation or error: the connection's state is unknown
            raise
        finally:
            self._waiter = None

    def abort(self) -> None:
        self.closed = True
        self.reusable = False
        if self._transport is not None:
            self._transport.abort()

    def usable(self) -> bool:
        return not self.closed and self._transport is not None and not self._transport.is_closing()

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.lost.done():
            self.lost.set_result(None)
        self._eof()

    def eof_received(self) -> bool:
        self._eof()
        return False  # let the transport close

    def data_received(self, data: bytes) -> None:
        if self._waiter is None or self._waiter.done():
            self.abort()  # bytes nobody asked for: the stream is out of step
            return
        self._got_bytes = True
        if not self._headers_done:
            if self._head_bytes > _MAX_HEAD:
                self._fail(HttpProtocolError(f"{self.where}: response headers too large"))
                return
            self._head_bytes += len(data)
        try:
            self._parser.feed_data(data)
        except HttpParserUpgrade:
            self._fail(HttpProtocolError(f"{self.where}: unexpected protocol upgrade"))
        except HttpParserError as exc:
            self._fail(
                self._error or HttpProtocolError(f"{self.where}: malformed response ({exc})")
            )

    # llhttp callbacks

    def on_message_begin(self) -> None:
        if self._done:
            self._raise(HttpProtocolError(f"{self.where}: data after the response"))
        self._headers = {}

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        old = self._headers.get(key)
        self._headers[key] = text if old is None else f"{old}, {text}"

    def on_headers_complete(self) -> None:
        self._headers_done = True
        status = self._parser.get_status_code()
        if status == 101:
            self._raise(HttpProtocolError(f"{self.where}: unexpected protocol upgrade"))
        if status < 200:
            self._informational = True  # 100 Continue, 103 Early Hints: the real one follows
            return
        self._status = status
        length = self._headers.get("content-length", "")
        if length.isdigit() and int(length) > self._max_body:
            self._raise(self._too_large())
        if self._head:
            self.reusable = self._parser.should_keep_alive()
            self._finish()

    def on_body(self, body: bytes) -> None:
        if self._done:
            self._raise(HttpProtocolError(f"{self.where}: body in a reply to HEAD"))
        self._size += len(body)
        if self._size > self._max_body:
            self._raise(self._too_large())
        self._body.append(body)

    def on_message_complete(self) -> None:
        if self._informational:
            self._informational = self._headers_done = False
            self._head_bytes = 0
            return
        if not self._done:
            self.reusable = self.reusable and self._parser.should_keep_alive()
            self._finish()

    # helpers

    def _eof(self) -> None:
        """The peer closed: that ends a read-until-close body, and fails anything else."""
        if self._waiter is None or self._waiter.done():
            return
        framed = (
            "content-length" in self._headers
            or "chunked" in self._headers.get("transfer-encoding", "").lower()
        )
        if self._headers_done and not self._informational and not framed:
            self.reusable = False
            self._finish()
        elif not self._got_bytes:
            self._fail(NoResponse(f"{self.where}: connection closed before any response"))
        else:
            self._fail(HttpProtocolError(f"{self.where}: connection closed mid-response"))

    def _finish(self) -> None:
        self._done = True
        if self._waiter is not None and not self._waiter.done():
            body = b"".join(self._body)
            self._waiter.set_result(HttpResponse(self._status, self._headers, body))

    def _fail(self, exc: HttpProtocolError) -> None:
        self.abort()
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)

    def _raise(self, exc: HttpProtocolError) -> NoReturn:
        """Stop llhttp from inside a callback; `data_received` reports `exc`."""
        self._error = exc
        raise exc

    def _too_large(self) -> HttpProtocolError:
        return HttpProtocolError(f"{self.where}: response body over {self._max_body} bytes")
