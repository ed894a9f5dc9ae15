"""The web console in a real Chromium (Debian's `chromium`, driven by Playwright) against a real
`paramedic run` whose real child (examples/engine.py) is killed with SIGKILL. Nothing reloads
the page: every change arrives through the event stream. Screenshots are saved in each
test's tmp_path (CI keeps them as artifacts).

Skipped, saying why, only when chromium or Playwright is not installed (`.ci/run` installs
chromium, the dev extra Playwright)."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from paramedic.alerting.channels.loopback import LoopbackReceiver
from tests.conftest import REPO, free_port
from tests.integration.runner import OPERATOR_TOKEN, RunningParamedic, started, until

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not os.path.exists(CHROMIUM):
    pytest.skip(
        "Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True
    )
playwright_api = pytest.importorskip(
    "playwright.async_api", reason="Playwright is not installed (pip install -e '.[dev]')"
)
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AUTH = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
ENV = {"OPS_TOKEN": OPERATOR_TOKEN, "HOOK_SECRET": "hook-secret-0123456789"}
ENGINE = str(REPO / "examples" / "engine.py")
SLOW_STEP = f'[{sys.executable!r}, "-c", "import time; time.sleep(1.5)"]'
WAIT_MS = 30_000


def engine(port: int, extra: str = "", restart: str = "always") -> str:
    """The example engine as `engine` (tier 1), ready when its /health answers 200; then
    `extra` (more keys of the service)."""
    return f"""
  engine:
    tier: 1
    process:
      argv: [{sys.executable!r}, {ENGINE!r}, --port, "{port}"]
      stop_timeout: 1s
      restart: {{policy: {restart}}}
    probes:
      - {{name: ready, role: readiness, http: {{url: "http://127.0.0.1:{port}/health"}},
          period: 250ms, timeout: 250ms, failure_threshold: 3}}
    health: {{up_after: 1, evaluate_every: 50ms}}
{extra}"""


def write(tmp_path: Path, body: str, api: str = "") -> Path:
    """paramedic.yaml: the API on a free port with olga's operator token (then `api`, more
    keys of that section), the store in var/, then `body`."""
    path = tmp_path / "paramedic.yaml"
    path.write_text(
        f"""
api:
  listen: 127.0.0.1:{free_port()}
  tokens: [{{name: olga, role: operator, token_env: OPS_TOKEN}}]
{api}store: {{path: var/p.db}}
{body}"""
    )
    return path


def timeline(p: RunningParamedic, kind: str) -> list[dict[str, Any]]:
    params = {"limit": 1000}
    found: list[dict[str, Any]] = p.get("/api/timeline", params=params, headers=AUTH).json()[
        "events"
    ]
    return [e for e in found if e["kind"] == kind]


def child_pid(p: RunningParamedic) -> int:
    pid: int = timeline(p, "process.spawned")[-1]["payload"]["pid"]
    return pid


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Any]:
    """One Chromium for the module (starting it costs about a second); each test gets its
    own context from it (`browser_on`): no cookie, storage or cache is shared."""
    async with playwright_api.async_playwright() as pw:
        launched = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@asynccontextmanager
async def browser_on(
    browser: Any, p: RunningParamedic, url: str = "", token: str | None = None
) -> AsyncIterator[Any]:
    """A Chromium page, in a fresh context of `browser`, on the console of `p` (at `url` if
    given: a proxy in front of it), `token` entered in its token field, once its event
    stream is live."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
        await page.goto((url or p.url) + "/")
        if token is not None:
            await page.fill("#token", token)
            await page.click("#token-save")
            await page.wait_for_selector("#role.ok", timeout=WAIT_MS)
        await page.wait_for_selector("#conn.ok", timeout=WAIT_MS)
        yield page
        assert [] == errors
    finally:
        await context.close()


async def card_state(page: Any, state: str) -> None:
    await page.wait_for_selector(f"#card-engine[data-state={state}]", timeout=WAIT_MS)


@asynccontextmanager
async def running(tmp_path: Path, body: str, api: str = "") -> AsyncIterator[RunningParamedic]:
    p = await started(write(tmp_path, body, api), env=ENV)
    try:
        await until("the engine up", lambda: timeline(p, "service.up"), within=30)
        yield p
        p.signal(signal.SIGTERM)
        assert 0 == await asyncio.to_thread(p.wait, 15)
    finally:
        await asyncio.to_thread(p.ensure_dead)


