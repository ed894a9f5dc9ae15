"""The long tail through Apprise: phone (Twilio voice/SMS), Teams, Telegram, ntfy, Pushover,
FCM mobile pushes (seed 5.4) without a hand-written client for each.

Apprise (https://github.com/caronc/apprise/wiki/Development_API) only sends: it cannot
acknowledge or resolve an incident on the far side, so acknowledge and resolve go out as
ordinary messages saying so. Its result is a yes/no per call with no provider status, so a
refusal is reported as `retry` and the outbox's attempt limit decides when to give up.
The Apprise URL embeds the provider's tokens: it is a secret, and only its scheme is ever shown.

Apprise spaces two requests of one plugin by its throttle (`request_rate_per_sec`: 5.5 s for
ntfy, Pushover...), sleeping before the send. A call given only our timeout reported TIMEOUT
and sent anyway a moment later, and the outbox's retry made it arrive twice (two progress
pushes in a row did). So sends are taken one at a time per channel, each given the
throttle on top of the timeout: a burst is spaced out, never duplicated.
"""

from __future__ import annotations

import asyncio
import warnings

import apprise
from pydantic import SecretStr

from paramedic.alerting.channels.base import DeliveryResult, Notification
from paramedic.core.errors import AlertingError

__all__ = ["AppriseChannel"]

_PREFIX = {
    "trigger": "",
    "acknowledge": "Acknowledged: ",
    "resolve": "Resolved: ",
    "update": "Update: ",
}
_TYPE = {
    "P0": apprise.NotifyType.FAILURE,
    "P1": apprise.NotifyType.FAILURE,
    "P2": apprise.NotifyType.WARNING,
    "P3": apprise.NotifyType.INFO,
}


class AppriseChannel:
    kind = "apprise"

    def __init__(self, name: str, *, url: SecretStr, timeout: float = 5.0) -> None:
        self.name = name
        self._timeout = timeout
        self._apobj = apprise.Apprise()
        with warnings.catch_warnings():
            # Apprise 2.x loads its plugins on the first add(); one imports the stdlib `imghdr`,
            # deprecated in 3.11. The warning is apprise's and not actionable here.
            warnings.filterwarnings("ignore", "'imghdr' is deprecated", DeprecationWarning)
            accepted = self._apobj.add(url.get_secret_value())
        if not accepted:
            scheme = url.get_secret_value().partition("://")[0] or "(none)"
            msg = f"channel {name}: apprise does not accept this URL (scheme {scheme!r})"
            raise AlertingError(msg)
        self._throttle = max(
            (float(getattr(s, "request_rate_per_sec", 0) or 0) for s in self._apobj), default=0.0
        )
        self._one_at_a_time = asyncio.Lock()

    async def send(self, n: Notification) -> DeliveryResult:
        kind = apprise.NotifyType.SUCCESS if n.action == "resolve" else _TYPE[n.severity]
        async with self._one_at_a_time:
            result = await self._apobj.async_notify(
                body=n.body or n.title,
                title=_PREFIX[n.action] + n.title,
                notify_type=kind,
                timeout=self._timeout + self._throttle,
            )
        if result:
            return DeliveryResult("delivered", f"apprise {self.name}: sent")
        return DeliveryResult("retry", f"apprise {self.name}: not sent ({_status(result)})")

    async def close(self) -> None:
        self._apobj.clear()


def _status(result: object) -> str:
    status = getattr(result, "status", None)
    return getattr(status, "name", "failure").lower()
