"""A silence holds an alert's whole ladder, not only its first page (a P0 under a silence
used to page the backup at +2 min, the team lead at +5...): an alert held for everyone
starts no ladder until it is released."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from paramedic.alerting.model import Alert
from paramedic.alerting.service import AlertingService
from paramedic.config.alerting import AlertingConfig
from paramedic.store.sqlite import SQLiteStore
from paramedic.testing import CapturingChannel as Capture
from paramedic.testing import FakeClock


async def test_a_config_silence_holds_every_rung_of_a_p0(tmp_path: Path) -> None:
    """Silenced for an hour: at +0, +2, +5, +10 and +30 min nothing is queued for anyone,
    and the hold is on the timeline with the silence's reason."""
    store = SQLiteStore(tmp_path / "p.db")
    await store.open()
    clock = FakeClock()
    channel = Capture()
    recorded: list[Any] = []
    jobs: list[Any] = []
    config = AlertingConfig.model_validate(
        {
            "silences": [
                {
                    "id": "rebuild",
                    "matchers": ["service=engine"],
                    "ends": "2026-01-01T01:00:00Z",
                    "author": "olga",
                    "comment": "rebuilding",
                }
            ]
        }
    )
    service = AlertingService(
        config,
        clock=clock,
        store=store,
        channels={"log": channel},
        submit=recorded.extend,
        job=lambda coro: jobs.append(asyncio.ensure_future(coro)),
    )
    alert = Alert(
        id="eng",
        type="crash",
        source="engine",
        severity="P0",
        title="engine crashed",
        labels={"service": "engine", "kind": "crash"},
    )
    await service.raise_alert(alert)
    for minutes in (2, 5, 10, 30):
        clock.advance(minutes * 60 - (clock.monotonic() - 1000.0))
        await asyncio.gather(*jobs)
    escalated = [e.contacts for e in recorded if e.kind == "alert.escalated"]
    assert [] == escalated
    assert 0 == service.outbox.pending
    held = [e.receiver for e in recorded if e.kind == "alert.held"]
    assert ["everyone"] == held
    assert service.stats.held["silence"] == len(held)
    await store.close()
