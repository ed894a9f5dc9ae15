"""A small keep-alive HTTP/1.1 client pool: alert delivery's transport, kept in the check kit.

Alert channels send one small POST at a time to a handful of hosts. aiohttp's ClientSession
spends most of its CPU on machinery those POSTs never use (cookie jars, redirects, tracing,
streaming readers); this pool speaks HTTP/1.1 on an asyncio Protocol (`http1.py`) and parses
responses with `httptools`, at roughly a third of the cost per request. It is a generic
transport, not an alerting detail, so it lives with the other outbound HTTP of paramedic.

Deliberately small: one request per connection at a time (no pipelining), whole bodies in
memory (bounded by `max_body`), no redirects, no cookies, no proxies. Error messages name only
`host:port`, never the path or query, because webhook URLs carry secrets (Slack, Teams, ...).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import ssl
from collections import deque
from collections.abc import Mapping

from paramedic.checks.http1 import (
    BAD_VALUE,
    Connection,
    HostKey,
    HttpConnectError,
    HttpError,
    HttpResponse,
    NoResponse,
    PreparedRequest,
    encode_request,
    parse_url,
)

__all__ = ["HttpPool"]


class _Host:
    """Connections to one (scheme, host, port): `count` is busy + idle + connecting."""

    __slots__ = ("count", "idle", "waiters")

    def __init__(self) -> None:
        self.idle: deque[Connection] = deque()  # oldest first; checkout takes the newest
        self.count = 0
        self.waiters: deque[asyncio.Future[None]] = deque()


class HttpPool:
    """Keep-alive connection pool; see the module docstring for what it leaves out."""

    def __init__(
        self,
        *,
        max_per_host: int = 64,
        idle_timeout: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
        max_body: int = 1 << 20,
        user_agent: str = "paramedic",
    ) -> None:
        if max_per_host < 1:
            raise ValueError("max_per_host must be at least 1")
        if BAD_VALUE.search(user_agent):
            raise ValueError("user_agent must not contain CR, LF or NUL")
        self._max = max_per_host
        self._idle_timeout = idle_timeout
        self._ssl = ssl_context
        self._max_body = max_body
        self._user_agent = user_agent
        self._hosts: dict[HostKey, _Host] = {}
        self._conns: set[Connection] = set()
        self._closed = False
        self._next_sweep = 0.0

    async def request(
        self,
        method: str,
        url: str,
        *,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        timeout: float,  # noqa: ASYNC109 - one bound for the whole request, slot wait included
    ) -> HttpResponse:
        """Send one request and read the whole response; `timeout` bounds everything, from
        waiting for a free connection to the last body byte, and raises `TimeoutError`."""
        return await self.send(self.prepare(method, url, body=body, headers=headers), timeout)

    def prepare(
        self,
        method: str,
        url: str,
        *,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
    ) -> PreparedRequest:
        """Parse, check and encode a request without touching the network, so a caller can
        build it while it waits for something else (the outbox: while its commit syncs)."""
        key, host_header, target, where = parse_url(url)
        data = encode_request(method, target, host_header, self._user_agent, headers, body)
        return PreparedRequest(key, where, data, method == "HEAD")

    async def send(
        self,
        request: PreparedRequest,
        timeout: float,  # noqa: ASYNC109 - one bound for the whole request, slot wait included
    ) -> HttpResponse:
        """`request` (see `prepare`) on a pooled connection; `timeout` as in `request`."""
        key, where, data, head = request
        async with asyncio.timeout(timeout):
            fresh = False
            while True:
                conn, reused = await self._acquire(key, where, fresh)
                ok = False
                try:
                    response = await conn.send(data, head)
                    ok = True
                    return response
                except NoResponse:
                    if not reused:
                        raise
                    # Servers close idle connections whenever they like; repeating is safe
                    # because every paramedic notification carries an idempotency key.
                    fresh = True
                finally:
                    self._release(key, conn, ok)

    async def close(self) -> None:
        """Close every connection; waiting and later requests raise HttpError."""
        self._closed = True
        for host in self._hosts.values():
            host.idle.clear()
            for waiter in host.waiters:
                if not waiter.done():
                    waiter.set_result(None)
        conns, self._conns = self._conns, set()
        for conn in conns:
            conn.abort()  # a client owes no TLS close_notify; do not wait on the peer
        if conns:
            await asyncio.wait([conn.lost for conn in conns])

    async def _acquire(self, key: HostKey, where: str, fresh: bool) -> tuple[Connection, bool]:
        """A connection for `key` and whether it was reused; `fresh` skips idle ones."""
        loop = asyncio.get_running_loop()
        self._sweep(loop.time())
        host = self._hosts.get(key)
        if host is None:
            host = self._hosts[key] = _Host()
        while True:
            if self._closed:
                raise HttpError("the HTTP pool is closed")
            self._prune(host, loop.time())
            if host.idle and not fresh:
                conn = host.idle.pop()
                if conn.usable():
                    return conn, True
                self._discard(host, conn)
            elif host.count < self._max:
                host.count += 1
                try:
                    conn = await self._connect(key, where)
                except BaseException:
                    host.count -= 1
                    self._wake(host)
                    raise
                self._conns.add(conn)
                if not self._closed:
                    return conn, False
                self._discard(host, conn)  # closed while connecting; the loop raises
            elif host.idle:  # a fresh one is wanted but the host is full: make room
                self._discard(host, host.idle.popleft())
            else:
                waiter: asyncio.Future[None] = loop.create_future()
                host.waiters.append(waiter)
                try:
                    await waiter
                except BaseException:
                    if waiter.cancelled():
                        with contextlib.suppress(ValueError):  # _wake may have dropped it
                            host.waiters.remove(waiter)
                    else:
                        self._wake(host)  # woken but leaving: pass the turn on
                    raise

    async def _connect(self, key: HostKey, where: str) -> Connection:
        scheme, host, port = key
        loop = asyncio.get_running_loop()
        context: ssl.SSLContext | None = None
        if scheme == "https":
            if self._ssl is None:
                self._ssl = ssl.create_default_context()  # loads the CA store: do it once
            context = self._ssl
        try:
            _, conn = await loop.create_connection(
                lambda: Connection(where, self._max_body, loop),
                host,
                port,
                ssl=context,
                server_hostname=host if context else None,
            )
        except OSError as exc:  # includes DNS (gaierror) and TLS (SSLError) failures
            if exc.errno and not isinstance(exc, ssl.SSLError | socket.gaierror):
                reason = os.strerror(exc.errno)  # asyncio's own text is "Connect call failed"
            else:
                reason = exc.strerror or str(exc) or type(exc).__name__
            raise HttpConnectError(f"cannot connect to {where}: {reason}", reason) from exc
        return conn

    def _release(self, key: HostKey, conn: Connection, ok: bool) -> None:
        host = self._hosts[key]
        if ok and conn.reusable and conn.usable() and not self._closed:
            conn.idle_since = asyncio.get_running_loop().time()
            host.idle.append(conn)
            self._wake(host)
        else:
            self._discard(host, conn)

    def _discard(self, host: _Host, conn: Connection) -> None:
        conn.abort()
        self._conns.discard(conn)
        host.count -= 1
        self._wake(host)

    def _prune(self, host: _Host, now: float) -> None:
        """Close idle connections past `idle_timeout`; they are the oldest, at the left."""
        while host.idle and now - host.idle[0].idle_since > self._idle_timeout:
            self._discard(host, host.idle.popleft())

    def _sweep(self, now: float) -> None:
        """Every `idle_timeout`, prune all hosts, so one never asked again leaks nothing."""
        if now < self._next_sweep:
            return
        self._next_sweep = now + self._idle_timeout
        for key, host in list(self._hosts.items()):
            self._prune(host, now)
            if host.count == 0 and not host.waiters:
                del self._hosts[key]

    @staticmethod
    def _wake(host: _Host) -> None:
        while host.waiters:
            waiter = host.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
