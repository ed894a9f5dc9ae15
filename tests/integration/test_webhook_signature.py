"""docs/webhook-signature.md is true: its test vector is what the code signs, and its Python
snippet accepts a request a real `paramedic run` sent and refuses a replay or a change."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from paramedic.alerting.channels.loopback import LoopbackReceiver
from paramedic.alerting.channels.webhook import sign
from tests.conftest import REPO
from tests.integration.runner import RunningParamedic, config_file

pytestmark = pytest.mark.integration

DOC = REPO / "docs" / "webhook-signature.md"
TOKEN = "operator-token-0123456789"
SECRET = "hook-secret-0123456789"

Verify = Callable[..., bool]


def vector() -> dict[str, str]:
    """The test vector table, cell by cell (inline code only)."""
    section = DOC.read_text().split("## Test vector", 1)[1].split("##", 1)[0]
    rows = re.findall(r"^\| (.+?) \| `(.+)` \|$", section, re.MULTILINE)
    return {name.strip("`"): value for name, value in rows}


def snippet() -> str:
    [code] = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.DOTALL)
    return code


def verifier() -> Verify:
    namespace: dict[str, Any] = {}
    exec(compile(snippet(), str(DOC), "exec"), namespace)  # our own doc, read from the repo
    verify: Verify = namespace["verify"]
    return verify


def test_the_documented_vector_is_what_paramedic_signs() -> None:
    """The doc's secret, timestamp and body give the doc's signature, by the code and by the
    doc's own snippet; the snippet is about ten lines, as promised."""
    v = vector()
    body = v["body"].encode()
    assert v["X-Paramedic-Signature"] == sign(v["secret"], v["X-Paramedic-Timestamp"], body)
    headers = {k: v[k] for k in ("X-Paramedic-Timestamp", "X-Paramedic-Signature")}
    at = int(v["X-Paramedic-Timestamp"])
    assert verifier()(v["secret"].encode(), headers, body, now=at + 10)
    assert len(snippet().strip().splitlines()) <= 10


async def test_the_snippet_verifies_a_real_request_and_refuses_replays_and_changes(
    tmp_path: Path,
) -> None:
    """A test page through a real `paramedic run` to a webhook: the snippet accepts it; the
    same request 10 minutes later, a changed body, a changed timestamp or another secret are
    refused."""
    async with LoopbackReceiver() as hook:
        config = config_file(
            tmp_path,
            f"""channels:
  hook: {{webhook: {{url: "{hook.url}/hook", secret_env: HOOK_SECRET}}}}
""",
        )
        p = RunningParamedic(config, env={"OPS_TOKEN": TOKEN, "HOOK_SECRET": SECRET})
        try:
            await asyncio.to_thread(p.wait_started)
            async with httpx.AsyncClient(timeout=10) as client:
                response = await client.post(
                    f"{p.url}/api/test-alert",
                    json={"severity": "P2", "channel": "hook"},
                    headers={"Authorization": f"Bearer {TOKEN}"},
                )
            assert 201 == response.status_code, response.text
            request = await asyncio.wait_for(hook.next_request(), 10)
        finally:
            p.ensure_dead()
    verify = verifier()
    key, headers, body = SECRET.encode(), request.headers, request.body
    assert request.headers["X-Paramedic-Signature"].startswith("v1=")
    assert verify(key, headers, body)
    assert not verify(key, headers, body, now=time.time() + 600)
    assert not verify(key, headers, body.replace(b"P2", b"P3"))
    shifted = {**headers, "X-Paramedic-Timestamp": str(int(headers["X-Paramedic-Timestamp"]) + 1)}
    assert not verify(key, shifted, body)
    assert not verify(b"another-secret", headers, body)
