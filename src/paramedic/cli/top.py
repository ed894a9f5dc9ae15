"""`paramedic top`: the overview an on-call engineer keeps open in an SSH session.

One row per service (state, time since the failure, progress, current step, ETA), paramedic's
own health, open incidents and unacknowledged alerts, with every id in full. It reads only the
public API (`/metrics` for the service list and their verdicts, `/health`, `/api/incidents`,
`/api/alerts`, `/recovery/status` of each service with an open incident), polled once a second.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

import httpx
import typer
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from paramedic.cli._http import DEFAULT_URL, TokenOption, UrlOption, quoted
from paramedic.core.text import duration

__all__ = ["Snapshot", "fetch", "render", "top_command"]

# The incident states as the operator reads them.
_STATE_WORDS = {
    "FAILURE_DETECTED": ("recovering", "yellow"),
    "RECOVERY_IN_PROGRESS": ("recovering", "yellow"),
    "VALIDATING": ("recovering", "yellow"),
    "AWAITING_APPROVAL": ("awaiting approval", "magenta"),
    "RECOVERED": ("recovered, resuming", "cyan"),
    "RECOVERY_FAILED": ("failed", "bold red"),
    "MANUAL_RECOVERY": ("manual", "bold red"),
}
_ALERTS_SHOWN = 100


class Unreachable(Exception):
    """paramedic's API did not answer (or answered an error): the sentence says which."""


@dataclass
class Snapshot:
    """What one refresh read from the API."""

    at: float
    health: dict[str, Any]
    services: dict[str, dict[str, float]] = field(default_factory=dict)
    incidents: list[dict[str, Any]] = field(default_factory=list)
    statuses: dict[str, dict[str, Any]] = field(default_factory=dict)
    alerts: list[dict[str, Any]] = field(default_factory=list)


def _get(client: httpx.Client, path: str, *, unhealthy_ok: bool = False) -> httpx.Response:
    try:
        response = client.get(path)
    except httpx.HTTPError as exc:
        msg = f"cannot reach {client.base_url}: {exc}"
        raise Unreachable(msg) from None
    if response.status_code >= 400 and not (unhealthy_ok and response.status_code == 503):
        msg = f"{path}: {response.status_code} {response.text[:200]}"
        raise Unreachable(msg)
    return response


def _service_readings(text: str) -> dict[str, dict[str, float]]:
    """Per service, the verdicts /metrics has: every service paramedic knows appears in at
    least one of these families (a recovery plan, a process, or a known verdict)."""
    wanted = {
        "paramedic_service_up": "up",
        "paramedic_process_running": "running",
        "paramedic_service_reported_healthy": "reported_healthy",
        "recovery_system_state": "state",
    }
    found: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(text):
        key = wanted.get(family.name)
        if key is None:
            continue
        for sample in family.samples:
            service = sample.labels.get("service")
            if service is not None:
                found.setdefault(service, {})[key] = sample.value
    return found