PLAN = f"""
    recovery:
      methods:
        cold:
          steps:
            - {{name: Restart engine, restart_process: {{}}, timeout: 10s}}
            - {{name: Replay journal, command: {{argv: {SLOW_STEP}}}, timeout: 10s}}
            - {{name: Wait until healthy, wait_healthy: {{}}, timeout: 10s}}
      resumption: {{phases: [{{name: normal, size_multiplier: 1.0}}]}}
"""


async def test_a_crash_turns_the_card_to_recovering_and_back_to_healthy_live(
    tmp_path: Path,
    browser: Any,
) -> None:
    """The card is healthy; kill -9 the engine: without a reload the card turns recovering
    with the detection sentence, the progress bar advances (a later reading is higher than
    the first), the current step is named, and the card returns to healthy; the live log
    shows the failure, and the recovery history gains a row and a bar in its RTO chart.
    The incident's page (one click, no reload) shows its resumption, who was paged on which
    channel, its steps with durations and its timeline."""
    body = f"""
recovery:
  approval: {{require: {{market_open: [manual], market_closed: [manual]}}}}
  watch_period: 300ms
services:{engine(free_port(), PLAN)}"""
    async with running(tmp_path, body) as p, browser_on(browser, p) as page:
        await card_state(page, "healthy")
        await page.screenshot(path=str(tmp_path / "1-healthy.png"), full_page=True)
        killed = time.monotonic()
        os.kill(child_pid(p), signal.SIGKILL)
        await card_state(page, "recovering")
        print(f"kill -9 -> card recovering in {(time.monotonic() - killed) * 1000:.0f} ms")
        first = int(await page.get_attribute("#card-engine", "data-progress") or 0)
        await page.screenshot(path=str(tmp_path / "2-recovering.png"), full_page=True)
        await page.wait_for_function(
            "(first) => Number(document.querySelector("
            "'#card-engine[data-state=recovering]')?.dataset.progress) > first",
            arg=first,
            timeout=WAIT_MS,
        )
        step = await page.text_content("#card-engine .step")
        assert step is not None
        assert step.startswith("Current step: ")
        assert "killed by SIGKILL" in (await page.text_content("#card-engine .reason") or "")
        await card_state(page, "healthy")
        await page.wait_for_selector("#history-table tbody tr", timeout=WAIT_MS)
        await page.wait_for_selector("#rto-chart rect.ok", timeout=WAIT_MS)
        log = await page.text_content("#log-lines")
        assert log is not None
        assert "failure.detected" in log
        await page.screenshot(path=str(tmp_path / "3-healthy-again.png"), full_page=True)
        await page.click("#incidents-table a")
        await page.wait_for_selector("#incident-page:not([hidden]) .timeline li", timeout=WAIT_MS)
        steps = await page.text_content("#incident-body ol")
        assert steps is not None
        assert "Replay journal: ok in 1." in steps  # 1.5 s and some
        shown = await page.text_content("#incident-body .timeline")
        assert shown is not None
        assert "recovery.finished" in shown
        resumption = await page.text_content("#incident-body .resumption")
        assert "resumption: normal at 1x size" == resumption
        pages = await page.text_content("#incident-body ul")
        assert pages is not None
        assert "P0 trigger to oncall via log: delivered" in pages
        await page.screenshot(path=str(tmp_path / "4-incident-page.png"), full_page=True)
        assert 1 == await page.evaluate("() => performance.getEntriesByType('navigation').length")


APPROVAL = """
recovery:
  approval:
    timeout: 5m
    require: {market_open: [cold, manual], market_closed: [cold, manual]}
  watch_period: 300ms
"""


