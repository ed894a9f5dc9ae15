"""HttpPool against real servers on loopback: aiohttp for ordinary traffic, raw asyncio
servers for the edge cases an ordinary server would never produce."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web

from paramedic.checks import (
    HttpConnectError,
    HttpError,
    HttpPool,
    HttpProtocolError,
)
from paramedic.checks.http1 import parse_url
from tests.conftest import free_port, self_signed_certificate

SECRET_PATH = "/services/T000/SECRET123?token=SECRET456"
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]


# --- servers -----------------------------------------------------------------------------


class RawServer:
    """`asyncio.start_server` calling `handler(reader, writer, n)` for the n-th connection
    (from 1); the connection is closed when the handler returns."""

    def __init__(self, handler: Handler, host: str = "127.0.0.1") -> None:
        self.handler = handler
        self.host = host
        self.connections = 0
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._serve, self.host, 0)
        self.port: int = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        try:
            await self.handler(reader, writer, self.connections)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


async def read_request(reader: asyncio.StreamReader) -> bytes | None:
    """One whole request (head and Content-Length body), or None at a clean EOF."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return head + await reader.readexactly(length)


def ok(body: bytes = b"ok", extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


async def answer_all(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
    while await read_request(reader) is not None:
        writer.write(ok(b"conn%d" % n))


@contextlib.asynccontextmanager
async def aiohttp_server(
    app: web.Application, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[int]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


@pytest.fixture
async def pools() -> AsyncIterator[Callable[..., HttpPool]]:
    """Make pools with any options; every one is closed at the end."""
    made: list[HttpPool] = []

    def make(**options: object) -> HttpPool:
        made.append(HttpPool(**options))  # type: ignore[arg-type]
        return made[-1]

    yield make
    for pool in made:
        await pool.close()


# --- requests on the wire ------------------------------------------------------------------


async def test_post_goes_out_byte_for_byte(pools: Callable[..., HttpPool]) -> None:
    """Request line, Host with the port, User-Agent, Content-Length, then the caller's headers
    and the body: exactly that, nothing else."""
    seen: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        request = await read_request(reader)
        assert request is not None
        seen.append(request)
        writer.write(ok())

    async with RawServer(handler) as server:
        response = await pools().request(
            "POST",
            f"{server.url}/hook/a b?x=1&y=%2F",
            body=b"hello",
            headers={"X-Token": "abc", "Content-Type": "text/plain"},
            timeout=2,
        )
    assert 200 == response.status
    assert b"ok" == response.body
    assert [
        b"POST /hook/a%20b?x=1&y=%2F HTTP/1.1\r\n"
        + f"Host: 127.0.0.1:{server.port}\r\n".encode()
        + b"User-Agent: paramedic\r\n"
        b"Content-Length: 5\r\n"
        b"X-Token: abc\r\n"
        b"Content-Type: text/plain\r\n"
        b"\r\n"
        b"hello"
    ] == seen


async def test_caller_headers_override_host_and_user_agent_and_content_length_is_ours(
    pools: Callable[..., HttpPool],
) -> None:
    seen: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        request = await read_request(reader)
        assert request is not None
        seen.append(request)
        writer.write(ok())

    async with RawServer(handler) as server:
        await pools(user_agent="pm/1").request(
            "GET",
            server.url,
            headers={"host": "hooks.example", "USER-AGENT": "mine", "content-length": "99"},
            timeout=2,
        )
    assert [
        b"GET / HTTP/1.1\r\nContent-Length: 0\r\nhost: hooks.example\r\nUSER-AGENT: mine\r\n\r\n"
    ] == seen


@pytest.mark.parametrize(
    ("url", "key", "host_header", "target"),
    [
        ("http://Example.com/a?b=c#frag", ("http", "example.com", 80), "example.com", "/a?b=c"),
        ("https://example.com:443", ("https", "example.com", 443), "example.com", "/"),
        ("https://example.com:8443/x", ("https", "example.com", 8443), "example.com:8443", "/x"),
        ("http://[::1]:8080/p", ("http", "::1", 8080), "[::1]:8080", "/p"),
        ("http://[::1]/", ("http", "::1", 80), "[::1]", "/"),
    ],
)
def test_url_gives_pool_key_host_header_and_target(
    url: str, key: tuple[str, str, int], host_header: str, target: str
) -> None:
    """Default ports are left out of Host; IPv6 literals keep their brackets there only."""
    assert (key, host_header, target) == parse_url(url)[:3]


async def test_ipv6_literal_host(pools: Callable[..., HttpPool]) -> None:
    try:
        socket.socket(socket.AF_INET6).close()
        server = RawServer(answer_all, host="::1")
        await server.__aenter__()
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback here: {exc}")
    try:
        response = await pools().request("GET", f"{server.url}/v6", timeout=2)
    finally:
        await server.__aexit__()
    assert b"conn1" == response.body


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Bad": "SECRET\r\nInjected: 1"},
        {"X-Bad": "SECRET\nInjected: 1"},
        {"X-Bad": "SECRET\0"},
        {"X-Bad\r\nInjected": "SECRET"},
        {"X Bad": "SECRET"},
        {"X-Bad": "SECRET \u20ac"},  # not latin-1
    ],
)
async def test_cr_lf_in_a_header_is_refused_without_echoing_the_value(
    pools: Callable[..., HttpPool], headers: dict[str, str]
) -> None:
    with pytest.raises(ValueError, match=r"invalid header|latin-1") as info:
        await pools().request("POST", "http://127.0.0.1:9/", headers=headers, timeout=2)
    assert "SECRET" not in str(info.value)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/x", "'ftp'"),
        ("example.com/services/x", "''"),
        ("https://user:pw@example.com/x", "credentials"),
        ("http:///nohost", "no host"),
    ],
)
async def test_bad_urls_are_refused(pools: Callable[..., HttpPool], url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        await pools().request("GET", url, timeout=2)
    assert "pw" not in str(info.value)


# --- responses ---------------------------------------------------------------------------


async def test_json_round_trip(pools: Callable[..., HttpPool]) -> None:
    async def echo(request: web.Request) -> web.Response:
        payload = await request.json()
        return web.json_response({"got": payload, "ua": request.headers["User-Agent"]})

    app = web.Application()
    app.router.add_post("/echo", echo)
    payload = {"alert": "engine down", "severity": "P0", "n": [1, 2, 3], "u": "é"}
    async with aiohttp_server(app) as port:
        response = await pools().request(
            "POST",
            f"http://127.0.0.1:{port}/echo",
            body=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json"},
            timeout=2,
        )
    assert 200 == response.status
    assert "application/json" in response.headers["content-type"]
    assert {"got": payload, "ua": "paramedic"} == json.loads(response.body)


async def test_a_prepared_request_goes_out_as_built_once_per_send(
    pools: Callable[..., HttpPool],
) -> None:
    """`prepare` does no I/O (the outbox builds while its commit syncs); each `send` is one
    request with the prepared bytes."""
    seen: list[tuple[str, bytes]] = []

    async def record(request: web.Request) -> web.Response:
        seen.append((request.headers["Idempotency-Key"], await request.read()))
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", record)
    pool = pools()
    async with aiohttp_server(app) as port:
        prepared = pool.prepare(
            "POST", f"http://127.0.0.1:{port}/hook", body=b"{}", headers={"Idempotency-Key": "k1"}
        )
        assert [] == seen
        first = await pool.send(prepared, 2)
        second = await pool.send(prepared, 2)
    assert (200, 200) == (first.status, second.status)
    assert [("k1", b"{}"), ("k1", b"{}")] == seen


async def test_retry_after_is_readable(pools: Callable[..., HttpPool]) -> None:
    async def limited(request: web.Request) -> web.Response:
        return web.Response(status=429, headers={"Retry-After": "7"}, text="slow down")

    app = web.Application()
    app.router.add_post("/", limited)
    async with aiohttp_server(app) as port:
        response = await pools().request("POST", f"http://127.0.0.1:{port}/", timeout=2)
    assert (429, "7", b"slow down") == (
        response.status,
        response.headers["retry-after"],
        response.body,
    )


async def test_repeated_headers_are_joined(pools: Callable[..., HttpPool]) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await read_request(reader)
        writer.write(ok(extra=b"X-A: 1\r\nx-a: 2\r\nWarning: w\r\n"))

    async with RawServer(handler) as server:
        response = await pools().request("GET", server.url, timeout=2)
    assert {"content-length": "2", "x-a": "1, 2", "warning": "w"} == dict(response.headers)


async def test_chunked_response(pools: Callable[..., HttpPool]) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        while await read_request(reader) is not None:
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
            await writer.drain()
            writer.write(b"6\r\n world\r\n0\r\n\r\n")

    async with RawServer(handler) as server:
        pool = pools()
        first = await pool.request("GET", server.url, timeout=2)
        second = await pool.request("GET", server.url, timeout=2)
    assert (b"hello world", b"hello world") == (first.body, second.body)
    assert 1 == server.connections


async def test_100_continue_is_skipped(pools: Callable[..., HttpPool]) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        while await read_request(reader) is not None:
            writer.write(b"HTTP/1.1 100 Continue\r\nX-Interim: yes\r\n\r\n")
            await writer.drain()
            writer.write(b"HTTP/1.1 201 Created\r\nContent-Length: 4\r\n\r\ndone")

    async with RawServer(handler) as server:
        pool = pools()
        response = await pool.request("POST", server.url, body=b"x", timeout=2)
        again = await pool.request("POST", server.url, body=b"x", timeout=2)
    assert (201, b"done") == (response.status, response.body)
    assert "x-interim" not in response.headers
    assert b"done" == again.body
    assert 1 == server.connections


async def test_head_and_204_have_no_body_and_keep_the_connection(
    pools: Callable[..., HttpPool],
) -> None:
    """A HEAD reply announces a length it does not send; the next request must not wait for it."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n")
        await read_request(reader)
        writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        await answer_all(reader, writer, n)

    async with RawServer(handler) as server:
        pool = pools()
        head = await pool.request("HEAD", server.url, timeout=2)
        empty = await pool.request("DELETE", server.url, timeout=2)
        after = await pool.request("GET", server.url, timeout=2)
    assert [(200, b""), (204, b""), (200, b"conn1")] == [
        (r.status, r.body) for r in (head, empty, after)
    ]
    assert 1 == server.connections


async def test_read_until_close_body_then_a_new_connection(
    pools: Callable[..., HttpPool],
) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close %d" % n)

    async with RawServer(handler) as server:
        pool = pools()
        first = await pool.request("GET", server.url, timeout=2)
        second = await pool.request("GET", server.url, timeout=2)
    assert (b"until close 1", b"until close 2") == (first.body, second.body)
    assert 2 == server.connections


async def test_connection_close_is_honoured(pools: Callable[..., HttpPool]) -> None:
    """The server says close but leaves the socket open: the pool must not reuse it."""
    closed = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await read_request(reader)
        writer.write(ok(b"conn%d" % n, b"Connection: close\r\n"))
        if n == 1:
            assert b"" == await reader.read()  # the client hangs up; it never sends more
            closed.set()

    async with RawServer(handler) as server:
        pool = pools()
        first = await pool.request("GET", server.url, timeout=2)
        second = await pool.request("GET", server.url, timeout=2)
        async with asyncio.timeout(2):
            await closed.wait()
    assert (b"conn1", b"conn2") == (first.body, second.body)


# --- keep-alive and concurrency ----------------------------------------------------------


async def test_keep_alive_reuses_one_connection(pools: Callable[..., HttpPool]) -> None:
    peers: list[object] = []

    async def hook(request: web.Request) -> web.Response:
        assert request.transport is not None
        peers.append(request.transport.get_extra_info("peername"))
        return web.Response(text=str(len(peers)))

    app = web.Application()
    app.router.add_post("/hook", hook)
    async with aiohttp_server(app) as port:
        pool = pools()
        bodies = [
            (await pool.request("POST", f"http://127.0.0.1:{port}/hook", timeout=2)).body
            for _ in range(5)
        ]
    assert [b"1", b"2", b"3", b"4", b"5"] == bodies
    assert 1 == len(set(peers))


async def test_concurrency_is_capped_per_host(pools: Callable[..., HttpPool]) -> None:
    peers: set[object] = set()
    active = peak = 0

    async def hook(request: web.Request) -> web.Response:
        nonlocal active, peak
        assert request.transport is not None
        peers.add(request.transport.get_extra_info("peername"))
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.001)  # a slow receiver, so requests pile up
        active -= 1
        return web.Response(body=await request.read())

    app = web.Application()
    app.router.add_post("/hook", hook)
    pool = pools(max_per_host=8)
    async with aiohttp_server(app) as port:
        responses = await asyncio.gather(
            *(
                pool.request("POST", f"http://127.0.0.1:{port}/hook", body=b"%d" % i, timeout=5)
                for i in range(200)
            )
        )
    assert [b"%d" % i for i in range(200)] == [r.body for r in responses]
    assert len(peers) <= 8
    assert peak <= 8


async def test_waiting_for_a_slot_counts_against_the_timeout(
    pools: Callable[..., HttpPool],
) -> None:
    arrived = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await read_request(reader)
        arrived.set()
        await reader.read()  # never answers

    pool = pools(max_per_host=1)
    async with RawServer(handler) as server:
        holder = asyncio.create_task(pool.request("GET", server.url, timeout=5))
        await arrived.wait()
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await pool.request("GET", server.url, timeout=0.1)
        assert time.monotonic() - started < 1
        assert 1 == server.connections
        holder.cancel()
        with pytest.raises(asyncio.CancelledError):
            await holder


async def test_idle_connections_past_idle_timeout_are_not_reused(
    pools: Callable[..., HttpPool],
) -> None:
    closed = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await answer_all(reader, writer, n)
        if n == 1:
            closed.set()

    async with RawServer(handler) as server:
        pool = pools(idle_timeout=0.0)
        first = await pool.request("GET", server.url, timeout=2)
        second = await pool.request("GET", server.url, timeout=2)
        async with asyncio.timeout(2):
            await closed.wait()  # the expired one was closed, not left open
    assert (b"conn1", b"conn2") == (first.body, second.body)


async def test_idle_connection_to_a_host_not_asked_again_is_closed_too(
    pools: Callable[..., HttpPool],
) -> None:
    """Expiry is checked lazily, but on every host's checkout, so no transport is left open."""
    closed = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await answer_all(reader, writer, n)
        closed.set()

    async with RawServer(handler) as once, RawServer(answer_all) as other:
        pool = pools(idle_timeout=0.0)
        await pool.request("GET", once.url, timeout=2)
        await pool.request("GET", other.url, timeout=2)
        async with asyncio.timeout(2):
            await closed.wait()


# --- failures ----------------------------------------------------------------------------


async def test_timeout_on_a_silent_server_then_the_next_request_works(
    pools: Callable[..., HttpPool],
) -> None:
    hung_up = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        if n == 1:
            await read_request(reader)
            assert b"" == await reader.read()  # never answers; waits for the client to give up
            hung_up.set()
        else:
            await answer_all(reader, writer, n)

    pool = pools(max_per_host=1)
    async with RawServer(handler) as server:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await pool.request("POST", server.url + SECRET_PATH, timeout=0.2)
        elapsed = time.monotonic() - started
        async with asyncio.timeout(2):
            await hung_up.wait()
        response = await pool.request("POST", server.url, timeout=2)
    assert 0.15 < elapsed < 1.0
    assert b"conn2" == response.body


async def test_cancellation_mid_request_leaves_no_broken_connection(
    pools: Callable[..., HttpPool],
) -> None:
    arrived, hung_up = asyncio.Event(), asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        if n == 1:
            await read_request(reader)
            arrived.set()
            assert b"" == await reader.read()
            hung_up.set()
        else:
            await answer_all(reader, writer, n)

    pool = pools(max_per_host=1)  # a leaked slot would make the next request wait forever
    async with RawServer(handler) as server:
        task = asyncio.create_task(pool.request("POST", server.url, timeout=5))
        await arrived.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        async with asyncio.timeout(2):
            await hung_up.wait()
        response = await pool.request("POST", server.url, timeout=2)
    assert b"conn2" == response.body


@pytest.mark.parametrize("how", ["fin", "reset"])
async def test_stale_keep_alive_connection_is_retried_once_on_a_new_one(
    pools: Callable[..., HttpPool], how: str
) -> None:
    """The server drops a kept-alive connection just as the next request arrives on it."""
    requests: list[int] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        if n == 1:
            await read_request(reader)
            writer.write(ok(b"first"))
            await writer.drain()
            await read_request(reader)
            requests.append(n)
            if how == "reset":
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return  # closed without a byte of answer
        while await read_request(reader) is not None:
            requests.append(n)
            writer.write(ok(b"fresh"))

    async with RawServer(handler) as server:
        pool = pools()
        first = await pool.request("POST", server.url, body=b"1", timeout=2)
        second = await pool.request("POST", server.url, body=b"2", timeout=2)
    assert (b"first", b"fresh") == (first.body, second.body)
    assert [1, 2] == requests
    assert 2 == server.connections


async def test_server_closing_an_idle_connection_is_transparent(
    pools: Callable[..., HttpPool],
) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await read_request(reader)
        writer.write(ok(b"conn%d" % n))  # keep-alive by default, then closed anyway

    async with RawServer(handler) as server:
        pool = pools()
        bodies = [(await pool.request("GET", server.url, timeout=2)).body for _ in range(3)]
    assert [b"conn1", b"conn2", b"conn3"] == bodies


async def test_server_that_always_closes_gives_protocol_error_after_one_retry(
    pools: Callable[..., HttpPool],
) -> None:
    attempts: list[int] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        if n == 1:
            await read_request(reader)
            writer.write(ok())
            await writer.drain()
        while await read_request(reader) is not None:
            attempts.append(n)
            return

    async with RawServer(handler) as server:
        pool = pools()
        await pool.request("GET", server.url, timeout=2)
        with pytest.raises(HttpProtocolError, match="closed before any response") as reused:
            await pool.request("GET", server.url + SECRET_PATH, timeout=2)
        assert [1, 2] == attempts  # the reused connection, then exactly one fresh one
        with pytest.raises(HttpProtocolError) as fresh:
            await pool.request("GET", server.url + SECRET_PATH, timeout=2)
        assert [1, 2, 3] == attempts  # a fresh connection failing is not retried
    for exc in (reused.value, fresh.value):
        assert "SECRET" not in str(exc)
        assert f"127.0.0.1:{server.port}" in str(exc)


async def test_refused_port_is_a_connect_error_with_a_reason(
    pools: Callable[..., HttpPool],
) -> None:
    port = free_port()
    with pytest.raises(HttpConnectError) as info:
        await pools().request("POST", f"http://127.0.0.1:{port}{SECRET_PATH}", timeout=2)
    assert "refused" in info.value.reason.lower()
    assert info.value.reason in str(info.value)
    assert f"127.0.0.1:{port}" in str(info.value)
    assert "SECRET" not in str(info.value)


@pytest.mark.parametrize(
    ("reply", "match"),
    [
        (b"garbage\r\n\r\n", "malformed response"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "closed mid-response"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", "closed mid-response"),
        (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: ws\r\n\r\n", "upgrade"),
        (b"HTTP/1.1 200 OK\r\nX: " + b"a" * 1_000_000, "headers too large"),
    ],
)
async def test_bad_responses_are_protocol_errors(
    pools: Callable[..., HttpPool], reply: bytes, match: str
) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await read_request(reader)
        writer.write(reply)
        await writer.drain()

    async with RawServer(handler) as server:
        with pytest.raises(HttpProtocolError, match=match) as info:
            await pools().request("POST", server.url + SECRET_PATH, timeout=2)
    assert "SECRET" not in str(info.value)


@pytest.mark.parametrize(
    "reply",
    [
        ok(b"x" * 101),  # announced by Content-Length: refused before reading it
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"32\r\n"
        + b"x" * 50
        + b"\r\n"
        + b"33\r\n"
        + b"x" * 51
        + b"\r\n0\r\n\r\n",
        b"HTTP/1.0 200 OK\r\n\r\n" + b"x" * 101,
    ],
    ids=["content-length", "chunked", "until-close"],
)
async def test_body_over_max_body_is_refused_and_the_connection_closed(
    pools: Callable[..., HttpPool], reply: bytes
) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await read_request(reader)
        writer.write(reply if n == 1 else ok(b"x" * 100))
        await writer.drain()
        await answer_all(reader, writer, n)

    async with RawServer(handler) as server:
        pool = pools(max_body=100)
        with pytest.raises(HttpProtocolError, match="over 100 bytes") as info:
            await pool.request("GET", server.url + SECRET_PATH, timeout=2)
        response = await pool.request("GET", server.url, timeout=2)
    assert "SECRET" not in str(info.value)
    assert b"x" * 100 == response.body
    assert 2 == server.connections


async def test_close_closes_idle_connections_and_refuses_new_requests() -> None:
    hung_up = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await answer_all(reader, writer, n)
        hung_up.set()

    pool = HttpPool()
    async with RawServer(handler) as server:
        await pool.request("GET", server.url, timeout=2)
        await pool.close()
        async with asyncio.timeout(2):
            await hung_up.wait()
        with pytest.raises(HttpError, match="closed"):
            await pool.request("GET", server.url, timeout=2)


# --- TLS ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1."""
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
async def https_port(certificate: tuple[Path, Path]) -> AsyncIterator[int]:
    async def hook(request: web.Request) -> web.Response:
        return web.Response(body=b"tls:" + await request.read())

    app = web.Application()
    app.router.add_post("/hook", hook)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(*certificate)
    async with aiohttp_server(app, server_context) as port:
        yield port


async def test_https_with_a_trusted_private_certificate(
    pools: Callable[..., HttpPool], certificate: tuple[Path, Path], https_port: int
) -> None:
    pool = pools(ssl_context=ssl.create_default_context(cafile=str(certificate[0])))
    url = f"https://127.0.0.1:{https_port}/hook"
    first = await pool.request("POST", url, body=b"a", timeout=2)
    second = await pool.request("POST", url, body=b"b", timeout=2)
    assert (b"tls:a", b"tls:b") == (first.body, second.body)


async def test_https_default_context_rejects_a_self_signed_certificate(
    pools: Callable[..., HttpPool], https_port: int
) -> None:
    with pytest.raises(HttpConnectError) as info:
        await pools().request("POST", f"https://127.0.0.1:{https_port}{SECRET_PATH}", timeout=2)
    assert "CERTIFICATE_VERIFY_FAILED" in info.value.reason
    assert "SECRET" not in str(info.value)
