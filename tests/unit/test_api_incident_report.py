"""`GET /api/incidents/{id}/report` and `POST /api/incidents/{id}/lessons` over a real SQLite
store and bus: hostile input is refused naming the field and changes nothing; generating the
report is recorded once; lessons are durable and tick the checklist."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from prometheus_client import CollectorRegistry

from paramedic.api.app import ApiContext, create_app
from paramedic.api.auth import TokenAuth
from paramedic.api.incident_report import LESSONS_MAX_CHARS
from paramedic.api.readiness import CheckRegistry
from paramedic.config import parse_config
from paramedic.core.bus import EventBus
from paramedic.core.failure_events import FailureDetected
from paramedic.recovery.plain import PlainIncidents
from paramedic.store.sqlite import SQLiteStore
from paramedic.store.timeline import read_rows
from paramedic.testing import FakeClock
from tests.conftest import REPO

TOKENS = {"VIEWER_T": "viewer-token-0123456789", "OPERATOR_T": "operator-token-0123456789"}
VIEWER = {"Authorization": f"Bearer {TOKENS['VIEWER_T']}"}
OPERATOR = {"Authorization": f"Bearer {TOKENS['OPERATOR_T']}"}
INC = "inc_01jx000000000000000000000a"
SCHEMA = json.loads((REPO / "docs/schemas/incident-report.schema.json").read_text())


class Api:
    def __init__(self, client: httpx.AsyncClient, store: SQLiteStore) -> None:
        self.client, self.store = client, store

    async def kinds(self) -> list[str]:
        return [r.kind for r in await read_rows(self.store)]


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    config = parse_config(
        "api:\n  tokens:\n"
        "    - {name: vic, role: viewer, token_env: VIEWER_T}\n"
        "    - {name: olga, role: operator, token_env: OPERATOR_T}\n",
        env=TOKENS,
    )
    store = SQLiteStore(tmp_path / "p.db")
    await store.open()
    bus = EventBus(store)
    clock = FakeClock(wall=1_767_225_600.0)

    owner = PlainIncidents("engine", clock=clock, record=bus.publish, is_up=lambda: False)
    await owner.on_event(
        FailureDetected(
            at=clock.now(),
            service="engine",
            incident=INC,
            failure_kind="crash",
            reason="pid 7 killed by SIGKILL",
            source="process",
        )
    )
    context = ApiContext(
        clock=clock,
        store=store,
        bus=bus,
        checks=CheckRegistry(),
        registry=CollectorRegistry(),
        auth=TokenAuth(config.api.tokens),
        version="test",
        recovery={"engine": owner},
        known_services=frozenset({"engine"}),
        target_rto_s=12.0,
    )
    transport = httpx.ASGITransport(app=create_app(context))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield Api(client, store)
    await store.close()


async def test_an_unknown_incident_is_a_404_naming_it(api: Api) -> None:
    """Report and lessons of an id nobody knows: 404 with the id in the detail, nothing
    recorded."""
    before = await api.kinds()
    report = await api.client.get("/api/incidents/inc_nope/report", headers=VIEWER)
    lessons = await api.client.post(
        "/api/incidents/inc_nope/lessons", json={"text": "x"}, headers=OPERATOR
    )
    assert [(404, "no incident 'inc_nope'")] * 2 == [
        (r.status_code, r.json()["detail"]) for r in (report, lessons)
    ]
    assert before == await api.kinds()


@pytest.mark.parametrize(
    "body",
    [
        {"text": ""},
        {"text": "   \n"},
        {"text": "x" * (LESSONS_MAX_CHARS + 1)},
        {"text": 5},
        {"text": ["a"]},
        {},
    ],
    ids=["empty", "blank", "too-long", "number", "list", "missing"],
)
async def test_bad_lessons_are_a_422_naming_the_field(api: Api, body: dict[str, Any]) -> None:
    """Empty, blank, longer than the bound, not a string, or absent: 422 whose location is
    `text`; nothing recorded."""
    before = await api.kinds()
    got = await api.client.post(f"/api/incidents/{INC}/lessons", json=body, headers=OPERATOR)
    assert 422 == got.status_code
    assert [["body", "text"]] == [e["loc"] for e in got.json()["detail"]]
    assert before == await api.kinds()


async def test_lessons_need_the_operator_token(api: Api) -> None:
    """A viewer may read the report but not write the lessons."""
    got = await api.client.post(f"/api/incidents/{INC}/lessons", json={"text": "x"}, headers=VIEWER)
    assert 403 == got.status_code
    assert "incident.lessons" not in await api.kinds()


async def test_lessons_are_durable_and_tick_the_checklist(api: Api) -> None:
    """201 once the lessons are on the timeline; the incident view's checklist ticks them,
    naming the operator; the report shows the latest text."""
    got = await api.client.post(
        f"/api/incidents/{INC}/lessons", json={"text": "page earlier"}, headers=OPERATOR
    )
    assert (201, "olga") == (got.status_code, got.json()["by"])
    [row] = [r for r in await read_rows(api.store) if r.kind == "incident.lessons"]
    assert {"incident": INC, "by": "olga", "text": "page earlier"} == row.payload
    view = (await api.client.get(f"/api/incidents/{INC}", headers=VIEWER)).json()
    items = {i["item"]: (i["done"], i["detail"]) for i in view["checklist"]}
    assert (True, "written by olga") == items["lessons_learned"]
    assert (False, "no report generated yet") == items["incident_documented"]
    report = (await api.client.get(f"/api/incidents/{INC}/report", headers=VIEWER)).json()
    assert "page earlier" == report["lessons"]["text"]


async def test_the_report_is_recorded_once_and_fits_its_schema(api: Api) -> None:
    """The first report (viewer) records `incident.documented` before answering; a second
    one does not record again. JSON fits the schema with the configured target RTO; `md`
    answers Markdown; an unknown format is a 422."""
    first = await api.client.get(f"/api/incidents/{INC}/report", headers=VIEWER)
    assert 200 == first.status_code
    report = first.json()
    jsonschema.validate(report, SCHEMA)
    assert (12.0, "process") == (
        report["rto"]["target_s"],
        report["incident"]["detection"]["layer"],
    )
    items = {i["item"]: (i["done"], i["detail"]) for i in report["checklist"]}
    assert (True, "json report generated by vic") == items["incident_documented"]
    md = await api.client.get(f"/api/incidents/{INC}/report?format=md", headers=VIEWER)
    assert md.headers["content-type"].startswith("text/markdown")
    assert md.text.startswith(f"# Incident {INC}: engine crash\n")
    assert 1 == (await api.kinds()).count("incident.documented")
    bad = await api.client.get(f"/api/incidents/{INC}/report?format=pdf", headers=VIEWER)
    assert (422, ["query", "format"]) == (bad.status_code, bad.json()["detail"][0]["loc"])
