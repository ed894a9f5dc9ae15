"""The Slack Web API channel (a bot token) against a loopback "Slack": the trigger is
chat.postMessage, an update with the first message's `ts` is chat.update of it, and Slack's
answers (`ok`, `error`, HTTP 429) become delivered / retry / failed."""

from __future__ import annotations

import dataclasses

from pydantic import SecretStr

from paramedic.alerting.channels.loopback import LoopbackReceiver
from paramedic.alerting.channels.slack_bot import SlackBotChannel
from paramedic.checks import HttpPool
from tests.integration.test_channel_http_payloads import clock, note

TOKEN = "xoxb-test-token-0123456789"  # a test value
POSTED = '{"ok": true, "channel": "C0123456789", "ts": "1764065723.000100"}'


def channel(http: HttpPool, server: LoopbackReceiver) -> SlackBotChannel:
    return SlackBotChannel(
        "team", http, token=SecretStr(TOKEN), channel="C0123456789", url=server.url, now=clock
    )


async def test_the_trigger_is_posted_and_its_update_edits_it_in_place(http: HttpPool) -> None:
    """chat.postMessage with the bearer token and the channel id; the answer's `ts` is in
    the detail as `ref=`; an update naming that `ts` is chat.update of the same message,
    carrying the new status; an update without one is posted as a new message."""
    async with LoopbackReceiver(reply=POSTED) as server:
        slack = channel(http, server)
        posted = await slack.send(note())
        assert ("delivered", "slack team chat.postMessage: ok ref=1764065723.000100") == (
            posted.outcome,
            posted.detail,
        )
        update = dataclasses.replace(
            note("update"),
            fields={**note().fields, "status": "recovering 50%"},
            reference="1764065723.000100",
        )
        edited = await slack.send(update)
        assert "delivered" == edited.outcome
        await slack.send(dataclasses.replace(update, reference=""))
        first, second, third = server.requests
        assert ["/chat.postMessage", "/chat.update", "/chat.postMessage"] == [
            r.path for r in server.requests
        ]
        assert f"Bearer {TOKEN}" == first.headers["Authorization"]
        assert first.headers["Content-Type"].startswith("application/json")
        body = first.json()
        assert ("C0123456789", "[P0] engine crash - restart in progress") == (
            body["channel"],
            body["text"],
        )
        assert "ts" not in body
        edit = second.json()
        assert ("C0123456789", "1764065723.000100") == (edit["channel"], edit["ts"])
        assert "Update: [P0] engine crash - restart in progress" == edit["text"]
        fields = {f["title"]: f["value"] for f in edit["attachments"][0]["fields"]}
        assert "recovering 50%" == fields["Status"]
        assert "ts" not in third.json()


async def test_slack_errors_are_retried_or_failed_and_never_show_the_token(
    http: HttpPool,
) -> None:
    """`ratelimited` is worth another attempt, `channel_not_found` is not; HTTP 429 keeps
    its Retry-After; no detail carries the token."""
    cases = [
        (LoopbackReceiver(reply='{"ok": false, "error": "ratelimited"}'), "retry", None),
        (LoopbackReceiver(reply='{"ok": false, "error": "channel_not_found"}'), "failed", None),
        (
            LoopbackReceiver(status=429, reply="slow down", reply_headers={"Retry-After": "7"}),
            "retry",
            7.0,
        ),
    ]
    for server, outcome, retry_after in cases:
        async with server:
            result = await channel(http, server).send(note())
        assert (outcome, retry_after) == (result.outcome, result.retry_after), result.detail
        assert TOKEN not in result.detail
