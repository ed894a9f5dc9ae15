"""Every mutating route, found in the live app's OpenAPI (a new endpoint is covered without
editing this file): refused without a token (401) and with a viewer token (403), each refusal
changing nothing; admitted, each call leaves one audit row with its outcome."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.harness import running_paramedic

pytestmark = pytest.mark.integration

TOKENS = {
    "VIEW_T": "viewer-token-0123456789",
    "OPS_T": "operator-token-0123456789",
}
CONFIG = """
  tokens:
    - {name: vic, role: viewer, token_env: VIEW_T}
    - {name: olga, role: operator, token_env: OPS_T}
"""
MUTATING = {"post", "put", "patch", "delete"}


def _bearer(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[name]}"}


async def _state(client: httpx.AsyncClient) -> dict[str, Any]:
    """Everything a refused call could have touched, as the API shows it."""
    ops = _bearer("OPS_T")
    return {
        "timeline": (await client.get("/api/timeline", params={"limit": 1000}, headers=ops)).json(),
        "audit": (await client.get("/api/audit", params={"limit": 1000}, headers=ops)).json(),
        "alerts": (await client.get("/api/alerts", headers=ops)).json(),
        "silences": (await client.get("/api/silences", headers=ops)).json(),
        "incidents": (await client.get("/api/incidents", headers=ops)).json(),
    }


async def test_every_mutating_route_refuses_without_a_token_or_with_a_weak_role(
    tmp_path: Path,
) -> None:
    """401 without a token, 401 with an unknown one, 403 with a viewer's, on every POST, PUT,
    PATCH and DELETE of the OpenAPI; the timeline, audit trail, alerts, silences and
    incidents are byte for byte what they were (a refusal is counted, not stored)."""
    async with running_paramedic(tmp_path, CONFIG, env=TOKENS) as (p, _timeline):
        host, port = p.parts.api.address
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}", timeout=10) as client:
            spec = (await client.get("/openapi.json")).json()
            routes = [
                (method.upper(), re.sub(r"\{[^}]+\}", "x", path))
                for path, ops in spec["paths"].items()
                for method in ops
                if method in MUTATING
            ]
            assert len(routes) >= 7, routes  # the enumeration found the API, not nothing
            before = await _state(client)
            refused: list[tuple[str, str, int, int, int]] = []
            for method, path in routes:
                anonymous = await client.request(method, path, json={})
                unknown = await client.request(
                    method, path, json={}, headers={"Authorization": "Bearer not-a-token-at-all"}
                )
                viewer = await client.request(method, path, json={}, headers=_bearer("VIEW_T"))
                codes = (anonymous.status_code, unknown.status_code, viewer.status_code)
                refused.append((method, path, *codes))
            assert [(m, p, 401, 401, 403) for m, p, *_ in refused] == refused
            assert before == await _state(client)
            metrics = (await client.get("/metrics")).text
            assert f'paramedic_api_refused_total{{status="403"}} {len(routes)}.0' in metrics


async def test_every_admitted_mutating_call_leaves_one_audit_row_with_its_outcome(
    tmp_path: Path,
) -> None:
    """With an operator token, each mutating route (called with an empty body, so most answer
    422) writes exactly one audit row: who, role, ISO time, address, action, outcome."""
    async with running_paramedic(tmp_path, CONFIG, env=TOKENS) as (p, _timeline):
        host, port = p.parts.api.address
        ops = _bearer("OPS_T")
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}", timeout=10) as client:
            spec = (await client.get("/openapi.json")).json()
            for path, operations in spec["paths"].items():
                for method in operations:
                    if method not in MUTATING:
                        continue
                    concrete = re.sub(r"\{[^}]+\}", "x", path)
                    answer = await client.request(method.upper(), concrete, json={}, headers=ops)
                    entries = (await client.get("/api/audit", headers=ops)).json()["entries"]
                    newest = entries[0]
                    seen = (newest["who"], newest["role"], newest["address"])
                    assert ("olga", "operator", "127.0.0.1") == seen, (method, path)
                    assert newest["outcome"].startswith(str(answer.status_code)), newest
                    assert operations[method]["operationId"].startswith(newest["action"])
                    iso = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00"
                    assert re.fullmatch(iso, newest["at"]), newest
            everything = (await client.get("/api/audit", headers=ops)).json()["entries"]
            calls = sum(1 for ops_ in spec["paths"].values() for m in ops_ if m in MUTATING)
            assert calls == len(everything)


async def test_the_reason_of_a_chunked_body_is_in_its_audit_row(tmp_path: Path) -> None:
    """A body sent chunked (no Content-Length) is audited with the caller's own words all the
    same (the audit reads the body guard's parse; it used to read only declared lengths)."""
    async with running_paramedic(tmp_path, CONFIG, env=TOKENS) as (p, _timeline):
        host, port = p.parts.api.address
        ops = {**_bearer("OPS_T"), "Content-Type": "application/json"}

        async def chunks() -> Any:
            yield b'{"text": "restarted '
            yield b'by hand"}'

        async with httpx.AsyncClient(base_url=f"http://{host}:{port}", timeout=10) as client:
            sent = await client.post("/api/timeline/notes", content=chunks(), headers=ops)
            assert 201 == sent.status_code, sent.text
            assert "content-length" not in sent.request.headers
            [entry] = (await client.get("/api/audit", headers=ops)).json()["entries"]
            assert ("add_note", "restarted by hand", "201") == (
                entry["action"],
                entry["reason"],
                entry["outcome"],
            )
