"""An in-process paramedic for integration tests, and event-driven waiting on its timeline."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from paramedic.config import parse_config
from paramedic.core.bus import Published
from paramedic.core.events import Event
from paramedic.runtime.app import Paramedic
from paramedic.runtime.build import build


class Timeline:
    """Everything the paramedic under test records, with awaitable waits for what comes next."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._cursor = 0  # waits read forward from the event the previous wait returned
        self._waiters: list[tuple[Callable[[Event], bool], asyncio.Future[int]]] = []

    def __call__(self, published: Published) -> None:
        self.events.append(published.event)
        index = len(self.events) - 1
        for entry in list(self._waiters):
            match, future = entry
            if not future.done() and match(published.event):
                future.set_result(index)
                self._waiters.remove(entry)

    async def wait_for(
        self, kind: str, where: Callable[[Event], bool] = lambda e: True, within: float = 10.0
    ) -> Event:
        """The first event of `kind` matching `where` after the one the last wait returned."""

        def match(e: Event) -> bool:
            return e.kind == kind and where(e)

        for index in range(self._cursor, len(self.events)):
            if match(self.events[index]):
                self._cursor = index + 1
                return self.events[index]
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiters.append((match, future))
        index = await asyncio.wait_for(future, within)
        self._cursor = index + 1
        return self.events[index]

    def of(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.kind == kind]


@asynccontextmanager
async def running_paramedic(
    tmp_path: Path, config_yaml: str, env: dict[str, str] | None = None
) -> AsyncIterator[tuple[Paramedic, Timeline]]:
    """Start a Paramedic from YAML (API on a free port, store in tmp_path); stop it after.

    The `api:` section comes last in the prefix, so `config_yaml` may begin with more of its
    keys, indented (tokens...).
    """
    text = "store:\n  path: p.db\napi:\n  listen: 127.0.0.1:0\n" + config_yaml
    config = parse_config(text, env=env or {}, base_dir=tmp_path)
    paramedic = Paramedic(build(config, base_dir=tmp_path))
    timeline = Timeline()
    paramedic.parts.bus.add_listener(timeline)
    await paramedic.start()
    try:
        yield paramedic, timeline
    finally:
        await paramedic.stop("test over")


def api(p: Paramedic, token: str | None = None) -> httpx.AsyncClient:
    """A client of `p`'s API, with `token` as its bearer (None: anonymous)."""
    host, port = p.parts.api.address
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(base_url=f"http://{host}:{port}", headers=headers, timeout=10)


async def kill_engine(p: Paramedic, timeline: Timeline) -> Any:
    """SIGKILL the running engine; return the failure.detected it causes."""
    pid = p.parts.processes["engine"].pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    return await timeline.wait_for("failure.detected")
