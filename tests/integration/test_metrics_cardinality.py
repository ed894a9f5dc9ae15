"""/metrics after 200 distinct alerts has as many series as after 20: no label is an id."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from paramedic.alerting.model import Alert
from paramedic.runtime.app import Paramedic
from tests.integration.harness import running_paramedic

pytestmark = pytest.mark.integration

TOKENS = {"OPS_T": "operator-token-0123456789"}
CONFIG = """
  tokens:
    - {name: olga, role: operator, token_env: OPS_T}
"""
SEVERITIES = ("P0", "P1", "P2", "P3")


def _alert(n: int) -> Alert:
    severity = SEVERITIES[n % 4]
    return Alert(
        id=f"bench-{n}",
        type="crash",
        source=f"svc-{n}",
        severity=severity,  # type: ignore[arg-type]
        title=f"svc-{n} crashed",
        labels={"service": f"svc-{n}", "kind": "crash", "instance": f"i-{n}"},
        what=f"alert number {n}",
    )


async def _drain(p: Paramedic) -> None:
    """Until the outbox has delivered everything (no event says so: bounded poll)."""
    assert p.parts.alerting is not None
    deadline = asyncio.get_running_loop().time() + 20
    while p.parts.alerting.outbox.pending:
        assert asyncio.get_running_loop().time() < deadline, "outbox never drained"
        await asyncio.sleep(0.02)


def _series(text: str) -> dict[str, float]:
    lines = [line.rpartition(" ") for line in text.splitlines() if not line.startswith("#")]
    return {name: float(value) for name, _, value in lines}


async def test_series_do_not_grow_with_the_number_of_alerts(tmp_path: Path) -> None:
    """20 alerts (each severity, some acknowledged, some resolved), then 180 more of the same
    mix: the set of series is identical; the dashboard metrics are there with sane values."""
    async with running_paramedic(tmp_path, CONFIG, env=TOKENS) as (p, _timeline):
        assert p.parts.alerting is not None
        host, port = p.parts.api.address
        ops = {"Authorization": f"Bearer {TOKENS['OPS_T']}"}
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}", headers=ops) as client:

            async def wave(first: int, last: int) -> dict[str, float]:
                assert p.parts.alerting is not None
                for n in range(first, last):
                    await p.parts.alerting.raise_alert(_alert(n))
                for n in range(first, last, 5):
                    answer = await client.post(f"/api/alerts/bench-{n}/ack", json={"reason": "x"})
                    assert 200 == answer.status_code, answer.text
                for n in range(first + 1, last, 5):
                    answer = await client.post(
                        f"/api/alerts/bench-{n}/resolve", json={"reason": "x"}
                    )
                    assert 200 == answer.status_code, answer.text
                await _drain(p)
                return _series((await client.get("/metrics")).text)

            after_20 = await wave(0, 20)
            after_200 = await wave(20, 200)
        assert sorted(after_20) == sorted(after_200)
        # of 200: every 5th acknowledged, the next one resolved; severity cycles P0..P3
        open_p0 = 'paramedic_alerts_open{severity="P0",state='
        assert 10 == after_200[open_p0 + '"acknowledged"}']
        assert 30 == after_200[open_p0 + '"firing"}']
        assert 50 == after_200['paramedic_alerts_raised_total{severity="P0"}']
        assert not [s for s in after_200 if "bench-" in s or "svc-" in s]
        families = {s.partition("{")[0] for s in after_200}
        expected = {
            "paramedic_alerts_open",
            "paramedic_alerts_raised_total",
            "paramedic_notification_latency_seconds_bucket",
            "paramedic_alerts_escalation_level",
            "paramedic_alerts_held_total",
            "paramedic_notifications_total",
        }
        assert expected <= families
