"""The event stream (`GET /api/events/stream`) through a real `paramedic run` whose real child is
killed with SIGKILL: a client cut off mid-recovery and reconnected with `Last-Event-ID` gets
every event since, once, in order (the same seqs `GET /api/timeline` lists), then live ones."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.configs import SLEEPER, engine_plan
from tests.integration.runner import OPERATOR_TOKEN, RunningParamedic, config_file, started, until

pytestmark = pytest.mark.integration

ENV = {"OPS_TOKEN": OPERATOR_TOKEN}
SLOW = f'[{sys.executable!r}, "-c", "import time; time.sleep(1.5)"]'
STEPS = f"""\
            - {{name: Restart engine, restart_process: {{}}, timeout: 10s}}
            - {{name: Replay journal, command: {{argv: {SLOW}}}, timeout: 10s}}
            - {{name: Wait until healthy, wait_healthy: {{}}, timeout: 10s}}
"""


def timeline(p: RunningParamedic, after: int = 0) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    while True:
        got = p.get("/api/timeline", params={"after": after, "limit": 1000}).json()["events"]
        rows += got
        if len(got) < 1000:
            return rows
        after = got[-1]["seq"]


class Reader:
    """An SSE client on one streamed response: parses `id:` / `data:` messages."""

    def __init__(self, response: httpx.Response) -> None:
        self.lines = response.aiter_lines()
        self.comments: list[str] = []

    async def next(self, within: float = 20.0) -> tuple[int | None, dict[str, Any]]:
        seq: int | None = None
        data = ""
        async with asyncio.timeout(within):
            async for line in self.lines:
                if line.startswith(":"):
                    self.comments.append(line)
                elif line.startswith("id: "):
                    seq = int(line[4:])
                elif line.startswith("data: "):
                    data = line[6:]
                elif line == "" and data:
                    return seq, json.loads(data)
        msg = "the stream ended"
        raise AssertionError(msg)


async def test_a_client_cut_off_mid_recovery_resumes_with_last_event_id(tmp_path: Path) -> None:
    """Open the stream; kill -9 the engine; read until the recovery's second step starts,
    then drop the connection. Once the recovery has finished, reconnect with Last-Event-ID =
    the last id read: the stream replays exactly the timeline's events after it (same seqs,
    ids, kinds and sentences, in order, none twice), and an operator's note posted after the
    reconnect arrives once, after them."""
    p = await started(config_file(tmp_path, engine_plan(STEPS, argv=SLEEPER)), env=ENV)
    try:
        await until("the engine up", lambda: [e for e in timeline(p) if e["kind"] == "service.up"])
        async with httpx.AsyncClient(base_url=p.url, timeout=30) as client:
            first: list[tuple[int | None, dict[str, Any]]] = []
            async with client.stream("GET", "/api/events/stream") as response:
                assert 200 == response.status_code
                assert response.headers["content-type"].startswith("text/event-stream")
                reader = Reader(response)
                [pid] = [e["payload"]["pid"] for e in timeline(p) if e["kind"] == "process.spawned"]
                os.kill(pid, signal.SIGKILL)
                while True:
                    seq, data = await reader.next()
                    first.append((seq, data))
                    if data["kind"] == "recovery.step_started" and "Replay" in data["summary"]:
                        break
            # the connection is closed mid-recovery: the journal replay is still running
            last = first[-1][0]
            assert last is not None
            assert "failure.detected" in [d["kind"] for _, d in first]

            def finished() -> bool:
                return any(e["kind"] == "recovery.finished" for e in timeline(p, last))

            await until("the recovery finished", finished, within=30)
            headers = {"Last-Event-ID": str(last)}
            async with client.stream("GET", "/api/events/stream", headers=headers) as response:
                reader = Reader(response)
                note = await asyncio.to_thread(
                    p.post,
                    "/api/timeline/notes",
                    json={"text": "checked by hand"},
                    headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"},
                )
                assert 201 == note.status_code
                resumed: list[tuple[int | None, dict[str, Any]]] = []
                while not resumed or resumed[-1][0] != note.json()["seq"]:
                    resumed.append(await reader.next())
        stored = [e for e in timeline(p, last) if e["seq"] <= note.json()["seq"]]
        assert any(e["kind"] == "recovery.finished" for e in stored)
        expected = [(e["seq"], e["id"], e["kind"], e["summary"]) for e in stored]
        actual = [(seq, d["id"], d["kind"], d["summary"]) for seq, d in resumed]
        assert expected == actual
        seen = [s for s, _ in first] + [s for s, _ in resumed]
        assert len(seen) == len(set(seen))
        assert seen == sorted(seen)  # type: ignore[type-var]
        p.signal(signal.SIGTERM)
        assert 0 == await asyncio.to_thread(p.wait, 15)
    finally:
        await asyncio.to_thread(p.ensure_dead)


async def test_a_bad_last_event_id_is_refused_naming_the_header(tmp_path: Path) -> None:
    """Last-Event-ID that is not a timeline position: 400 naming the header, no stream."""
    p = await started(config_file(tmp_path, "services: {}\n"), env=ENV)
    try:
        got = await asyncio.to_thread(
            p.get, "/api/events/stream", headers={"Last-Event-ID": "evt_abc"}
        )
        assert 400 == got.status_code
        assert got.json()["detail"].startswith("Last-Event-ID:")
    finally:
        await asyncio.to_thread(p.ensure_dead)


async def test_a_stop_with_a_stream_open_says_so_and_exits_promptly(tmp_path: Path) -> None:
    """SIGTERM while a client holds the stream open: the client gets `paramedic.stopping`
    before the connection closes (a browser then retries until paramedic is back), and
    paramedic exits 0 at once: an open stream does not hold its stop."""
    p = await started(config_file(tmp_path, engine_plan()), env=ENV)
    try:
        await until("the engine up", lambda: [e for e in timeline(p) if e["kind"] == "service.up"])
        got: list[str] = []
        async with (
            httpx.AsyncClient(base_url=p.url, timeout=30) as client,
            client.stream("GET", "/api/events/stream") as response,
        ):
            lines = response.aiter_lines()
            assert "retry: 1000" == await anext(lines)
            start = time.monotonic()
            p.signal(signal.SIGTERM)
            assert 0 == await asyncio.to_thread(p.wait, 15)
            took = time.monotonic() - start
            with contextlib.suppress(httpx.RemoteProtocolError):  # cut, not ended: fine
                async for line in lines:
                    got.append(line)
        print(f"exit {took * 1000:.0f} ms after SIGTERM with a stream open")
        assert any('"kind":"paramedic.stopping"' in line for line in got)
        assert took < 1.5
    finally:
        await asyncio.to_thread(p.ensure_dead)
