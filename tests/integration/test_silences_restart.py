"""A silence answered 201 is durable: `kill -9` right after, restart, and it is still in
force; its expiry survives a restart too; the audit rows say who, and how each call ended."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import httpx
import pytest

from tests.integration.runner import config_file, started

pytestmark = pytest.mark.integration

TOKEN = "operator-token-0123456789"
ENV = {"OPS_TOKEN": TOKEN}
AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def test_a_silence_survives_kill_9_and_its_expiry_survives_a_restart(
    tmp_path: Path,
) -> None:
    """POST -> 201 -> SIGKILL -> restart: listed, active, authored by the token's name;
    DELETE -> SIGTERM -> restart: listed as expired by that name; audit outcomes 201, 200."""
    config = config_file(
        tmp_path,
        """""",
    )
    first = await started(config, ENV)
    try:
        async with httpx.AsyncClient(base_url=first.url, headers=AUTH, timeout=10) as client:
            added = await client.post(
                "/api/silences",
                json={"matchers": ["service=engine"], "duration": "2h", "comment": "rebuild"},
            )
        assert 201 == added.status_code, added.text
        first.signal(signal.SIGKILL)
        await asyncio.to_thread(first.wait, 10)
    finally:
        first.ensure_dead()
    silence = added.json()["silence"]
    assert ("olga", "active", "api") == (silence["author"], silence["state"], silence["source"])
    second = await started(config, ENV)
    try:
        async with httpx.AsyncClient(base_url=second.url, headers=AUTH, timeout=10) as client:
            [listed] = (await client.get("/api/silences")).json()["silences"]
            assert silence == listed
            expired = await client.delete(f"/api/silences/{silence['id']}")
            assert 200 == expired.status_code, expired.text
            again = await client.delete(f"/api/silences/{silence['id']}")
            assert 409 == again.status_code
        second.signal(signal.SIGTERM)
        assert 0 == await asyncio.to_thread(second.wait, 15)
    finally:
        second.ensure_dead()
    third = await started(config, ENV)
    try:
        async with httpx.AsyncClient(base_url=third.url, headers=AUTH, timeout=10) as client:
            assert [] == (await client.get("/api/silences")).json()["silences"]
            [gone] = (await client.get("/api/silences?state=all")).json()["silences"]
            assert ("expired", "olga") == (gone["state"], gone["expired_by"])
            entries = (await client.get("/api/audit")).json()["entries"]
        third.signal(signal.SIGTERM)
        assert 0 == await asyncio.to_thread(third.wait, 15)
    finally:
        third.ensure_dead()
    outcomes = [(e["action"], e["target"], e["outcome"].partition(":")[0]) for e in entries]
    sid = silence["id"]
    assert [
        ("expire_silence", sid, "409"),
        ("expire_silence", sid, "200"),
        ("add_silence", "/api/silences", "201"),
    ] == outcomes
    assert (f"201: {sid}", "rebuild", "olga", "operator", "127.0.0.1") == (
        entries[2]["outcome"],
        entries[2]["reason"],
        entries[2]["who"],
        entries[2]["role"],
        entries[2]["address"],
    )