async def test_approve_is_refused_without_a_token_and_starts_the_recovery_with_one(
    tmp_path: Path,
    browser: Any,
) -> None:
    """A cold restart needs approval: kill -9 the engine and the approval appears on the
    console with its sentence and the time left. Approve without a token: refused, and the
    page says why (a bearer token with role operator is needed); nothing ran. Enter the
    operator token, approve again: the recovery starts (approval.granted by olga) and the
    card goes back to healthy."""
    body = APPROVAL + f"services:{engine(free_port(), PLAN)}"
    async with running(tmp_path, body) as p, browser_on(browser, p) as page:
        await card_state(page, "healthy")
        os.kill(child_pid(p), signal.SIGKILL)
        await card_state(page, "awaiting_approval")
        box = page.locator("#approval-engine")
        await box.wait_for(timeout=WAIT_MS)
        [asked] = timeline(p, "approval.requested")
        assert asked["payload"]["sentence"] == await box.locator(".sentence").text_content()
        remaining = await box.locator(".remaining").text_content()
        assert remaining is not None
        assert " min " in remaining
        await page.screenshot(path=str(tmp_path / "1-awaiting-approval.png"), full_page=True)
        await box.locator("button.approve").click()
        await page.wait_for_selector("#notice:not([hidden])", timeout=WAIT_MS)
        refused = await page.text_content("#notice")
        assert refused is not None
        assert refused.startswith("refused (401): this endpoint needs a bearer token")
        await page.screenshot(path=str(tmp_path / "2-refused.png"), full_page=True)
        assert [] == timeline(p, "approval.granted")
        await page.fill("#token", OPERATOR_TOKEN)
        await page.click("#token-save")
        await page.wait_for_selector("#role.ok", timeout=WAIT_MS)
        await page.wait_for_selector("#conn.ok", timeout=WAIT_MS)
        await box.locator("button.approve").click()
        await page.wait_for_selector("#notice.ok", timeout=WAIT_MS)
        [granted] = await until("approval.granted", lambda: timeline(p, "approval.granted"))
        assert "olga" == granted["payload"]["by"]
        await card_state(page, "healthy")
        assert await page.locator("#approvals-section").is_hidden()
        await page.screenshot(path=str(tmp_path / "3-approved-healthy.png"), full_page=True)


RUNG_S = 4.0


async def test_an_acknowledgement_from_the_console_stops_the_escalation(
    tmp_path: Path, browser: Any
) -> None:
    """Reads need a token here: the console, given the operator token, reads with it and opens
    its event stream with a ticket. The engine (tier 1, never restarted) is killed: a P0
    pages the on-call at once, and the ladder would page backup-oncall at +4 s. The operator
    acknowledges it from the console before then: the row turns acknowledged, and by +6 s
    the receiver got no page for backup-oncall (the ladder stopped); the ack is recorded
    with olga's name. Neither the token nor a ticket appears in paramedic's log."""
    async with LoopbackReceiver() as hook:
        body = f"""
channels:
  pagerduty: {{webhook: {{url: "{hook.url}/hook", secret_env: HOOK_SECRET}}}}
alerting:
  escalation:
    policies:
      P0:
        steps: [{{name: backup-oncall, after: {RUNG_S:g}s, contacts: [backup-oncall], level: 1}}]
services:{engine(free_port(), restart="never")}"""
        async with (
            running(tmp_path, body, api="  read_requires_token: true\n") as p,
            browser_on(browser, p, token=OPERATOR_TOKEN) as page,
        ):
            assert 401 == p.get("/api/events/stream").status_code
            os.kill(child_pid(p), signal.SIGKILL)

            def crash_alert() -> list[dict[str, Any]]:
                return [e for e in timeline(p, "alert.raised") if " crash " in e["summary"]]

            [raised] = await until("the crash's alert", crash_alert)
            alert_id = raised["payload"]["alert_id"]
            row = page.locator(f"tr[id='alert-{alert_id}']")
            ladder = await row.locator(".alert-state").text_content(timeout=WAIT_MS)
            assert ladder is not None
            assert "next: backup-oncall" in ladder  # the rung the ack must stop is armed
            await row.locator("button.ack").click(timeout=WAIT_MS)
            await page.wait_for_selector(
                f"tr[id='alert-{alert_id}'][data-state=acknowledged]", timeout=WAIT_MS
            )
            acked_after = time.time() - raised["wall"]
            print(f"acknowledged from the console {acked_after:.2f} s after the alert was raised")
            assert acked_after < RUNG_S, f"too slow: acknowledged {acked_after:.1f} s after"
            await page.screenshot(path=str(tmp_path / "acknowledged.png"), full_page=True)
            # the rung was due at +4 s: wait past it, then look at what the receiver got
            await asyncio.sleep(max(0.0, raised["wall"] + RUNG_S + 2.0 - time.time()))
            paged = [
                r.json()["labels"]["receiver"]
                for r in hook.requests
                if r.json()["alert_id"] == alert_id and r.json()["action"] == "trigger"
            ]
            assert "backup-oncall" not in paged
            assert paged, "the on-call was never paged"
            [acked] = timeline(p, "alert.acknowledged")
            assert "olga" == acked["payload"]["by"]
            logged = "".join(p.output)
            assert "ticket=" not in logged
            assert OPERATOR_TOKEN not in logged


