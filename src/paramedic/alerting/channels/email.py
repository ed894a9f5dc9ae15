"""Email through SMTP with aiosmtplib: the seed's compliance copy and weekly summaries.

STARTTLS on 587 by default (RFC 3207), implicit TLS on 465 (RFC 8314), or plain for a relay on
localhost. `Message-ID` is derived from the idempotency key, so a retried notification is the
same message to any mail system that deduplicates on it, and `References` names the alert so
clients thread trigger, acknowledge and resolve together. A status update is a reply to the
first message (RFC 5322 3.6.4): `In-Reply-To` is the trigger's Message-ID, which `References`
names too, and its subject starts with `Re: `. SMTP reply codes decide the outcome
(RFC 5321 4.2.1): 4yz is transient, 5yz permanent; connection problems are transient.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import Sequence
from email import _header_value_parser as hvp
from email.headerregistry import HeaderRegistry, MessageIDHeader
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import format_datetime
from pathlib import Path
from typing import Literal

import aiosmtplib
from pydantic import SecretStr

from paramedic.alerting.channels.base import (
    DeliveryResult,
    Notification,
    Now,
    Outcome,
    one_line,
    utc_now,
)
from paramedic.core.text import duration

__all__ = ["EmailChannel", "Security"]

Security = Literal["starttls", "tls", "none"]
_DEFAULT_PORT = {"starttls": 587, "tls": 465, "none": 25}
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def _message_ids(value: str) -> hvp.TokenList:
    """A References value: message ids separated by white space."""
    ids = hvp.TokenList()
    rest = value.strip()
    while rest:
        token, rest = hvp.get_msg_id(rest)
        ids.append(token)
        if rest[:1].isspace() or (rest and not str(token)[-1:].isspace()):
            ids.append(hvp.WhiteSpaceTerminal(" ", "fws"))
        rest = rest.lstrip()
    return ids


class _ReferencesHeader(MessageIDHeader):
    """A message id longer than a 78-column line, in an unstructured header (what In-Reply-To
    and References are by default), is folded into RFC 2047 encoded words, which no mail
    client matches to the message it names: these headers are lists of message ids."""

    value_parser = staticmethod(_message_ids)  # type: ignore[assignment]  # a list of ids


_HEADERS = HeaderRegistry()
_HEADERS.map_to_type("in-reply-to", MessageIDHeader)  # type: ignore[arg-type]  # a mixin
_HEADERS.map_to_type("references", _ReferencesHeader)  # type: ignore[arg-type]
_POLICY = default_policy.clone(header_factory=_HEADERS)


class EmailChannel:
    kind = "email"
    updates = True  # a reply in the first message's thread

    def __init__(
        self,
        name: str,
        *,
        host: str,
        sender: str,
        to: Sequence[str],
        port: int | None = None,
        security: Security = "starttls",
        username: str | None = None,
        password: SecretStr | None = None,
        ca_file: Path | None = None,
        timeout: float = 5.0,
        now: Now = utc_now,
    ) -> None:
        self.name = name
        self._host = host
        self._port = port or _DEFAULT_PORT[security]
        self._security = security
        self._sender = sender
        self._to = list(to)
        self._username = username
        self._password = password
        self._tls = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
        self._timeout = timeout
        self._now = now
        self._domain = sender.rpartition("@")[2] or "paramedic.invalid"

    def message(self, n: Notification) -> EmailMessage:
        msg = EmailMessage(policy=_POLICY)
        msg["Subject"] = f"Re: {n.title}" if n.thread else n.title
        msg["From"] = self._sender
        msg["To"] = ", ".join(self._to)
        msg["Date"] = format_datetime(self._now())
        msg["Message-ID"] = self._message_id(n.idempotency_key)
        references = f"<alert-{_ID_UNSAFE.sub('_', n.alert_id)}@{self._domain}>"
        if n.thread:
            msg["In-Reply-To"] = self._message_id(n.thread)
            references += f" {self._message_id(n.thread)}"
        msg["References"] = references
        msg["X-Paramedic-Idempotency-Key"] = n.idempotency_key
        msg["X-Paramedic-Alert-Id"] = n.alert_id
        msg["X-Paramedic-Action"] = n.action
        msg["X-Paramedic-Severity"] = n.severity
        if n.severity == "P0" and n.action == "trigger":
            msg["Importance"] = "high"
            msg["X-Priority"] = "1"
        lines = [n.body.rstrip(), ""] + [f"{text.title()}: {h}" for text, h in n.links.items()]
        msg.set_content("\n".join(lines).rstrip() + "\n")
        return msg

    def _message_id(self, key: str) -> str:
        """The Message-ID of the notification with idempotency key `key`."""
        return f"<{_ID_UNSAFE.sub('_', key)}@{self._domain}>"

    async def send(self, n: Notification) -> DeliveryResult:
        label = f"email {self.name}"
        password = self._password.get_secret_value() if self._password else None
        try:
            async with asyncio.timeout(self._timeout):
                refused, reply = await aiosmtplib.send(
                    self.message(n),
                    hostname=self._host,
                    port=self._port,
                    username=self._username,
                    password=password,
                    use_tls=self._security == "tls",
                    start_tls=self._security == "starttls",
                    tls_context=self._tls if self._security != "none" else None,
                    timeout=self._timeout,
                )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            outcome: Outcome = "retry" if all(400 <= c < 500 for c in codes) else "failed"
            return DeliveryResult(outcome, f"{label}: every recipient refused ({codes})")
        except aiosmtplib.SMTPResponseException as exc:
            kind: Outcome = "retry" if 400 <= exc.code < 500 else "failed"
            detail = one_line(f"{label}: SMTP {exc.code} {exc.message}")
            return DeliveryResult(kind, detail, status=exc.code)
        except (TimeoutError, aiosmtplib.SMTPTimeoutError):
            return DeliveryResult("retry", f"{label}: no answer within {duration(self._timeout)}")
        except (aiosmtplib.SMTPException, OSError) as exc:
            detail = one_line(f"{label}: {type(exc).__name__}: {exc}")
            if password:
                detail = detail.replace(password, "***")
            return DeliveryResult("retry", detail)
        detail = f"{label}: accepted ({one_line(reply, 80)})"
        if refused:
            detail += f"; refused {', '.join(sorted(refused))}"
        return DeliveryResult("delivered", detail)

    async def close(self) -> None:
        """One connection per message: nothing stays open between alerts."""