def fetch(url: str, token: str | None) -> Snapshot:
    """One refresh: every read the screen needs; raises Unreachable with the reason."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=5.0) as client:
        snapshot = Snapshot(
            at=time.time(), health=_get(client, "/health", unhealthy_ok=True).json()
        )
        snapshot.services = _service_readings(_get(client, "/metrics").text)
        snapshot.incidents = _get(client, "/api/incidents").json().get("incidents", [])
        for incident in snapshot.incidents:
            name = incident["service"]
            snapshot.services.setdefault(name, {})
            if not incident["closed"] and name not in snapshot.statuses:
                path = f"/recovery/status?service={quoted(name)}"
                snapshot.statuses[name] = _get(client, path).json()
        # No alerting (503): the screen shows the rest without alerts.
        answer = client.get(f"/api/alerts?state=firing&limit={_ALERTS_SHOWN}")
        if answer.status_code == 200:
            snapshot.alerts = answer.json().get("alerts", [])
    return snapshot


def _ago(seconds: float) -> str:
    return duration(max(0.0, seconds))


def _service_state(readings: dict[str, float], status: dict[str, Any] | None) -> Text:
    if status is not None and status.get("state") in _STATE_WORDS:
        word, style = _STATE_WORDS[str(status["state"])]
        return Text(word, style=style)
    if readings.get("up") == 0.0 or readings.get("running") == 0.0:
        return Text("down", style="bold red")
    if readings.get("reported_healthy") == 0.0:
        return Text("degraded", style="yellow")
    if readings.get("up") == 1.0:
        return Text("healthy", style="green")
    return Text("unknown", style="dim")


def _services_table(s: Snapshot) -> Table:
    table = Table(title="services", title_justify="left", expand=True)
    table.add_column("service", no_wrap=True)
    table.add_column("state", no_wrap=True)
    table.add_column("since failure", justify="right")
    table.add_column("progress", justify="right")
    table.add_column("current step", overflow="fold")
    table.add_column("ETA", justify="right")
    opened = {
        i["service"]: i["opened"]
        for i in sorted(s.incidents, key=lambda i: i["opened"])
        if not i["closed"]
    }
    for name in sorted(s.services):
        status = s.statuses.get(name)
        since = progress = step = eta = ""
        if name in opened:
            since = _ago(s.at - opened[name])
        if status is not None:
            progress = f"{status.get('progress_percentage', 0)}%"
            step = str(status.get("current_step", ""))
            completion = status.get("estimated_completion")
            if isinstance(completion, int | float) and status.get("state") != "RECOVERED":
                eta = "in " + _ago(completion / 1000 - s.at)
        table.add_row(name, _service_state(s.services[name], status), since, progress, step, eta)
    return table


def _own_health(s: Snapshot) -> Text:
    healthy = bool(s.health.get("healthy"))
    metrics = s.health.get("metrics", {})
    failing = [n for n, ok in sorted(s.health.get("components", {}).items()) if not ok]
    line = Text("paramedic: ")
    line.append("healthy" if healthy else "UNHEALTHY", style="green" if healthy else "bold red")
    if failing:
        line.append(f" (failing: {', '.join(failing)})", style="red")
    uptime = metrics.get("uptime_seconds")
    if isinstance(uptime, int | float):
        line.append(f"  up {_ago(uptime)}")
    lag = metrics.get("event_loop_lag_ms")
    if isinstance(lag, int | float):
        line.append(f"  loop lag {lag:g} ms")
    open_incidents = sum(not i["closed"] for i in s.incidents)
    line.append(f"  open incidents {open_incidents}  unacknowledged alerts {len(s.alerts)}")
    return line


def _with_ids(
    title: str, headers: tuple[str, ...], rows: Sequence[tuple[str, tuple[str, ...]]], width: int
) -> RenderableType:
    """Rows led by an id a user may type: never cut, never wrapped. When the terminal is too
    narrow for the longest id and the rest, each row becomes a block headed by its id."""
    if not rows:
        return Text(f"{title}: none", style="green")
    widest = max(len(identifier) for identifier, _ in rows)
    if width >= widest + 12 * len(headers):
        table = Table(title=title, title_justify="left", expand=True)
        table.add_column("id", no_wrap=True, min_width=widest)
        for name in headers:
            table.add_column(name, overflow="fold")
        for identifier, cells in rows:
            table.add_row(identifier, *cells)
        return table
    lines: list[RenderableType] = [Text(title, style="italic")]
    for identifier, cells in rows:
        # No overflow of its own: `--once` prints soft-wrapped (the whole id on one line, the
        # terminal wraps it), the live view folds it onto the next line rather than crop it.
        lines.append(Text(identifier, style="bold"))
        lines.append(
            Text("  " + "  ".join(f"{h}: {c}" for h, c in zip(headers, cells, strict=True) if c))
        )
    return Group(*lines)


def _incidents(s: Snapshot, width: int) -> RenderableType:
    rows: list[tuple[str, tuple[str, ...]]] = [
        (
            i["id"],
            (
                i["service"],
                _STATE_WORDS.get(i["state"], (str(i["state"]).lower(), ""))[0],
                i["kind"],
                _ago(s.at - i["opened"]) + " ago",
            ),
        )
        for i in s.incidents
        if not i["closed"]
    ]
    return _with_ids("open incidents", ("service", "state", "kind", "opened"), rows, width)


def _alerts(s: Snapshot, width: int) -> RenderableType:
    rows: list[tuple[str, tuple[str, ...]]] = [
        (
            a["id"],
            (
                a["severity"],
                a.get("service") or "",
                str(a.get("alert", {}).get("title", "")),
                str(a.get("escalation_level", 0)),
            ),
        )
        for a in s.alerts
    ]
    return _with_ids("unacknowledged alerts", ("sev", "service", "title", "level"), rows, width)


def render(s: Snapshot, width: int = 80) -> RenderableType:
    """One frame of the screen, for a terminal `width` columns wide."""
    when = datetime.fromtimestamp(s.at, UTC).strftime("%H:%M:%S UTC")
    return Group(
        Text(f"paramedic top  {when}", style="bold"),
        _own_health(s),
        _services_table(s),
        _incidents(s, width),
        _alerts(s, width),
    )


def _frames(
    console: Console, url: str, token: str | None, interval: float
) -> Iterator[RenderableType]:
    while True:
        try:
            yield render(fetch(url, token), console.width)
        except Unreachable as exc:
            yield Text(f"paramedic: {exc}; retrying every {interval:g} s", style="bold red")
        time.sleep(interval)


def top_command(
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    once: Annotated[bool, typer.Option("--once", help="Print one frame and exit.")] = False,
    interval: Annotated[float, typer.Option(min=0.2, help="Seconds between refreshes.")] = 1.0,
) -> None:
    """A live overview: each service's state, time since failure, progress, step and ETA;
    paramedic's own health; open incidents and unacknowledged alerts (ids in full)."""
    console = Console()
    if once:
        try:
            console.print(render(fetch(url, token), console.width), soft_wrap=True)
        except Unreachable as exc:
            typer.echo(
                f"paramedic: {exc}; is `paramedic run` up? (--url / PARAMEDIC_URL)", err=True
            )
            raise typer.Exit(2) from None
        return
    # Ctrl-C ends the view even when the shell that started it ignored SIGINT (a background
    # job of a script inherits SIG_IGN, and Python then never raises KeyboardInterrupt).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with Live(console=console, screen=False, auto_refresh=False) as live:
            for frame in _frames(console, url, token, interval):
                live.update(frame, refresh=True)
    except KeyboardInterrupt:
        return
