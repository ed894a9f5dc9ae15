"""The email channel against a real SMTP server (aiosmtpd) on 127.0.0.1: plain and STARTTLS."""

from __future__ import annotations

import asyncio
import email
import ssl
from collections.abc import AsyncIterator, Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from pydantic import SecretStr

from paramedic.alerting.channels.email import EmailChannel
from tests.conftest import free_port, self_signed_certificate
from tests.integration.test_channel_http_payloads import clock, note

PASSWORD = "smtp-pass-0123456789"  # a test value


class Inbox:
    """An aiosmtpd handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self.envelopes: list[tuple[str, list[str], Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


def _auth(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and data == (b"paramedic", PASSWORD.encode())
    # handled=False: aiosmtpd then answers 535 itself (handled=True would leave it silent).
    return AuthResult(success=ok, handled=False)


@pytest.fixture(autouse=True)
async def settle() -> AsyncIterator[None]:
    """After a failed session aiosmtplib closes its transport with a callback scheduled on the
    loop; run one more loop iteration so the test's loop is not closed before that callback."""
    yield
    await asyncio.sleep(0)


@pytest.fixture
def plain() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


@pytest.fixture
def cert(tmp_path: Path) -> tuple[Path, Path]:
    """A throwaway self-signed certificate for 127.0.0.1, as (key, certificate)."""
    crt, key = self_signed_certificate(tmp_path)
    return key, crt


@pytest.fixture
def starttls(cert: tuple[Path, Path]) -> Iterator[tuple[Inbox, int]]:
    key, crt = cert
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(crt, key)
    inbox, port = Inbox(), free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=context,
        require_starttls=True,
        authenticator=_auth,
        auth_required=True,
    )
    controller.start()
    yield inbox, port
    controller.stop()


async def test_plain_smtp_message_fields(plain: tuple[Inbox, int]) -> None:
    """Subject is the title, From/To as configured, the body then the links, and the headers
    that make a retry the same message (Message-ID from the idempotency key)."""
    inbox, port = plain
    channel = EmailChannel(
        "compliance",
        host="127.0.0.1",
        port=port,
        security="none",
        sender="paramedic@trading.example",
        to=["compliance@trading.example", "cto@trading.example"],
        now=clock,
    )
    result = await channel.send(note())
    assert "delivered" == result.outcome
    ((mail_from, rcpt_tos, msg),) = inbox.envelopes
    assert "paramedic@trading.example" == mail_from
    assert ["compliance@trading.example", "cto@trading.example"] == rcpt_tos
    assert "[P0] engine crash - restart in progress" == msg["Subject"]
    assert "paramedic@trading.example" == msg["From"]
    assert "compliance@trading.example, cto@trading.example" == msg["To"]
    assert "Tue, 25 Nov 2025 10:15:23 +0000" == msg["Date"]
    assert "<ntf_1_alr_42@trading.example>" == msg["Message-ID"]
    assert "<alert-alr_42@trading.example>" == msg["References"]
    assert "ntf_1:alr_42" == msg["X-Paramedic-Idempotency-Key"]
    assert "alr_42" == msg["X-Paramedic-Alert-Id"]
    assert "trigger" == msg["X-Paramedic-Action"]
    assert "P0" == msg["X-Paramedic-Severity"]
    assert "high" == msg["Importance"]
    expected_body = (
        "What: engine crashed (SIGSEGV)\nImpact: trading halted\n\n"
        "Runbook: https://wiki/runbooks/crash\nDashboard: https://grafana/d/rec\n"
    )
    payload = msg.get_payload(decode=True)
    assert isinstance(payload, bytes)
    assert expected_body == payload.decode().replace("\r\n", "\n")


async def test_starttls_with_login(starttls: tuple[Inbox, int], cert: tuple[Path, Path]) -> None:
    """STARTTLS against a server that requires it and requires AUTH: the channel upgrades,
    verifies the certificate against the configured CA, logs in and delivers."""
    inbox, port = starttls
    channel = EmailChannel(
        "compliance",
        host="127.0.0.1",
        port=port,
        security="starttls",
        username="paramedic",
        password=SecretStr(PASSWORD),
        ca_file=cert[1],
        sender="paramedic@trading.example",
        to=["compliance@trading.example"],
    )
    result = await channel.send(note())
    assert "delivered" == result.outcome
    assert 1 == len(inbox.envelopes)


async def test_wrong_password_is_a_permanent_failure(
    starttls: tuple[Inbox, int], cert: tuple[Path, Path]
) -> None:
    """535 authentication failed is 5yz: retrying cannot help; the password is never shown."""
    _inbox, port = starttls
    channel = EmailChannel(
        "compliance",
        host="127.0.0.1",
        port=port,
        username="paramedic",
        password=SecretStr("wrong-password-123"),
        ca_file=cert[1],
        sender="paramedic@trading.example",
        to=["compliance@trading.example"],
    )
    result = await channel.send(note())
    assert ("failed", 535) == (result.outcome, result.status)
    assert "wrong-password-123" not in result.detail


async def test_untrusted_certificate_is_not_delivered(starttls: tuple[Inbox, int]) -> None:
    """Without the CA the self-signed certificate is refused: no password goes over a TLS
    session we cannot trust; it is `retry` (an operator may fix the trust store)."""
    _inbox, port = starttls
    channel = EmailChannel(
        "c",
        host="127.0.0.1",
        port=port,
        username="paramedic",
        password=SecretStr(PASSWORD),
        sender="p@t.example",
        to=["c@t.example"],
    )
    result = await channel.send(note())
    assert "retry" == result.outcome, result.detail
    assert PASSWORD not in result.detail


async def test_nobody_listening_is_retry() -> None:
    """Connection refused: retry."""
    channel = EmailChannel(
        "c", host="127.0.0.1", port=free_port(), security="none", sender="p@t.x", to=["c@t.x"]
    )
    result = await channel.send(note())
    assert "retry" == result.outcome