# Healthy for its first 10 answers (so the service comes up), then a component named in markup
# reported false.
HOSTILE = """\
import http.server, sys
NAME = "<script>__p=2</script><img src=x onerror=__p=1>"
METRIC = "<script>__p=3</script><img src=x onerror=__p=4>"
BODY = ('{"healthy": false, "components": {"%s": false}, "metrics": {"%s": 7}}'
        % (NAME, METRIC)).encode()
GOOD = ('{"healthy": true, "components": {}, "metrics": {"%s": 7}}' % METRIC).encode()
seen = []
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        seen.append(1)
        body = GOOD if len(seen) <= 10 else BODY
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


async def test_markup_from_a_services_health_is_shown_as_text_never_run(
    tmp_path: Path, browser: Any
) -> None:
    """A service whose /health, once up, reports a component named `<script>__p=2</script>
    <img src=x onerror=__p=1>` false: the failure's sentence names it, and the console shows
    it on the card,
    in the incidents table and in the live log as literal text, and a metric named in markup
    is shown among the card's key metrics as literal text too; no script ran (`__p` is
    undefined), no <script> or <img> element came from it, and the page's CSP forbids inline
    script anyway. The same page at a phone's width (390 px) has no horizontal scroll."""
    script = tmp_path / "hostile.py"
    script.write_text(HOSTILE)
    port = free_port()
    body = f"""
services:
  engine:
    process:
      argv: [{sys.executable!r}, {str(script)!r}, "{port}"]
      restart: {{policy: never}}
    probes:
      - {{name: ready, role: readiness, http: {{url: "http://127.0.0.1:{port}/health"}},
          period: 250ms, timeout: 250ms, failure_threshold: 3}}
    health: {{evaluate_every: 50ms}}
"""
    p = await started(write(tmp_path, body), env=ENV)
    try:
        await until("the probe failing", lambda: timeline(p, "failure.detected"), within=30)
        async with browser_on(browser, p) as page:
            await page.wait_for_selector("#card-engine .reason", timeout=WAIT_MS)
            reason = await page.text_content("#card-engine .reason")
            assert reason is not None
            assert "<script>__p=2</script><img src=x" in reason
            assert "<script>__p=2" in (await page.text_content("#incidents-table") or "")
            metric = page.locator("#card-engine .key-metrics .metric-name").first
            assert "<script>__p=3</script><img src=x onerror=__p=4>" == (
                await metric.text_content(timeout=WAIT_MS)
            )
            assert None is await page.evaluate("() => window.__p ?? null")
            assert 1 == await page.locator("script").count()  # the console's own app.js
            assert 0 == await page.locator("img").count()
            csp = (await page.request.get(p.url + "/")).headers["content-security-policy"]
            assert "script-src 'self'" in csp
            assert "unsafe-inline" not in csp
            await page.screenshot(path=str(tmp_path / "hostile.png"), full_page=True)
            await page.set_viewport_size({"width": 390, "height": 844})
            width = await page.evaluate("() => document.documentElement.scrollWidth")
            assert width <= 390
            await page.screenshot(path=str(tmp_path / "phone.png"), full_page=True)
    finally:
        await asyncio.to_thread(p.ensure_dead)


class CuttableProxy:
    """A loopback TCP proxy between the browser and paramedic that the test can cut: every
    connection through it is closed at once and new ones are refused until `restore`."""

    def __init__(self, upstream: str) -> None:
        host, port = upstream.removeprefix("http://").split(":")
        self.upstream = (host, int(port))
        self.down = False
        self.writers: set[asyncio.StreamWriter] = set()
        self.url = ""

    async def __aenter__(self) -> CuttableProxy:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.cut()
        self.server.close()

    def cut(self) -> None:
        self.down = True
        for writer in list(self.writers):
            writer.transport.abort()
        self.writers.clear()

    def restore(self) -> None:
        self.down = False

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.down:
            writer.transport.abort()
            return
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        self.writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.transport.abort()
                self.writers.discard(dst)

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


