"""How every HTTP channel turns what happened on the wire into delivered / retry / failed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from email.utils import format_datetime

import pytest
from pydantic import SecretStr

from paramedic.alerting.channels.alertmanager import AlertmanagerChannel
from paramedic.alerting.channels.base import Channel, Notification
from paramedic.alerting.channels.jira import JiraChannel
from paramedic.alerting.channels.loopback import LoopbackReceiver
from paramedic.alerting.channels.pagerduty import PagerDutyChannel
from paramedic.alerting.channels.slack import SlackChannel
from paramedic.alerting.channels.webhook import WebhookChannel
from paramedic.checks import HttpPool
from tests.conftest import free_port
from tests.integration.test_channel_http_payloads import NOW, note

Factory = Callable[[HttpPool, str, float], Channel]
KEY = "TOPSECRET-token-0123456789abcdef"  # echoed back by the server to prove it is masked

FACTORIES: dict[str, Factory] = {
    "webhook": lambda s, url, t: WebhookChannel("w", s, url=url, secret=SecretStr(KEY), timeout=t),
    "slack": lambda s, url, t: SlackChannel("s", s, webhook_url=SecretStr(url), timeout=t),
    "pagerduty": lambda s, url, t: PagerDutyChannel(
        "p", s, routing_key=SecretStr(KEY), url=url, timeout=t
    ),
    "alertmanager": lambda s, url, t: AlertmanagerChannel("a", s, url=url, timeout=t),
    "jira": lambda s, url, t: JiraChannel(
        "j", s, url=url, project="OPS", email="b@a.com", api_token=SecretStr(KEY), timeout=t
    ),
}
KINDS = pytest.mark.parametrize("kind", sorted(FACTORIES))


@pytest.fixture
async def server() -> AsyncIterator[LoopbackReceiver]:
    async with LoopbackReceiver() as receiver:
        yield receiver


def trigger() -> Notification:
    return note(severity="P1")


@KINDS
@pytest.mark.parametrize("status", [200, 201, 202, 204])
async def test_2xx_is_delivered(
    http: HttpPool, server: LoopbackReceiver, kind: str, status: int
) -> None:
    """Any 2xx (Slack 200, PagerDuty 202, Jira 201...) means the provider took it."""
    server.status = status
    result = await FACTORIES[kind](http, server.url, 5.0).send(trigger())
    assert ("delivered", status) == (result.outcome, result.status)


@KINDS
@pytest.mark.parametrize("status", [400, 401, 403, 404, 410])
async def test_4xx_is_a_permanent_failure(
    http: HttpPool, server: LoopbackReceiver, kind: str, status: int
) -> None:
    """A refused request (invalid payload, bad key, no such service) would be refused again,
    so it is `failed`; the detail keeps the provider's reason with secrets masked."""
    server.status, server.reply = status, f"invalid_payload for {KEY}"
    url = f"{server.url}/services/{KEY}"
    result = await FACTORIES[kind](http, url, 5.0).send(trigger())
    assert ("failed", status) == (result.outcome, result.status)
    assert "invalid_payload" in result.detail
    if kind != "alertmanager":  # the only kind without a secret
        assert KEY not in result.detail
        assert "***" in result.detail


@KINDS
async def test_429_retries_after_the_given_seconds(
    http: HttpPool, server: LoopbackReceiver, kind: str
) -> None:
    """Rate limited: retry, no sooner than Retry-After says."""
    server.status, server.reply_headers = 429, {"Retry-After": "17"}
    result = await FACTORIES[kind](http, server.url, 5.0).send(trigger())
    assert ("retry", 429, 17.0) == (result.outcome, result.status, result.retry_after)


@KINDS
@pytest.mark.parametrize("status", [408, 500, 502, 503, 504])
async def test_timeouts_and_5xx_are_transient(
    http: HttpPool, server: LoopbackReceiver, kind: str, status: int
) -> None:
    """A provider outage or a request timeout is worth another attempt."""
    server.status = status
    result = await FACTORIES[kind](http, server.url, 5.0).send(trigger())
    assert ("retry", status, None) == (result.outcome, result.status, result.retry_after)


@KINDS
async def test_503_with_an_http_date_retry_after(
    http: HttpPool, server: LoopbackReceiver, kind: str
) -> None:
    """Retry-After may be an HTTP-date; a date in the past means "now" (0 s), never negative."""
    server.status, server.reply_headers = 503, {"Retry-After": format_datetime(NOW, usegmt=True)}
    result = await FACTORIES[kind](http, server.url, 5.0).send(trigger())
    assert ("retry", 0.0) == (result.outcome, result.retry_after)


@KINDS
async def test_connection_refused_is_transient(http: HttpPool, kind: str) -> None:
    """Nobody listening: retry, and say why in one line without the URL."""
    url = f"http://127.0.0.1:{free_port()}/services/{KEY}"
    result = await FACTORIES[kind](http, url, 5.0).send(trigger())
    assert "retry" == result.outcome
    assert None is result.status
    assert "cannot connect" in result.detail
    assert KEY not in result.detail


@KINDS
async def test_no_answer_within_the_timeout_is_transient(
    http: HttpPool, server: LoopbackReceiver, kind: str
) -> None:
    """A provider that accepts the connection but never answers costs at most the timeout."""
    server.stall = True
    result = await FACTORIES[kind](http, server.url, 0.05).send(trigger())
    assert "retry" == result.outcome
    assert "no answer within 50 ms" in result.detail
    assert 1 == len(server.requests)
