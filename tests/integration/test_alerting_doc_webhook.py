"""The webhook verifier printed in docs/alerting.md works on a real request from the real
webhook channel: a genuine request verifies, a repeat is recognised, a tampered body or a
wrong secret or a stale request is refused."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from paramedic.alerting.channels.http_pool import HttpPool
from paramedic.alerting.channels.loopback import LoopbackReceiver
from paramedic.alerting.channels.webhook import WebhookChannel
from tests.integration.test_channel_http_payloads import note

pytestmark = pytest.mark.integration

DOC = Path(__file__).resolve().parents[2] / "docs" / "alerting.md"


def documented_verify() -> Callable[..., Any]:
    section = DOC.read_text("utf-8").split("## Verifying the webhook signature", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None, "docs/alerting.md shows no verifier"
    namespace: dict[str, Any] = {}
    exec(compile(match[1], str(DOC), "exec"), namespace)  # our own doc, not input
    verify: Callable[..., Any] = namespace["verify"]
    return verify


async def test_the_documented_verifier_accepts_a_real_request_and_refuses_tampering() -> None:
    """Send one notification through the webhook channel to a loopback receiver; the doc's
    `verify` returns its payload, returns None for the same request again, and raises on a
    changed body, another secret, or a request built 10 minutes ago (a replay)."""
    verify = documented_verify()
    secret = SecretStr("hook-secret-0123456789")
    async with LoopbackReceiver() as server:
        http = HttpPool()
        url = server.url + "/hook"
        stale = datetime.now(UTC) - timedelta(minutes=10)
        try:
            channel = WebhookChannel("hook", http, url=url, secret=secret)
            assert "delivered" == (await channel.send(note())).outcome
            old = WebhookChannel("hook", http, url=url, secret=secret, now=lambda: stale)
            assert "delivered" == (await old.send(note())).outcome
        finally:
            await http.close()
    req, replayed = server.requests
    with pytest.raises(ValueError, match="refused as a possible replay"):
        verify(
            b"hook-secret-0123456789",
            replayed.body,
            replayed.headers["X-Paramedic-Signature"],
            set(),
        )
    signature = req.headers["X-Paramedic-Signature"]
    seen: set[str] = set()
    payload = verify(b"hook-secret-0123456789", req.body, signature, seen)
    assert ("ntf_1", "ntf_1:alr_42") == (payload["id"], payload["idempotency_key"])
    assert verify(b"hook-secret-0123456789", req.body, signature, seen) is None
    with pytest.raises(ValueError, match="bad signature"):
        verify(b"hook-secret-0123456789", req.body.replace(b"P0", b"P3"), signature, set())
    with pytest.raises(ValueError, match="bad signature"):
        verify(b"another-secret", req.body, signature, set())