async def test_a_connection_cut_mid_recovery_resumes_and_misses_nothing(
    tmp_path: Path, browser: Any
) -> None:
    """The browser reaches paramedic through a proxy the test can cut. Kill -9 the engine;
    while the recovery runs, cut every connection (and refuse new ones): the console says
    "disconnected, retrying". Restored after the recovery finished, it reconnects from
    the last event id it had: its live log then holds every timeline event from its first
    line on, each once, in order (compared with GET /api/timeline), and the card is healthy,
    all without a reload."""
    body = f"""
recovery:
  approval: {{require: {{market_open: [manual], market_closed: [manual]}}}}
  watch_period: 300ms
services:{engine(free_port(), PLAN)}"""
    async with (
        running(tmp_path, body) as p,
        CuttableProxy(p.url) as proxy,
        browser_on(browser, p, proxy.url) as page,
    ):
        await card_state(page, "healthy")
        os.kill(child_pid(p), signal.SIGKILL)
        await card_state(page, "recovering")
        proxy.cut()
        await page.wait_for_selector("#conn.bad", timeout=WAIT_MS)
        assert "disconnected, retrying" == await page.text_content("#conn")
        await page.screenshot(path=str(tmp_path / "1-disconnected.png"), full_page=True)
        cut_at = int(await page.get_attribute("#log-lines li:first-child", "data-seq") or 0)

        def healthy() -> bool:
            return any(
                e["payload"]["to_state"] == "HEALTHY" for e in timeline(p, "incident.transitioned")
            )

        await until("the incident healthy", healthy, within=30)
        assert cut_at < timeline(p, "recovery.finished")[-1]["seq"]
        proxy.restore()
        await page.wait_for_selector("#conn.ok", timeout=WAIT_MS)
        await card_state(page, "healthy")
        last = max(e["seq"] for e in timeline(p, "incident.transitioned"))
        await page.wait_for_selector(f"#log-lines li[data-seq='{last}']", timeout=WAIT_MS)
        shown = [
            int(s)
            for s in await page.eval_on_selector_all(
                "#log-lines li", "(lines) => lines.map((li) => li.dataset.seq)"
            )
        ]
        shown.reverse()  # newest first on the page
        stored = [
            e["seq"]
            for e in p.get("/api/timeline", params={"after": shown[0] - 1, "limit": 1000}).json()[
                "events"
            ]
            if e["seq"] <= shown[-1]
        ]
        assert stored == shown
        await page.screenshot(path=str(tmp_path / "2-reconnected.png"), full_page=True)
        assert 1 == await page.evaluate("() => performance.getEntriesByType('navigation').length")


async def test_the_live_log_filters_by_service(tmp_path: Path, browser: Any) -> None:
    """Two services. kill -9 gateway's process and post a note on engine: the live log shows
    both as they happen; filtered to engine it shows only engine's lines (the note among
    them), to gateway only gateway's lines (while events keep coming), to all none is
    hidden."""
    sleeper = f'[{sys.executable!r}, "-c", "import signal; signal.pause()"]'
    body = f"""
services:
  engine:
    process: {{argv: {sleeper}}}
  gateway:
    process: {{argv: {sleeper}}}
"""
    p = await started(write(tmp_path, body), env=ENV)
    try:
        await until("both up", lambda: len(timeline(p, "service.up")) == 2, within=30)
        async with browser_on(browser, p) as page:
            [gateway] = [e for e in timeline(p, "process.spawned") if e["service"] == "gateway"]
            os.kill(gateway["payload"]["pid"], signal.SIGKILL)
            note = p.post(
                "/api/timeline/notes",
                json={"text": "engine checked", "service": "engine"},
                headers=AUTH,
            )
            assert 201 == note.status_code
            await page.wait_for_selector(
                f"#log-lines li[data-seq='{note.json()['seq']}']", timeout=WAIT_MS
            )
            await page.wait_for_selector("#log-lines li[data-service=gateway]", timeout=WAIT_MS)

            async def visible() -> list[str]:
                shown: list[str] = await page.eval_on_selector_all(
                    "#log-lines li:not([hidden])",
                    "(lines) => lines.map((li) => li.dataset.service)",
                )
                return shown

            await page.select_option("#log-filter", "engine")
            only_engine = await visible()
            assert {"engine"} == set(only_engine)
            shown = await page.locator("#log-lines li:not([hidden])").all_text_contents()
            assert any("engine checked" in line for line in shown)
            await page.select_option("#log-filter", "gateway")
            only_gateway = await visible()
            assert only_gateway
            assert {"gateway"} == set(only_gateway)
            await page.select_option("#log-filter", "")
            assert 0 == await page.locator("#log-lines li[hidden]").count()
    finally:
        await asyncio.to_thread(p.ensure_dead)


