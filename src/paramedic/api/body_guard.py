"""The one gate every request body passes before a route sees it: size, JSON, depth.

Every POST of this API takes JSON. Hostile bodies used to reach the routes: `NaN` or
`Infinity` (which Python's json accepts) made the 422 answer itself fail to render (500), 100k
nested `[` hit the recursion limit (500), and a 20 MB field was stored. Here, before any
route runs:

- a body larger than `max_bytes` is answered 413, as soon as the declared Content-Length or
  the bytes streamed so far (a chunked body has no length) pass the limit, without reading
  the rest;
- a body that is not strict JSON (RFC 8259: no NaN, no Infinity, numbers that fit a double,
  valid UTF-8) is answered 400 with the parser's sentence and position;
- a body nested deeper than `max_depth` is answered 400.

The body read here is handed on unchanged, and its parsed value is kept in the request's
scope (`parsed_json`) for whoever reads it before or instead of FastAPI: the audit row's
reason and the Alertmanager webhook do not parse it again. Request validation
errors are rendered without the offending input's non-JSON values, so the 422 that names the
field can always be sent.
"""

from __future__ import annotations

import math
from typing import Any, Final

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "MAX_JSON_DEPTH",
    "BodyGuard",
    "install_body_guard",
    "parsed_json",
]

DEFAULT_MAX_BODY_BYTES: Final = 1024 * 1024
MAX_JSON_DEPTH: Final = 64
_WITH_BODY: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_PARSED: Final = "paramedic_json_body"


class BodyGuard:
    """Pure ASGI middleware (no BaseHTTPMiddleware: it must see the body as it streams)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int = DEFAULT_MAX_BODY_BYTES,
        max_depth: int = MAX_JSON_DEPTH,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _WITH_BODY:
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await _refuse(send, 400, "Content-Length: not a number of bytes")
                return
            if int(declared) > self.max_bytes:
                await _refuse(send, 413, self._too_big(f"Content-Length says {int(declared)}"))
                return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await _refuse(send, 413, self._too_big("more were sent"))
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body:
            try:
                scope.setdefault("state", {})[_PARSED] = _strict_json(body, self.max_depth)
            except _NotAccepted as exc:
                await _refuse(send, 400, str(exc))
                return
        await self.app(scope, _replay(body, receive), send)

    def _too_big(self, said: str) -> str:
        return (
            f"body: larger than the limit of {self.max_bytes} bytes ({said});"
            " api.max_body_size sets it"
        )


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return bytes(value).decode("latin-1").strip()
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that returns the body read here once, then the client's (disconnects)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def parsed_json(scope: Scope) -> Any:
    """The request's body as the guard parsed it (strict JSON, within the limits); KeyError
    when the request had no body (or did not pass the guard)."""
    return scope["state"][_PARSED]


class _NotAccepted(Exception):
    """Why a body is not acceptable JSON."""


def _json_problem(body: bytes, max_depth: int) -> str | None:
    """Why `body` is not acceptable JSON, or None."""
    try:
        _strict_json(body, max_depth)
    except _NotAccepted as exc:
        return str(exc)
    return None


def _strict_json(body: bytes, max_depth: int) -> Any:
    """`body` parsed, or _NotAccepted saying why it is not acceptable JSON."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        at = exc.pos
        for token, start in ((b"-Infinity", at - 1), (b"NaN", at), (b"Infinity", at)):
            if start >= 0 and body.startswith(token, start):
                msg = (
                    f"body: not JSON: {token.decode()} at char {start} is not a JSON number"
                    " (RFC 8259 has no NaN or Infinity); send a finite number"
                )
                raise _NotAccepted(msg) from None
        if "depth limit" in exc.msg:
            msg = f"body: nested deeper than {max_depth} levels"
        else:
            msg = f"body: not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        raise _NotAccepted(msg) from None
    if _depth_exceeds(value, max_depth):
        msg = f"body: nested deeper than {max_depth} levels"
        raise _NotAccepted(msg)
    return value


def _depth_exceeds(value: Any, max_depth: int) -> bool:
    """Iteratively: does any array or object lie more than `max_depth` levels deep?"""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > max_depth:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


async def _refuse(send: Send, status: int, detail: str) -> None:
    body = orjson.dumps({"detail": detail})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                # What is left of a refused body is not read: the connection cannot be reused.
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _json_safe(value: Any) -> Any:
    """`value` with what JSON cannot carry (NaN, infinities, bytes) as text."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 shape (type, loc, msg, input, ctx), always renderable."""
    assert isinstance(exc, RequestValidationError)
    errors = [
        {
            key: _json_safe(err.get(key))
            for key in ("type", "loc", "msg", "input", "ctx")
            if key in err
        }
        for err in exc.errors()
    ]
    return JSONResponse({"detail": errors}, status_code=422)


def install_body_guard(app: FastAPI, *, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
    """Put the guard in front of every route and make 422s safe to render."""
    app.add_middleware(BodyGuard, max_bytes=max_bytes)
    app.add_exception_handler(RequestValidationError, _validation_error)
