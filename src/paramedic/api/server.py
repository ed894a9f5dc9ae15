"""uvicorn on a socket we bind ourselves.

Binding first lets `paramedic run` fail at once with "port in use" instead of a traceback
from inside uvicorn, and lets tests ask for port 0. Signal handling stays with the runtime:
uvicorn's own handlers are switched off.
"""

from __future__ import annotations

import contextlib
import errno
import socket
from collections.abc import Generator

import uvicorn
from fastapi import FastAPI

from paramedic.core.errors import LifecycleError

__all__ = ["ApiServer"]


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield  # the runtime owns SIGINT/SIGTERM


class ApiServer:
    """Binds host:port eagerly, serves the app until `shutdown`."""

    def __init__(self, app: FastAPI, host: str, port: int) -> None:
        self._app = app
        self._host = host
        self._port = port
        self._socket: socket.socket | None = None
        self._server: _Server | None = None

    def bind(self) -> tuple[str, int]:
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self._host, self._port))
        except OSError as exc:
            sock.close()
            if exc.errno == errno.EADDRINUSE:
                msg = (
                    f"port {self._host}:{self._port} is already in use (api.listen): stop what"
                    " listens there (another paramedic?) or give api.listen a free address"
                )
            else:
                msg = f"cannot listen on {self._host}:{self._port} (api.listen): {exc.strerror}"
            raise LifecycleError(msg) from exc
        sock.listen(128)
        sock.setblocking(False)
        self._socket = sock
        address = sock.getsockname()
        return address[0], address[1]

    @property
    def address(self) -> tuple[str, int]:
        assert self._socket is not None
        name = self._socket.getsockname()
        return name[0], name[1]

    async def serve(self) -> None:
        assert self._socket is not None, "bind() first"
        config = uvicorn.Config(
            self._app,
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
        )
        self._server = _Server(config)
        await self._server.serve(sockets=[self._socket])

    @property
    def started(self) -> bool:
        return self._server is not None and self._server.started

    def shutdown(self) -> None:
        if self._server is not None:
            self._server.should_exit = True

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
