"""The console's first load in real Chromium, 1,000 services and a 10,000-event timeline.

Two real ``paramedic run`` processes side by side: the big one (``--services`` heartbeat-only
services, fed by bench/hb_sender.py at 1 beat/s each, whose store is first filled to
``--events`` timeline events by real hang-and-recover cycles: the sender of half the services
goes silent for longer than the 5 s timeout, each of them is convicted (``failure.detected``,
an alert raised and delivered to the log, an incident), then it beats again and each
recovers; what is left to ``--events`` is written as operator notes) and the reference
(``--ref-services`` services, an empty timeline). Debian's Chromium (Playwright, headless)
loads ``/`` of each, alternately, ``--runs`` times, each load in a fresh browser context (no cache).

**First load** is measured in the page from ``performance.timeOrigin`` (the navigation's
start) with a MutationObserver put in by Playwright before any of the page's script runs:

* ``cards``: the moment ``#cards`` holds one card per service (``/api/services`` rendered);
* ``cards painted``: the end of the next animation frame after that (the cards on screen);
* ``all views``: the moment the header's counts are written, which the console does once every
  view of its first load (services, /health, incidents, alerts, history) is rendered.

The console's own code is not changed. Its first read runs at ``DOMContentLoaded`` (until
2026-12-06 14:50 UTC it waited 100 ms more, ``setTimeout(refresh, 100)``: the figures of the
first runs in docs/benchmarks.md include that wait). Since 2026-12-06 17:00 UTC it reads the
cards alone first (``/api/services``, preloaded by the page), draws only the cards on screen
(``content-visibility: auto``) and reads the other views and opens the stream after the
first paint: both variants below are then the shipped page itself.

With ``--variants``, the big server's page is also loaded (interleaved with the others) with
the console's files changed in flight by Playwright, to measure what would reach the target
without touching the shipped console: ``nodelay`` (app.js: the first refresh at
``DOMContentLoaded``; now the shipped page itself) and ``nodelay+cv`` (also style.css: cards get
``content-visibility: auto``, so the browser lays out and paints only the cards on screen).

Then, per API call the console makes at load, its time as a client on loopback sees it:
sequential GETs (httpx, keep-alive), median and p95, on both servers. Usage:
python bench/console_load.py [--runs 20] [--services 1000] [--events 10000] [--ref-services 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

BENCH = Path(__file__).resolve().parent
SENDER = BENCH / "hb_sender.py"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
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
TOKEN = "bench-operator-token-0123456789"
EVENTS_PER_HANG = 8  # timeline events one hung-and-recovered service leaves (measured)
# What the console reads at load (app.js: VIEWS, then the stream); the page and its files.
CALLS = [
    "/",
    "/console/app.js",
    "/console/style.css",
    "/api/services",
    "/health",
    "/api/incidents",
    "/api/alerts?limit=50",
    "/api/recoveries?limit=20",
]
MARKER_JS = """
(() => {
  const want = %d;
  const b = window.__bench = {cards: null, painted: null, views: null, done: false};
  const finish = () => { if (b.painted !== null && b.views !== null) b.done = true; };
  const check = () => {
    const cards = document.getElementById("cards");
    if (b.cards === null && cards && cards.childElementCount >= want) {
      b.cards = performance.now();
      requestAnimationFrame(() => setTimeout(() => { b.painted = performance.now(); finish(); }));
    }
    const counts = document.getElementById("counts");
    if (b.views === null && counts && counts.textContent.startsWith("open incidents")) {
      b.views = performance.now();
      finish();
    }
  };
  new MutationObserver(check).observe(document, {childList: true, subtree: true});
})();
"""


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def config_yaml(services: int, api_port: int, hb_port: int) -> str:
    lines = [
        "api:",
        f"  listen: 127.0.0.1:{api_port}",
        "  tokens: [{name: bench, role: operator, token_env: BENCH_TOKEN}]",
        "store: {path: p.db}",
        "heartbeat:",
        f"  listen: 127.0.0.1:{hb_port}",
        "  key_env: BENCH_HB_KEY",
        "services:",
    ]
    for i in range(services):
        lines.append(f"  svc-{i:05d}:")
        lines.append("    heartbeat: {interval: 1s, timeout: 5s, startup_grace: 60s}")
    return "\n".join(lines) + "\n"


@dataclass
class Server:
    """One `paramedic run` with its heartbeat sender."""

    name: str
    services: int
    dir: Path
    secret: str = field(default_factory=lambda: os.urandom(24).hex())
    api_port: int = field(default_factory=free_port)
    hb_port: int = field(default_factory=lambda: free_port(socket.SOCK_DGRAM))
    proc: subprocess.Popen[bytes] | None = None
    senders: list[subprocess.Popen[str]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    hung: int = 0  # services svc-00000.. that the fill's hang cycle silences

    def start(self) -> None:
        self.dir.mkdir(parents=True)
        config = self.dir / "paramedic.yaml"
        config.write_text(config_yaml(self.services, self.api_port, self.hb_port))
        env = {**os.environ, "BENCH_HB_KEY": self.secret, "BENCH_TOKEN": TOKEN}
        with open(self.dir / "paramedic.log", "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "paramedic.cli", "run", "--config", str(config)],
                stdout=subprocess.DEVNULL,
                stderr=log,
                env=env,
            )
        # Two senders: the half the hang cycles silence, and the rest, which beats on.
        key = self.secret.encode().hex()
        for first, count in ((0, self.hung), (self.hung, self.services - self.hung)):
            self.senders.append(
                subprocess.Popen(
                    [sys.executable, str(SENDER), key, str(count), "svc-", str(first)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )
        wait_for(f"{self.name}: /readyz", lambda: self._ready(), 120)

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            log = (self.dir / "paramedic.log").read_text()[-2000:]
            raise SystemExit(f"{self.name}: paramedic exited: {log}")
        try:
            return httpx.get(self.url + "/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def stream(self, seconds: float, which: tuple[int, ...] = (0, 1)) -> None:
        """Heartbeats at 1/s per service from senders `which`, for `seconds` (not waited for)."""
        for i in which:
            sender = self.senders[i]
            assert sender.stdin is not None
            count = self.hung if i == 0 else self.services - self.hung
            sender.stdin.write(f"stream {self.hb_port} {float(count)} {seconds}\n")
            sender.stdin.flush()

    def stream_done(self, which: tuple[int, ...] = (0, 1)) -> None:
        for i in which:
            stdout = self.senders[i].stdout
            assert stdout is not None
            stdout.readline()

    def events(self) -> int:
        with sqlite3.connect(f"file:{self.dir / 'p.db'}?mode=ro", uri=True) as db:
            row = db.execute("SELECT count(*) FROM timeline").fetchone()
        return int(row[0])

    def kinds(self) -> list[tuple[str, int]]:
        with sqlite3.connect(f"file:{self.dir / 'p.db'}?mode=ro", uri=True) as db:
            rows = db.execute(
                "SELECT kind, count(*) FROM timeline GROUP BY kind ORDER BY 2 DESC"
            ).fetchall()
        return [(str(k), int(n)) for k, n in rows]

    def healthy(self) -> int:
        body = httpx.get(self.url + "/api/services", timeout=30).json()
        return sum(1 for s in body["services"] if s["state"] == "healthy")

    def stop(self) -> None:
        for sender in self.senders:
            sender.kill()
            sender.wait()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def wait_for(what: str, check: Any, within: float, every: float = 0.25) -> Any:
    deadline = time.monotonic() + within
    while not (found := check()):
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {within:g} s waiting for {what}")
        time.sleep(every)
    return found


def settled(server: Server) -> int:
    """The timeline's length once it stopped growing for 2 s (alerts and their deliveries
    are recorded after the convictions and recoveries that raised them)."""
    last = -1
    while (now := server.events()) != last:
        last = now
        time.sleep(2.0)
    return now


def fill(server: Server, target: int) -> tuple[int, int]:
    """One hang-and-recover cycle of the first `server.hung` services, then operator notes
    up to `target` timeline events. (events after the cycle, notes)"""
    server.stream(8.0)  # every service heard once and up
    server.stream_done()
    wait_for("every service healthy", lambda: server.healthy() == server.services, 60)
    have = settled(server)
    print(f"  fill: {have:,} events before the hang cycle", flush=True)
    if server.hung:
        # 7 s of silence for the hung ones (past their 5 s timeout: each one convicted of a
        # hang, alerted on), then 8 s of heartbeats for all (each one recovers).
        quiet_until = time.monotonic() + 7.0
        server.stream(7.0, (1,))
        server.stream_done((1,))
        time.sleep(max(0.0, quiet_until - time.monotonic()))
    server.stream(36_000)  # from here on every service beats until the end
    if server.hung:
        wait_for("every service healthy", lambda: server.healthy() == server.services, 60)
        have = settled(server)
        print(f"  fill: {have:,} events after {server.hung} services hung", flush=True)
    notes = max(0, target - have)
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        for i in range(notes):
            c.post("/api/timeline/notes", json={"text": f"bench note {i}"}).raise_for_status()
    return have, notes


FIRST_REFRESH = "  connect();\n  scheduleRefresh();\n});"
NO_DELAY = "  connect();\n  for (const name of ALL) state.dirty.add(name);\n  refresh();\n});"
SHIPPED_NO_DELAY = "  for (const name of ALL) state.dirty.add(name);\n  refresh();\n});"
CARD_CV = "\n.status-card { content-visibility: auto; contain-intrinsic-size: auto 120px; }\n"


async def patched(route: Any, variant: str) -> None:
    """The console's file as served (headers, CSP and all), changed for `variant`; with
    ``console:DIR``, the same file from another copy of the console (DIR holds its
    index.html, app.js and style.css): the same server, another console, interleaved."""
    response = await route.fetch()
    body = await response.text()
    if variant.startswith("console:"):
        name = route.request.url.rsplit("/", 1)[-1] or "index.html"
        body = (Path(variant.removeprefix("console:")) / name).read_text()
        await route.fulfill(response=response, body=body)
        return
    if route.request.url.endswith("/app.js"):
        # The console now reads at DOMContentLoaded itself: `nodelay` is then the page as is
        # (and since it reads the cards first, `cv` too: its style sheet has the rule).
        shipped = SHIPPED_NO_DELAY in body or "afterPaint(" in body
        assert shipped or FIRST_REFRESH in body, "app.js changed: update the nodelay variant"
        body = body.replace(FIRST_REFRESH, NO_DELAY)
    elif route.request.url.endswith("/style.css") and "cv" in variant:
        body += CARD_CV
    await route.fulfill(response=response, body=body)


async def load_once(browser: Any, server: Server, variant: str = "") -> dict[str, Any]:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = await context.new_page()
        if variant:
            await page.route("**/console/*", lambda route: patched(route, variant))
        if variant.startswith("console:"):
            await page.route(server.url + "/", lambda route: patched(route, variant))
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.add_init_script(MARKER_JS % server.services)
        await page.goto(server.url + "/")
        # Polled from here: the page's CSP forbids the eval wait_for_function would need.
        deadline = time.monotonic() + 60
        while not await page.evaluate("() => window.__bench.done"):
            if time.monotonic() > deadline:
                raise SystemExit(f"{server.name}: the console did not finish loading in 60 s")
            await asyncio.sleep(0.05)
        result: dict[str, Any] = await page.evaluate(
            """() => {
              const nav = performance.getEntriesByType("navigation")[0];
              const api = {};
              for (const r of performance.getEntriesByType("resource")) {
                const path = new URL(r.name).pathname + new URL(r.name).search;
                api[path] = {start: r.startTime, took: r.responseEnd - r.startTime,
                             ttfb: r.responseStart - r.requestStart, bytes: r.transferSize};
              }
              return {...window.__bench, dcl: nav.domContentLoadedEventEnd,
                      html: nav.responseEnd, api};
            }"""
        )
        if errors:
            raise SystemExit(f"{server.name}: page errors: {errors}")
        return result
    finally:
        await context.close()


def pct(values: list[float], q: int) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def api_times(server: Server, rounds: int) -> dict[str, tuple[float, float, int]]:
    """Per call: median and p95 ms of sequential keep-alive GETs, and the body's bytes."""
    out: dict[str, tuple[float, float, int]] = {}
    with httpx.Client(base_url=server.url, timeout=30) as c:
        for path in CALLS:
            c.get(path)  # warm
            took = []
            size = 0
            for _ in range(rounds):
                t = time.perf_counter()
                r = c.get(path)
                took.append((time.perf_counter() - t) * 1000)
                size = len(r.content)
            out[path] = (statistics.median(took), pct(took, 95), size)
    return out


