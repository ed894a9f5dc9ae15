"""The console's first load in a real Chromium against a real `paramedic run`: the cards are
read first and alone (the page preloads `/api/services` and app.js takes that answer), and
the other views and the event stream are read only once the cards are in the page, so
nothing else competes with the cards on paramedic's loop or the page's thread. Skipped like
tests/integration/test_console_browser.py when chromium or Playwright is missing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import free_port
from tests.integration.test_console_browser import (
    ARGS,
    CHROMIUM,
    WAIT_MS,
    engine,
    playwright_api,
    running,
)

# Put in before any of the page's own script: the moment #cards first holds a card.
CARDS_AT = """
new MutationObserver((_, observer) => {
  const cards = document.getElementById("cards");
  if (cards && cards.childElementCount > 0) {
    window.__cardsAt = performance.now();
    observer.disconnect();
  }
}).observe(document, {childList: true, subtree: true});
"""
LATER = ("/health", "/api/incidents", "/api/alerts", "/api/recoveries", "/api/timeline")


async def first_load(url: str) -> tuple[float, list[tuple[str, float]], str]:
    """A fresh page on `url`: when its first card appeared, each resource it fetched (path
    and start, ms from the navigation) once every view is drawn and the stream is live, and
    the header's counts."""
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.add_init_script(CARDS_AT)
            await page.goto(url + "/")
            await page.wait_for_selector("#conn.ok", timeout=WAIT_MS)
            await page.wait_for_function(
                "document.getElementById('counts').textContent.startsWith('open incidents')",
                timeout=WAIT_MS,
            )
            cards_at: float = await page.evaluate("() => window.__cardsAt")
            fetched: list[Any] = await page.evaluate(
                """() => performance.getEntriesByType("resource").map(
                     (r) => [new URL(r.name).pathname, r.startTime])"""
            )
            counts: str = await page.text_content("#counts") or ""
            assert [] == errors
            return cards_at, [(str(p), float(t)) for p, t in fetched], counts
        finally:
            await browser.close()


async def test_the_cards_are_read_first_and_alone_then_every_other_view(
    tmp_path: Path,
) -> None:
    """Before the first card is in the page the console has asked paramedic's API for
    `/api/services` exactly once (the preload, taken by app.js's first read: not twice) and
    for nothing else; after it, /health, incidents, alerts, recoveries and the log's
    backfill are read, every view is drawn (the header's counts) and the stream is live."""
    async with running(tmp_path, f"services:{engine(free_port())}") as p:
        cards_at, fetched, counts = await first_load(p.url)
    api = [(path, start) for path, start in fetched if path.startswith(("/api/", "/health"))]
    before = [path for path, start in api if start < cards_at]
    assert ["/api/services"] == before
    after = {path for path, start in api if start >= cards_at}
    assert set(LATER) <= after
    assert counts == "open incidents: 0 · unacknowledged alerts: 0"
