"""Bearer tokens and roles: viewer < operator < admin.

Every mutating endpoint declares the role it needs with `Depends(require("operator"))`; the
principal it returns carries the token's name. An admitted mutating call is written to the
audit trail here, before it acts (`api/audit_trail.py`), so no endpoint can forget it.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Annotated

import structlog
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from paramedic.api.audit_trail import begin
from paramedic.config.model import ApiToken, Role

__all__ = ["ANONYMOUS", "Principal", "TokenAuth", "require"]

log = structlog.get_logger("paramedic.api")

_RANK: dict[str, int] = {"viewer": 0, "operator": 1, "admin": 2}
_bearer = HTTPBearer(auto_error=False, description="A token from the api.tokens config section")
Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the token's name and role."""

    name: str
    role: Role | None


ANONYMOUS = Principal("anonymous", None)


class TokenAuth:
    """Looks a bearer token up in constant time per configured token."""

    def __init__(self, tokens: Sequence[ApiToken], *, read_requires_token: bool = False) -> None:
        self._tokens = [(t.secret.get_secret_value().encode(), t.name, t.role) for t in tokens]
        self.read_requires_token = read_requires_token
        # Refused calls, by status: counted and logged, never written to the store.
        self.refused: dict[str, int] = {"401": 0, "403": 0}

    def identify(self, presented: str) -> Principal | None:
        value = presented.encode()
        match: Principal | None = None
        for secret, name, role in self._tokens:
            # Compare against every token so timing does not tell which one was close.
            if hmac.compare_digest(secret, value):
                match = Principal(name, role)
        return match


def require(role: Role) -> Callable[..., Awaitable[Principal]]:
    """A FastAPI dependency admitting callers whose token has `role` or a higher one."""

    async def dependency(request: Request, credentials: Bearer) -> Principal:
        auth: TokenAuth = request.app.state.context.auth
        if credentials is None:
            if role == "viewer" and not auth.read_requires_token:
                return ANONYMOUS
            auth.refused["401"] += 1
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                detail=f"this endpoint needs a bearer token with role {role} or higher",
                headers={"WWW-Authenticate": "Bearer"},
            )
        principal = auth.identify(credentials.credentials)
        if principal is None:
            auth.refused["401"] += 1
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                detail="unknown bearer token",
                headers={"WWW-Authenticate": "Bearer"},
            )
        assert principal.role is not None
        if _RANK[principal.role] < _RANK[role]:
            auth.refused["403"] += 1
            log.warning(
                "refused: role too weak",
                token=principal.name,
                role=principal.role,
                needed=role,
                call=f"{request.method} {request.url.path}",
            )
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"role {role} required; token {principal.name!r} has role {principal.role}",
            )
        await begin(request, principal.name, principal.role)
        return principal

    return dependency
