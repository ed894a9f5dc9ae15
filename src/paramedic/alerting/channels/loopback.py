"""A loopback HTTP receiver that records what a channel sent: for paramedic's tests and users'.

Users point a channel at it to see the exact request their config produces, without a SaaS
account; our tests assert providers' documented payloads field by field against it. It answers
with a scripted status, body and headers, or withholds the answer to exercise timeouts.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from aiohttp import web

__all__ = ["LoopbackReceiver", "Recorded"]


@dataclass(frozen=True, slots=True)
class Recorded:
    """One request as it arrived on the wire."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.time)
    """Wall time of arrival (the body read), for latency measured against paramedic's
    timeline, whose times are wall times too."""

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class LoopbackReceiver:
    """An aiohttp server on 127.0.0.1, port chosen by the kernel; `async with` runs it."""

    status: int = 200
    reply: str = "ok"
    reply_headers: dict[str, str] = field(default_factory=dict)
    stall: bool = False  # True: hold every answer until close(), so the client times out
    requests: list[Recorded] = field(default_factory=list)
    _arrived: asyncio.Queue[Recorded] = field(default_factory=asyncio.Queue)
    _release: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None
    port: int = 0  # 0: the kernel chooses; kept after close(), so start() again reopens it

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, request: web.Request) -> web.Response:
        got = Recorded(request.method, request.path_qs, dict(request.headers), await request.read())
        self.requests.append(got)
        self._arrived.put_nowait(got)
        if self.stall:
            await self._release.wait()
        return web.Response(status=self.status, text=self.reply, headers=self.reply_headers)

    async def next_request(self) -> Recorded:
        """The next request not yet taken, waiting for it if it has not arrived."""
        return await self._arrived.get()

    async def start(self) -> LoopbackReceiver:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def close(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> LoopbackReceiver:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