def profile(server: Server, out: Path, seconds: float) -> None:
    """py-spy (collapsed stacks, 1 kHz, idle frames dropped) on the server while one client
    GETs each API call back to back: out/<call>.txt, one file per call."""
    assert server.proc is not None
    out.mkdir(parents=True, exist_ok=True)
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    with httpx.Client(base_url=server.url, timeout=30) as c:
        for path in CALLS[3:]:
            name = path.strip("/").split("?")[0].replace("/", "_")
            rec = subprocess.Popen(
                [
                    spy,
                    "record",
                    "--pid",
                    str(server.proc.pid),
                    "--rate",
                    "1000",
                    "--format",
                    "raw",
                    "--duration",
                    str(int(seconds)),
                    "--output",
                    str(out / f"{name}.txt"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(0.5)
            n = 0
            while rec.poll() is None:
                c.get(path)
                n += 1
            print(f"  profiled {path}: {n} GETs in {seconds:g} s -> {out / name}.txt")


async def measure(
    targets: list[tuple[str, Server, str]], runs: int
) -> dict[str, list[dict[str, Any]]]:
    from playwright.async_api import async_playwright

    results: dict[str, list[dict[str, Any]]] = {name: [] for name, _, _ in targets}
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            for _, s, variant in targets:  # one untimed load each: first-use costs
                await load_once(browser, s, variant)
            for i in range(runs):
                order = targets if i % 2 == 0 else list(reversed(targets))
                for name, s, variant in order:
                    results[name].append(await load_once(browser, s, variant))
        finally:
            await browser.close()
    return results


def row(name: str, values: list[float]) -> str:
    return (
        f"{name:<44} {len(values):>4} {statistics.median(values):>9.1f} {pct(values, 95):>9.1f}"
        f" {min(values):>9.1f} {max(values):>9.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--ref-services", type=int, default=10)
    parser.add_argument("--api-rounds", type=int, default=20)
    parser.add_argument("--target-ms", type=float, default=300.0)
    parser.add_argument("--variants", action="store_true", help="also the patched console")
    parser.add_argument("--profile", type=Path, help="py-spy each API call into this folder")
    parser.add_argument(
        "--console",
        type=Path,
        action="append",
        default=[],
        help="also the big page with the console files of this folder (another version)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="paramedic-console-") as name:
        tmp = Path(name)
        hung = min(args.services, max(0, (args.events - args.services) // EVENTS_PER_HANG))
        big = Server("big", args.services, tmp / "big", hung=hung)
        ref = Server("ref", args.ref_services, tmp / "ref")
        try:
            t = time.monotonic()
            big.start()
            ref.start()
            print(f"started both in {time.monotonic() - t:.1f} s; filling the big store")
            after_hangs, notes = fill(big, args.events)
            ref.stream(36_000)
            wait_for("reference healthy", lambda: ref.healthy() == ref.services, 60)
            wait_for("big healthy", lambda: big.healthy() == big.services, 60)
            events = big.events()
            kinds = big.kinds()
            listed = httpx.get(big.url + "/api/alerts?limit=50", timeout=30).json()["alerts"]
            per_alert = sum(len(a["notifications"]) for a in listed) / max(1, len(listed))
            tries = sum(len(n["attempts"]) for a in listed for n in a["notifications"])
            load0 = os.getloadavg()
            targets = [("big", big, ""), ("ref", ref, "")]
            if args.variants:
                targets += [("big nodelay", big, "nodelay"), ("big nodelay+cv", big, "nodelay+cv")]
            for n, folder in enumerate(args.console, 1):
                targets.append((f"big console {n}", big, f"console:{folder}"))
                print(f"big console {n}: the console files of {folder}")
            results = asyncio.run(measure(targets, args.runs))
            load1 = os.getloadavg()
            apis = {s.name: api_times(s, args.api_rounds) for s in (big, ref)}
            load2 = os.getloadavg()
            if args.profile is not None:
                profile(big, args.profile, 5.0)
        finally:
            big.stop()
            ref.stop()
    print(
        f"\nbig: {args.services:,} heartbeat services, {events:,} timeline events "
        f"({big.hung} services hung and recovered once: {after_hangs:,}; + {notes} notes); "
        f"reference: {args.ref_services} services, empty timeline. {os.cpu_count()} CPUs, load "
        f"{load0[0]:.2f} before, {load1[0]:.2f} after the browser runs, {load2[0]:.2f} after "
        "the API timings"
    )
    print("  timeline: " + ", ".join(f"{k} {n:,}" for k, n in kinds))
    print(
        f"  /api/alerts?limit=50: {len(listed)} alerts, {per_alert:.1f} notifications each, "
        f"{tries} attempts in all"
    )
    header = (
        f"{'first load, ms from navigation start':<44} {'n':>4} {'median':>9} {'p95':>9}"
        f" {'min':>9} {'max':>9}"
    )
    print(header)
    print("-" * len(header))
    for key, label in (
        ("html", "document received"),
        ("dcl", "DOMContentLoaded done"),
        ("cards", "cards rendered"),
        ("painted", "cards painted (next frame)"),
        ("views", "all views rendered"),
    ):
        for name in results:
            print(row(f"{name}: {label}", [r[key] for r in results[name]]))
    b = [r["painted"] for r in results["big"]]
    r_ = [r["painted"] for r in results["ref"]]
    ratios = [x / y for x, y in zip(b, r_, strict=True)]
    print(
        f"\ncards painted, big / reference, per interleaved pair: median "
        f"{statistics.median(ratios):.2f}x (range {min(ratios):.2f}-{max(ratios):.2f}x)"
    )
    for name in [n for n in results if n.startswith("big ")]:
        v = [x / y for x, y in zip([r["painted"] for r in results[name]], b, strict=True)]
        print(
            f"cards painted, {name} / big, per interleaved pair: median "
            f"{statistics.median(v):.2f}x; median "
            f"{statistics.median([r['painted'] for r in results[name]]):.1f} ms"
        )
    verdict = "PASS" if statistics.median(b) < args.target_ms else "MISS"
    p95_side = "under" if pct(b, 95) < args.target_ms else "over"
    print(
        f"target: first load (cards painted) < {args.target_ms:.0f} ms with {args.services:,} "
        f"services and {events:,} events: median {statistics.median(b):.1f} ms, p95 "
        f"{pct(b, 95):.1f} ms -> {verdict} (p95 {p95_side})"
    )
    print("\nin the browser, per call (ms from start to response end, median of the big runs):")
    for path in sorted({p for r in results["big"] for p in r["api"]}):
        took = [r["api"][path]["took"] for r in results["big"] if path in r["api"]]
        start = [r["api"][path]["start"] for r in results["big"] if path in r["api"]]
        print(
            f"  {path:<40} starts {statistics.median(start):>7.1f}"
            f"  takes {statistics.median(took):>7.1f}"
        )
    header = (
        f"{'sequential GET, ms (loopback, keep-alive)':<32} {'big med':>8} {'p95':>7}"
        f" {'bytes':>9} {'ref med':>8} {'p95':>7} {'bytes':>7} {'ratio':>6}"
    )
    print("\n" + header)
    print("-" * len(header))
    for path in CALLS:
        bm, bp, bb = apis["big"][path]
        rm, rp, rb = apis["ref"][path]
        print(
            f"{path:<32} {bm:>8.2f} {bp:>7.2f} {bb:>9,} {rm:>8.2f} {rp:>7.2f} {rb:>7,}"
            f" {bm / rm:>5.1f}x"
        )


if __name__ == "__main__":
    main()