async def test_the_key_metrics_show_their_thresholds_and_turn_red_live(
    tmp_path: Path, browser: Any
) -> None:
    """The engine reports its key metrics in /health; its config holds limits for two of them
    (`resources.metrics`). Its card lists every metric with its value (exchange connections
    as "3/3 up": the `_up` count beside its `_total`), the two with the
    limit that makes them red, the others with none, and the components (positions: OK);
    all green. The values are re-read while nothing happens (the shown market data lag
    changes while the timeline gains no event). Make the engine's p99 latency 5000 µs (its
    /chaos/latency): without a reload the latency row turns red (breached), the connections
    row stays green."""
    port = free_port()
    limits = """
    resources:
      metrics:
        - {name: order_latency_p99_us, above: 1000, for: 1h}
        - {name: exchange_connections_up, below: 3, for: 1h}
"""
    body = f"services:{engine(port, limits, restart='never')}"
    async with running(tmp_path, body) as p, browser_on(browser, p) as page:
        latency = page.locator("#card-engine tr[data-metric=order_latency_p99_us]")
        await latency.wait_for(timeout=WAIT_MS)
        limit = await latency.locator(".metric-limit").text_content()
        assert "red above 1000 µs (degradation after 1 h 0 min)" == limit
        assert "false" == await latency.get_attribute("data-breached")
        connections = page.locator("#card-engine tr[data-metric=exchange_connections_up]")
        assert "red below 3 (degradation after 1 h 0 min)" == (
            await connections.locator(".metric-limit").text_content()
        )
        assert "3/3 up" == await connections.locator(".metric-value").text_content()
        orders = page.locator("#card-engine tr[data-metric=open_orders]")
        assert "no threshold" == await orders.locator(".metric-limit").text_content()
        assert 20 <= int(await orders.locator(".metric-value").text_content() or 0) <= 30
        positions = page.locator("#card-engine tr[data-component=positions]")
        assert "OK" == await positions.locator(".metric-value").text_content()
        assert 0 == await page.locator("#card-engine tr.breached").count()
        caption = await page.text_content("#card-engine .key-metrics caption")
        assert caption is not None
        assert caption.startswith("key metrics, read ")
        await page.screenshot(path=str(tmp_path / "1-metrics-green.png"), full_page=True)
        quiet = p.get("/api/timeline", params={"last": 1}).json()["next_after"]
        lag = page.locator("#card-engine tr[data-metric=market_data_lag_us] .metric-value")
        first_lag = await lag.text_content()
        await page.wait_for_function(
            "(first) => document.querySelector("
            "'#card-engine tr[data-metric=market_data_lag_us] .metric-value')"
            "?.textContent !== first",
            arg=first_lag,
            timeout=WAIT_MS,
        )
        assert quiet == p.get("/api/timeline", params={"last": 1}).json()["next_after"]
        async with httpx.AsyncClient() as client:
            chaos = await client.post(f"http://127.0.0.1:{port}/chaos/latency")
        assert 200 == chaos.status_code
        await page.wait_for_selector(
            "#card-engine tr.breached[data-metric=order_latency_p99_us]", timeout=WAIT_MS
        )
        value = await latency.locator(".metric-value").text_content()
        assert value is not None
        assert value.endswith(" µs")
        assert float(value.removesuffix(" µs")) > 1000
        color = await latency.locator("td").first.evaluate("(td) => getComputedStyle(td).color")
        assert "rgb(244, 67, 54)" == color  # the theme's red
        assert "false" == await connections.get_attribute("data-breached")
        await page.screenshot(path=str(tmp_path / "2-latency-red.png"), full_page=True)
        assert 1 == await page.evaluate("() => performance.getEntriesByType('navigation').length")


