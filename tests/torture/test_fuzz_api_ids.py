"""Every route that takes an id, found in the live OpenAPI, called with ids that do not exist
(numbers past 64 bits, negative, text, unicode, 300 characters): a 4xx naming it, never a
5xx; GET and DELETE of an unknown id answer 404 (or 422 for an id of the wrong type)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.integration.harness import running_paramedic

pytestmark = pytest.mark.integration

TOKENS = {"OPS_T": "operator-token-0123456789"}
CONFIG = """
  tokens:
    - {name: olga, role: operator, token_env: OPS_T}
"""
UNKNOWN_IDS = [
    "0",
    "1",
    "-1",
    "999999999",
    "9" * 40,
    "18446744073709551616",
    "1e3",
    "nope",
    "x" * 300,
    "%C3%A9t%C3%A9",
    "%00",
    "%20",
    "..",
]


async def test_unknown_ids_answer_4xx_never_5xx(tmp_path: Path) -> None:
    """Each (method, route with an id, unknown id), as an operator with a well-formed body."""
    async with running_paramedic(tmp_path, CONFIG, env=TOKENS) as (p, _timeline):
        host, port = p.parts.api.address
        ops = {"Authorization": f"Bearer {TOKENS['OPS_T']}"}
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}", timeout=10) as client:
            spec = (await client.get("/openapi.json")).json()
            routes = [
                (method.upper(), path)
                for path, operations in spec["paths"].items()
                if "{" in path
                for method in operations
            ]
            assert len(routes) >= 9, routes  # incidents, approvals, silences, alerts
            wrong: list[tuple[str, str, int, str]] = []
            for method, path in routes:
                for unknown in UNKNOWN_IDS:
                    url = re.sub(r"\{[^}]+\}", unknown, path)
                    body = {"reason": "fuzz"} if method == "POST" else None
                    answer = await client.request(method, url, json=body, headers=ops)
                    fine = (404, 422) if method in ("GET", "DELETE") else range(400, 500)
                    if answer.status_code not in fine:
                        wrong.append((method, url[:80], answer.status_code, answer.text[:200]))
            assert [] == wrong
