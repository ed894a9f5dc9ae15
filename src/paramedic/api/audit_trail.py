"""The audit trail of the API: one row per mutating call, written by the auth dependency.

Why in the auth dependency: every mutating endpoint must declare a role (the route test
enumerates the OpenAPI and refuses any that answers without a token), so the one place every
such call passes after it is admitted is `require()`; an endpoint cannot forget its audit row.

Order, for "nothing is lost": the row (who, role, when, from where, what, why) is durable
BEFORE the call acts; `AuditOutcome`, an ASGI middleware, writes how it ended (status and the
error's sentence) before the answer leaves. A row whose outcome is still '' after a restart
is a call cut short by a crash: the caller never learnt whether it took effect.

Refused calls (401, 403) write nothing to the store: an anonymous caller must not be able to
grow the store or queue fsyncs. They are counted (`paramedic_api_refused_total`) and logged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import structlog
from fastapi import HTTPException, Request

from paramedic.api.body_guard import parsed_json
from paramedic.core.jsoncodec import loads
from paramedic.store.outbox import AuditRow, OutboxStore

__all__ = ["MUTATING", "AuditOutcome", "begin", "note_target"]

log = structlog.get_logger("paramedic.audit")

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_SEQ = "paramedic_audit_seq"
_TARGET = "paramedic_audit_target"
_WHY_KEYS = ("reason", "comment", "text")
_WHY_MAX = 500

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


async def begin(request: Request, actor: str, role: str) -> None:
    """Record an admitted mutating call before it acts (durable on return)."""
    state = request.scope.setdefault("state", {})
    if request.method not in MUTATING or _SEQ in state:
        return
    context = request.app.state.context
    store: OutboxStore = context.store
    route = request.scope.get("route")
    action = getattr(route, "name", "") or request.url.path
    params = [str(v) for v in request.path_params.values()]
    target = "/".join(params) if params else request.url.path
    row = AuditRow(
        wall=context.clock.wall(),
        actor=actor,
        action=action,
        target=target,
        reason=_why(request),
        role=role,
        address=request.client.host if request.client else "",
        outcome="",
    )
    try:
        state[_SEQ] = await store.audit(row)
    except Exception as exc:
        log.error("audit row not recorded; call refused", action=action, error=str(exc))
        raise HTTPException(503, detail="cannot record the audit trail; nothing was done") from None


def note_target(request: Request, target: str) -> None:
    """Name what the call created (a new silence's id), for its audit row's outcome."""
    request.scope.setdefault("state", {})[_TARGET] = target


def _why(request: Request) -> str:
    """The caller's own words (`reason`, `comment`, `text`) from the JSON body, as the body
    guard parsed it (bounded by api.max_body_size; not read or parsed again here)."""
    try:
        data = parsed_json(request.scope)
    except KeyError:  # no body
        return ""
    if not isinstance(data, dict):
        return ""
    for key in _WHY_KEYS:
        value = data.get(key)
        if isinstance(value, str) and value:
            return value[:_WHY_MAX]
    return ""


class AuditOutcome:
    """ASGI middleware: fills in the outcome of an audited call before its answer leaves."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in MUTATING:
            await self.app(scope, receive, send)
            return
        held: list[Message] = []
        finished = False

        async def hold(message: Message) -> None:
            nonlocal finished
            if finished:
                await send(message)
                return
            held.append(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                finished = True
                await self._finish(scope, held)
                for m in held:
                    await send(m)

        try:
            await self.app(scope, receive, hold)
        except BaseException:
            await self._record(scope, "500: internal error (see paramedic's log)")
            raise

    async def _finish(self, scope: Scope, held: list[Message]) -> None:
        start = next((m for m in held if m["type"] == "http.response.start"), None)
        status = int(start["status"]) if start is not None else 0
        outcome = str(status)
        if status >= 400:
            body = b"".join(m.get("body", b"") for m in held if m["type"] == "http.response.body")
            outcome += f": {_detail(body)}"
        else:
            created = scope.get("state", {}).get(_TARGET)
            if created:
                outcome += f": {created}"
        await self._record(scope, outcome)

    @staticmethod
    async def _record(scope: Scope, outcome: str) -> None:
        seq = scope.get("state", {}).get(_SEQ)
        if seq is None:
            return
        store: OutboxStore = scope["app"].state.context.store
        try:
            await store.audit_outcome(seq, outcome[:_WHY_MAX])
        except Exception as exc:  # the action is done; say loudly what is not recorded
            log.error("audit outcome not recorded", seq=seq, outcome=outcome, error=str(exc))


def _detail(body: bytes) -> str:
    try:
        data = loads(body)
    except Exception:
        return body[:200].decode("utf-8", "replace")
    detail = data.get("detail") if isinstance(data, dict) else data
    if isinstance(detail, list):  # validation errors: name the fields
        parts = []
        for item in detail[:5]:
            if isinstance(item, dict):
                loc = ".".join(str(x) for x in item.get("loc", ()) if x != "body")
                parts.append(f"{loc}: {item.get('msg', '')}")
        return "; ".join(parts)
    return str(detail)[:_WHY_MAX]