async def test_the_live_log_starts_with_the_last_200_events_then_continues(
    tmp_path: Path,
    browser: Any,
) -> None:
    """210 notes are on the timeline before the page opens: the live log shows the newest
    200 events at once, newest first. Three notes posted after it opened join on top:
    the log is then exactly the timeline's newest 203 events, each once, in order."""
    sleeper = f'[{sys.executable!r}, "-c", "import signal; signal.pause()"]'
    p = await started(
        write(tmp_path, f"services:\n  engine:\n    process: {{argv: {sleeper}}}\n"), env=ENV
    )
    try:
        await until("the engine up", lambda: timeline(p, "service.up"), within=30)

        def note(text: str) -> int:
            got = p.post("/api/timeline/notes", json={"text": text}, headers=AUTH)
            assert 201 == got.status_code
            seq: int = got.json()["seq"]
            return seq

        before = [note(f"before {i}") for i in range(210)]
        async with browser_on(browser, p) as page:
            await page.wait_for_selector(f"#log-lines li[data-seq='{before[-1]}']", timeout=WAIT_MS)

            async def shown() -> list[int]:
                seqs: list[str] = await page.eval_on_selector_all(
                    "#log-lines li", "(lines) => lines.map((li) => li.dataset.seq)"
                )
                return [int(s) for s in seqs]

            stored = [
                e["seq"] for e in p.get("/api/timeline", params={"last": 200}).json()["events"]
            ]
            assert before[-1] == stored[-1]
            assert list(reversed(stored)) == await shown()
            after = [note(f"after {i}") for i in range(3)]
            await page.wait_for_selector(f"#log-lines li[data-seq='{after[-1]}']", timeout=WAIT_MS)
            stored = [
                e["seq"] for e in p.get("/api/timeline", params={"last": 203}).json()["events"]
            ]
            assert after == stored[-3:]
            assert list(reversed(stored)) == await shown()
            top = await page.text_content("#log-lines li:first-child")
            assert top is not None
            assert "after 2" in top
            await page.screenshot(path=str(tmp_path / "backfilled-log.png"), full_page=True)
    finally:
        await asyncio.to_thread(p.ensure_dead)


async def test_a_drill_button_is_refused_without_a_token_and_starts_a_drill_with_one(
    tmp_path: Path,
    browser: Any,
) -> None:
    """The engine's card offers the drills it can take (crash and hang: paramedic runs its
    process; no chaos hook for the rest). Without a token, crash is refused with the API's
    reason and no drill is recorded. With olga's operator token, crash starts a drill
    (recorded by olga), the card turns recovering and names the running drill, then
    healthy again."""
    body = f"""
recovery:
  approval: {{require: {{market_open: [manual], market_closed: [manual]}}}}
  watch_period: 300ms
services:{engine(free_port(), PLAN)}"""
    async with running(tmp_path, body) as p, browser_on(browser, p) as page:
        await card_state(page, "healthy")
        await page.click("#card-engine details.drills summary")
        buttons = await page.locator("#card-engine details.drills button").all_text_contents()
        assert ["crash", "hang"] == buttons
        await page.click("#card-engine button.drill-crash")
        await page.wait_for_selector("#notice:not([hidden])", timeout=WAIT_MS)
        refused = await page.text_content("#notice")
        assert refused is not None
        assert refused.startswith("refused (401): this endpoint needs a bearer token")
        assert [] == timeline(p, "drill.started")
        await page.screenshot(path=str(tmp_path / "1-drill-refused.png"), full_page=True)
        await page.fill("#token", OPERATOR_TOKEN)
        await page.click("#token-save")
        await page.wait_for_selector("#role.ok", timeout=WAIT_MS)
        await page.wait_for_selector("#conn.ok", timeout=WAIT_MS)
        await page.click("#card-engine button.drill-crash")  # the menu stayed open
        await page.wait_for_selector("#notice.ok", timeout=WAIT_MS)
        started_note = await page.text_content("#notice")
        assert started_note is not None
        assert started_note.startswith("crash drill on engine started: drl_")
        [drill] = await until("drill.started", lambda: timeline(p, "drill.started"))
        assert ("olga", "crash") == (drill["payload"]["by"], drill["payload"]["drill_kind"])
        await card_state(page, "recovering")
        running_drill = await page.text_content("#card-engine .drill-active")
        assert f"drill {drill['payload']['drill']} running" == running_drill
        await page.screenshot(path=str(tmp_path / "2-drill-recovering.png"), full_page=True)
        await card_state(page, "healthy")
