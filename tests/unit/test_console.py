"""The console's files and headers: shipped as package data, served with a strict CSP, no
inline script, no third-party origin, no HTML built from data; the card state in one word."""

from __future__ import annotations

import re
import tomllib
from collections.abc import AsyncIterator
from fnmatch import fnmatch
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry

from paramedic.api.app import ApiContext, create_app
from paramedic.api.auth import TokenAuth
from paramedic.api.readiness import CheckRegistry
from paramedic.api.services import card_state
from paramedic.core.bus import EventBus
from paramedic.recovery.states import Incident, IncidentState
from paramedic.store.sqlite import SQLiteStore
from paramedic.testing import FakeClock
from tests.conftest import REPO

CONSOLE = REPO / "src" / "paramedic" / "api" / "console"


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    store = SQLiteStore(tmp_path / "p.db")
    await store.open()
    context = ApiContext(
        clock=FakeClock(wall=1_767_225_600.0),
        store=store,
        bus=EventBus(store),
        checks=CheckRegistry(),
        registry=CollectorRegistry(),
        auth=TokenAuth([]),
        version="test",
        known_services=frozenset({"engine"}),
    )
    transport = httpx.ASGITransport(app=create_app(context))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client
    await store.close()


async def test_the_page_and_its_files_carry_a_strict_csp(api: httpx.AsyncClient) -> None:
    """`/`, app.js and style.css: each with the CSP (scripts, styles and connections from
    this origin only, nothing inline, no framing) and nosniff; any other name is a 404."""
    for path, kind in [
        ("/", "text/html"),
        ("/console/app.js", "text/javascript"),
        ("/console/style.css", "text/css"),
    ]:
        got = await api.get(path)
        assert (200, kind) == (got.status_code, got.headers["content-type"].split(";")[0])
        csp = got.headers["content-security-policy"]
        assert "default-src 'none'" in csp
        assert "script-src 'self';" in csp
        assert "frame-ancestors 'none'" in csp
        assert "unsafe" not in csp
        assert "nosniff" == got.headers["x-content-type-options"]
    assert 404 == (await api.get("/console/../app.py")).status_code
    assert 404 == (await api.get("/console/secret.txt")).status_code


def test_every_console_file_is_package_data() -> None:
    """The wheel ships the console: every file in api/console matches a package-data pattern."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["paramedic"]
    names = [f"api/console/{p.name}" for p in CONSOLE.iterdir()]
    assert {"api/console/index.html", "api/console/app.js", "api/console/style.css"} <= set(names)
    assert [] == [n for n in names if not any(fnmatch(n, pattern) for pattern in patterns)]


def test_no_inline_script_no_third_party_origin_no_html_from_data() -> None:
    """index.html loads only its own files (every <script> has a src on this origin; no
    http(s):// anywhere); app.js never builds HTML from strings (no innerHTML, outerHTML,
    insertAdjacentHTML, document.write, eval or new Function): data goes in as text."""
    html = (CONSOLE / "index.html").read_text()
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert scripts
    assert all('src="/console/' in s for s in scripts)
    assert "http://" not in html
    assert "https://" not in html
    assert not re.search(r"\son\w+=", html)  # no inline event handlers
    lines = (CONSOLE / "app.js").read_text().splitlines()
    js = "\n".join(line for line in lines if not line.lstrip().startswith("//"))  # code only
    for forbidden in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert forbidden not in js
    assert "new Function" not in js
    assert "http://" not in js.replace('"http://www.w3.org/2000/svg"', "")  # a name, not a URL
    assert "https://" not in js


def incident(state: IncidentState, kind: str = "crash", closed: bool = False) -> Incident:
    i = Incident(id="inc_1", service="engine", kind=kind, reason="r", opened_mono=0, opened_wall=0)
    i.state = state
    if closed:
        i.state = IncidentState.HEALTHY
    return i


def test_card_state_in_one_word() -> None:
    """The word a card is coloured by, from the open incident and whether the service is up."""
    s = IncidentState
    assert "healthy" == card_state(None, up=True)
    assert "degraded" == card_state(None, up=False)
    assert "healthy" == card_state(incident(s.HEALTHY, closed=True), up=True)
    assert "recovering" == card_state(incident(s.FAILURE_DETECTED), up=False)
    assert "degraded" == card_state(incident(s.FAILURE_DETECTED, "degradation"), up=True)
    assert "recovering" == card_state(incident(s.RECOVERY_IN_PROGRESS), up=False)
    assert "recovering" == card_state(incident(s.VALIDATING), up=True)
    assert "awaiting_approval" == card_state(incident(s.AWAITING_APPROVAL), up=False)
    assert "failed" == card_state(incident(s.RECOVERY_FAILED), up=False)
    assert "manual" == card_state(incident(s.MANUAL_RECOVERY), up=False)
