"""The Apprise channel through the real Apprise library to a loopback json:// endpoint."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from pydantic import SecretStr

from paramedic.alerting.channels.apprise_channel import AppriseChannel
from paramedic.alerting.channels.loopback import LoopbackReceiver
from paramedic.core.errors import AlertingError
from tests.integration.test_channel_http_payloads import note


@pytest.fixture
async def server() -> AsyncIterator[LoopbackReceiver]:
    async with LoopbackReceiver() as receiver:
        yield receiver


async def test_apprise_json_url_arrives(server: LoopbackReceiver) -> None:
    """A json:// Apprise URL posts Apprise's JSON (title, message, type) to our receiver: the
    same code path as Twilio, Teams or FCM, without a SaaS account."""
    channel = AppriseChannel("phone", url=SecretStr(f"json://127.0.0.1:{server.port}/push"))
    result = await channel.send(note())
    await channel.close()
    assert "delivered" == result.outcome
    (req,) = server.requests
    assert "/push" == req.path
    sent = req.json()
    assert "[P0] engine crash - restart in progress" == sent["title"]
    assert note().body.strip() == sent["message"].strip()
    assert "failure" == sent["type"]


async def test_apprise_resolve_is_a_success_message(server: LoopbackReceiver) -> None:
    """Apprise cannot resolve anything on the far side, so a resolve is a message saying so."""
    channel = AppriseChannel("phone", url=SecretStr(f"json://127.0.0.1:{server.port}/push"))
    await channel.send(note(action="resolve"))
    sent = server.requests[0].json()
    assert "Resolved: [P0] engine crash - restart in progress" == sent["title"]
    assert "success" == sent["type"]


async def test_apprise_refusal_is_retry(server: LoopbackReceiver) -> None:
    """Apprise reports only yes/no, so a refused send is `retry` and the outbox decides."""
    server.status = 500
    channel = AppriseChannel("phone", url=SecretStr(f"json://127.0.0.1:{server.port}/push"))
    result = await channel.send(note())
    assert "retry" == result.outcome
    assert "127.0.0.1" not in result.detail


def test_unknown_apprise_url_is_refused_naming_only_the_scheme() -> None:
    """A URL Apprise cannot use fails at build time, naming its scheme but never the URL."""
    with pytest.raises(AlertingError) as caught:
        AppriseChannel("phone", url=SecretStr("nosuchscheme://TOKEN123@host"))
    assert "channel phone: apprise does not accept this URL (scheme 'nosuchscheme')" == str(
        caught.value
    )


async def test_ntfy_notices_in_a_row_each_arrive_once_and_are_delivered(
    server: LoopbackReceiver,
) -> None:
    """Apprise spaces two ntfy requests by its 5.5 s throttle: two notices sent at once (a
    progress push at 25 % then 50 %) are both reported delivered, and each arrives once
    (a send reported timed out while Apprise still sent it was retried: a duplicate)."""
    channel = AppriseChannel("push", url=SecretStr(f"ntfy://127.0.0.1:{server.port}/paramedic"))
    results = await asyncio.gather(
        channel.send(replace(note(), title="engine: Recovery 25% Complete")),
        channel.send(replace(note(), title="engine: Recovery 50% Complete")),
    )
    await channel.close()
    assert ["delivered", "delivered"] == [r.outcome for r in results]
    titles = [r.json()["title"] for r in server.requests]
    assert ["engine: Recovery 25% Complete", "engine: Recovery 50% Complete"] == titles
