"""Start the real `paramedic run` in a subprocess and wait for the events it prints."""

from __future__ import annotations

import asyncio
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

from tests.conftest import free_port

ANNOUNCE = re.compile(r"API on (http://\S+)")
T = TypeVar("T")

OPERATOR_TOKEN = "operator-token-0123456789"


def config_file(tmp_path: Path, body: str, *, operator: str | None = "olga") -> Path:
    """tmp_path/paramedic.yaml: the API on a free loopback port with one operator token
    (named `operator`, read from $OPS_TOKEN; None: no token at all), the store in
    var/p.db, then `body` (channels, alerting, services...)."""
    tokens = (
        f"\n  tokens: [{{name: {operator}, role: operator, token_env: OPS_TOKEN}}]"
        if operator
        else ""
    )
    path = tmp_path / "paramedic.yaml"
    path.write_text(
        f"\napi:\n  listen: 127.0.0.1:{free_port()}{tokens}\nstore: {{path: var/p.db}}\n{body}"
    )
    return path


def wait_until(what: str, check: Callable[[], T], within: float = 15.0, every: float = 0.05) -> T:
    """`check()` until it is truthy, and its value: another process's state has no event to
    wait on across the process boundary, so it is polled, bounded by `within` seconds."""
    deadline = time.monotonic() + within
    while not (found := check()):
        if time.monotonic() > deadline:
            msg = f"timed out after {within:g} s waiting for {what}"
            raise AssertionError(msg)
        time.sleep(every)
    return found


async def until(what: str, check: Callable[[], T], within: float = 15.0) -> T:
    """`wait_until` off the event loop (a check may call paramedic's API, and the loop may
    host the loopback receivers paramedic is delivering to meanwhile)."""
    return await asyncio.to_thread(wait_until, what, check, within)


class RunningParamedic:
    """A `paramedic run` process whose stderr is read line by line on a thread."""

    def __init__(self, config: Path, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "paramedic.cli", "run", "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.output: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.url = ""

    def _read(self) -> None:
        assert self.proc.stderr is not None
        with self.proc.stderr:
            for line in self.proc.stderr:
                self.output.append(line)
                self.lines.put(line)
        self.lines.put(None)

    def wait_started(self, timeout: float = 30.0) -> str:
        """Block until paramedic announces its API (or exits); return the API URL."""
        while True:
            line = self.lines.get(timeout=timeout)
            if line is None:
                msg = f"paramedic exited before starting: {''.join(self.output)}"
                raise AssertionError(msg)
            match = ANNOUNCE.search(line)
            if match:
                self.url = match[1]
                return self.url

    def wait_for_line(self, needle: str, within: float = 30.0) -> str:
        """The next line of paramedic's log that contains `needle` (each wait reads on from
        the line the previous one returned)."""
        while True:
            line = self.lines.get(timeout=within)
            if line is None:
                msg = f"paramedic exited before {needle!r}: {''.join(self.output)}"
                raise AssertionError(msg)
            if needle in line:
                return line

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.get(self.url + path, timeout=5.0, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.post(self.url + path, timeout=5.0, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.delete(self.url + path, timeout=5.0, **kwargs)

    def signal(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int:
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=5)
        return code

    def child_pids(self) -> list[int]:
        events = self.get("/api/timeline", params={"limit": 1000}).json()["events"]
        return [e["payload"]["pid"] for e in events if e["kind"] == "process.spawned"]

    def ensure_dead(self) -> None:
        """After a failed test: SIGTERM first, so paramedic stops its children; then SIGKILL."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(timeout=5)


async def started(config: Path, env: dict[str, str] | None = None) -> RunningParamedic:
    """`paramedic run --config config`, once it announced its API (waited for off the loop)."""
    p = RunningParamedic(config, env=env)
    await asyncio.to_thread(p.wait_started)
    return p


def pid_alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


async def run_cli(
    url: str,
    *args: str,
    token: str | None = OPERATOR_TOKEN,
    columns: int | None = None,
    stdin: str = "",
) -> tuple[int, str, str]:
    """`python -m paramedic.cli ARGS` as a user runs it against `url`: the token in
    PARAMEDIC_TOKEN (None: unset), the terminal `columns` wide when given, `stdin` as its
    input; its exit code, standard output and standard error."""
    env = {k: v for k, v in os.environ.items() if k != "PARAMEDIC_TOKEN"}
    env["PARAMEDIC_URL"] = url
    if token is not None:
        env["PARAMEDIC_TOKEN"] = token
    if columns is not None:
        env["COLUMNS"] = str(columns)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "paramedic.cli",
        *args,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), 30)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()
