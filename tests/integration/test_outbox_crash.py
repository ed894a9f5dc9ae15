"""Nothing is lost: kill -9 of paramedic mid-delivery, restart, and every page arrives."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import httpx
import pytest

from paramedic.alerting.channels.loopback import LoopbackReceiver
from tests.integration.runner import RunningParamedic, config_file, started

pytestmark = pytest.mark.integration

TOKEN = "operator-token-0123456789"
ENV = {"OPS_TOKEN": TOKEN, "HOOK_SECRET": "hook-secret-0123456789"}


def write_config(tmp_path: Path, retried: str, in_flight: str) -> Path:
    return config_file(
        tmp_path,
        f"""channels:
  retried: {{webhook: {{url: "{retried}/hook", secret_env: HOOK_SECRET}}}}
  in-flight: {{webhook: {{url: "{in_flight}/hook", secret_env: HOOK_SECRET, timeout: 30s}}}}
""",
    )


async def page(p: RunningParamedic, channel: str) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(
            f"{p.url}/api/test-alert",
            json={"severity": "P0", "channel": channel},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert 201 == response.status_code, response.text


async def test_kill_9_while_retrying_and_while_in_flight_then_both_delivered(
    tmp_path: Path,
) -> None:
    """One page is being retried (503, Retry-After 2) and one is in flight (the receiver holds
    the request) when paramedic is SIGKILLed. After a restart both are delivered, each with
    the idempotency key it had before, and the receivers acknowledge each key once."""
    async with (
        LoopbackReceiver(status=503, reply_headers={"Retry-After": "2"}) as retried,
        LoopbackReceiver(stall=True) as in_flight,
    ):
        config = write_config(tmp_path, retried.url, in_flight.url)
        first = await started(config, ENV)
        try:
            await page(first, "retried")
            await page(first, "in-flight")
            before_retried = await asyncio.wait_for(retried.next_request(), 10)
            before_in_flight = await asyncio.wait_for(in_flight.next_request(), 10)
            first.signal(signal.SIGKILL)
            await asyncio.to_thread(first.wait, 10)
        finally:
            first.ensure_dead()
        retried.status, retried.reply_headers = 200, {}
        in_flight.stall = False
        second = await started(config, ENV)
        try:
            after_retried = await asyncio.wait_for(retried.next_request(), 15)
            after_in_flight = await asyncio.wait_for(in_flight.next_request(), 15)
            key = "Idempotency-Key"
            assert before_retried.headers[key] == after_retried.headers[key]
            assert before_in_flight.headers[key] == after_in_flight.headers[key]
            async with httpx.AsyncClient(timeout=10) as client:
                body = (await client.get(f"{second.url}/api/alerts")).json()
            notifications = [
                n for a in body["alerts"] for n in a["notifications"] if n["action"] == "trigger"
            ]
            by_channel = {n["channel"]: n for n in notifications}
            assert "delivered" == by_channel["retried"]["status"]
            assert ["retry", "delivered"] == [
                a["outcome"] for a in by_channel["retried"]["attempts"]
            ]
            assert "delivered" == by_channel["in-flight"]["status"]
            # The attempt cut off by the kill had been recorded as started: its outcome is
            # unknown, it says so, and the page was sent again under the same key for the
            # receiver to dedup. The retried one, whose outcome was recorded, is not "unknown".
            assert ["unknown", "delivered"] == [
                a["outcome"] for a in by_channel["in-flight"]["attempts"]
            ]
            second.signal(signal.SIGTERM)
            assert 0 == await asyncio.to_thread(second.wait, 15)
        finally:
            second.ensure_dead()
