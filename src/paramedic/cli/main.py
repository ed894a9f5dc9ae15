"""The command line: a thin shell over the runtime and the HTTP API."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import structlog
import typer
from rich.console import Console
from rich.table import Table

from paramedic import __version__
from paramedic.cli._http import (
    DEFAULT_URL,
    JsonOption,
    TokenOption,
    UrlOption,
    incident_of,
    print_json,
    quoted,
    show_with_ids,
    typed_in_full,
    unique,
)
from paramedic.cli._http import get as _get
from paramedic.cli._http import post as _post
from paramedic.cli.audit import audit_command
from paramedic.cli.drill import drill_command
from paramedic.cli.incidents import incident_app
from paramedic.cli.preflight import preflight_command
from paramedic.cli.silences import silence_app
from paramedic.cli.top import top_command
from paramedic.config import ConfigIssue, InvalidConfig, load_config
from paramedic.config.model import LogConfig
from paramedic.core.text import duration

__all__ = ["app", "main"]

log = structlog.get_logger("paramedic.config")

ReasonOption = Annotated[
    str, typer.Option("--reason", "-r", help="Why (goes into the audit trail).")
]

app = typer.Typer(
    help="paramedic: detect, recover, validate and alert for latency-critical services.",
    no_args_is_help=True,
    add_completion=False,
)
config_app = typer.Typer(help="Work with configuration files.", no_args_is_help=True)
app.add_typer(config_app, name="config")


@app.command()
def version() -> None:
    """Print paramedic's version."""
    typer.echo(__version__)


@config_app.command("check")
def config_check(
    file: Annotated[Path, typer.Argument(help="The YAML configuration to validate.")],
) -> None:
    """Validate FILE: print `ok` (after any warnings), or every mistake with its location, and
    exit 1. Warnings (exit 0) name what would work but probably not as meant, such as a
    default receiver whose channel is not configured, so its pages would go to the log."""
    from paramedic.alerting.reach import review

    warnings: list[ConfigIssue] = []
    try:
        load_config(file, warnings=warnings, review=review)
    except InvalidConfig as exc:
        for issue in exc.issues:
            typer.echo(issue.render(str(file)), err=True)
        typer.echo(f"{len(exc.issues)} error(s) in {file}", err=True)
        raise typer.Exit(1) from None
    for issue in warnings:
        typer.echo(f"warning: {issue.render(str(file))}", err=True)
    typer.echo(f"ok ({len(warnings)} warning(s))" if warnings else "ok")


@config_app.command("schema")
def config_schema() -> None:
    """Print the JSON Schema of the configuration file (durations and sizes as written,
    `5s`, `512MiB`), for editors that validate YAML; the keys are in docs/configuration.md."""
    from paramedic.config.schema import config_json_schema_text

    typer.echo(config_json_schema_text(), nl=False)


@app.command()
def run(
    config: Annotated[Path, typer.Option("--config", "-c", help="The YAML configuration.")],
) -> None:
    """Run paramedic in the foreground until SIGTERM or Ctrl-C."""
    from paramedic.alerting.reach import review
    from paramedic.runtime.serve import serve

    warnings: list[ConfigIssue] = []
    try:
        cfg = load_config(config, warnings=warnings, review=review)
    except InvalidConfig as exc:
        typer.echo(f"paramedic: cannot start: invalid config {config}:", err=True)
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    _configure_logging(cfg.log)

    def announce(paramedic: Any) -> None:
        typer.echo(f"paramedic {__version__}: API on http://{paramedic.api_url_host()}", err=True)
        # What `config check` warns about (pages that would go to the log) is said at start
        # too: whoever starts paramedic without checking first must not learn it from a page
        # that never came. Logged once started, so a start refused says only why.
        for issue in warnings:
            log.warning("config warning", warning=issue.render(str(config)))

    code = _run_loop(serve(cfg, base_dir=config.resolve().parent, on_started=announce))
    # Everything is stopped and the store closed (or the deadline passed and the children
    # were killed): exit now. The interpreter's own teardown (freeing every module) took
    # 0.2-0.9 s, measured, and would break the shutdown_timeout promise.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


@app.command()
def status(
    url: UrlOption = DEFAULT_URL, token: TokenOption = None, json: JsonOption = False
) -> None:
    """Show paramedic's health, as its API reports it."""
    body = _get(url, "/health", token, unhealthy_ok=True)
    if json:
        print_json(body)
        raise typer.Exit(0 if body.get("healthy") else 1)
    console = Console()
    healthy = body.get("healthy")
    console.print(
        f"paramedic at {url}: " + ("[green]healthy[/]" if healthy else "[red]UNHEALTHY[/]")
    )
    table = Table("component", "state")
    for name, ok in sorted(body.get("components", {}).items()):
        table.add_row(name, "[green]ok[/]" if ok else "[red]failed[/]")
    console.print(table)
    metrics = Table("metric", "value")
    for name, value in sorted(body.get("metrics", {}).items()):
        metrics.add_row(name, f"{value:g}")
    console.print(metrics)
    if not healthy:
        raise typer.Exit(1)


@app.command()
def alerts(
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    state: Annotated[str | None, typer.Option(help="firing, acknowledged or resolved")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    json: JsonOption = False,
) -> None:
    """List recent alerts with their deliveries (ids in full: type any unique prefix)."""
    params = f"?limit={limit}" + (f"&state={state}" if state else "")
    body = _get(url, "/api/alerts" + params, token)
    if json:
        print_json(body)
        return
    rows: list[tuple[str, tuple[str, ...]]] = []
    for a in body.get("alerts", []):
        deliveries = ", ".join(
            f"{n['channel']}:{n['status']}({len(n['attempts'])})" for n in a["notifications"]
        )
        cells = (
            a["severity"],
            a["state"],
            a.get("service") or "",
            a["alert"].get("title", ""),
            str(a.get("escalation_level", 0)),
            deliveries,
        )
        rows.append((a["id"], cells))
    show_with_ids(("sev", "state", "service", "title", "level", "deliveries"), rows)


@app.command()
def ack(
    alert_id: Annotated[str, typer.Argument(help="The alert to acknowledge.")],
    reason: ReasonOption,
    for_: Annotated[
        str | None,
        typer.Option(
            "--for", help="How long the ack holds (1m to 24h, e.g. 30m).", show_default=False
        ),
    ] = None,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Acknowledge an alert (id or unique prefix): escalation pauses until the ack expires."""
    alert_id = _alert_id(url, token, alert_id)
    payload: dict[str, Any] = {"reason": reason}
    if for_ is not None:
        payload["for"] = for_
    body = _post(url, f"/api/alerts/{quoted(alert_id)}/ack", token, payload)
    typer.echo(f"acknowledged {alert_id} until {body.get('expires_at', '?')}")


@app.command()
def resolve(
    alert_id: Annotated[str, typer.Argument(help="The alert to resolve.")],
    reason: ReasonOption,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Resolve an alert (id or unique prefix): every channel that got the page gets the resolve."""
    alert_id = _alert_id(url, token, alert_id)
    _post(url, f"/api/alerts/{quoted(alert_id)}/resolve", token, {"reason": reason})
    typer.echo(f"resolved {alert_id}")


@app.command("test-alert")
def send_test_page(
    severity: Annotated[str, typer.Option(help="P0, P1, P2 or P3.")] = "P1",
    channel: Annotated[str | None, typer.Option(help="Send to this channel only.")] = None,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Send a test page the way a real alert of that severity would go (test them regularly)."""
    body = _post(url, "/api/test-alert", token, {"severity": severity, "channel": channel})
    typer.echo(f"test page {body['alert']['id']} sent")


def _answer_incident(
    url: str, token: str | None, given: str, action: str, reason: str, said: str
) -> str:
    """POST an operator's answer about an incident (given by id or unique prefix); returns
    the sentence to print, `said` with the full incident id in it."""
    incident = _incident_id(url, token, given)
    _post(url, f"/api/incidents/{quoted(incident)}/{action}", token, {"reason": reason})
    return said.format(incident=incident)


@app.command()
def approve(
    incident: Annotated[str, typer.Argument(help="The incident awaiting approval.")],
    reason: ReasonOption,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Approve the decided recovery of an incident (id or unique prefix; operator token)."""
    typer.echo(_answer_incident(url, token, incident, "approve", reason, "approved {incident}"))


@app.command()
def reject(
    incident: Annotated[str, typer.Argument(help="The incident awaiting approval.")],
    reason: ReasonOption,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Reject it (id or unique prefix): the incident goes to manual recovery, nothing is run."""
    typer.echo(_answer_incident(url, token, incident, "reject", reason, "rejected {incident}"))


@app.command()
def manual(
    incident: Annotated[str, typer.Argument(help="The open incident to take over.")],
    reason: ReasonOption,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Take an incident to manual recovery: automation stops, trading is halted (id or prefix)."""
    typer.echo(
        _answer_incident(url, token, incident, "manual", reason, "{incident} is in manual recovery")
    )


@app.command("resolve-incident")
def resolve_incident(
    incident: Annotated[str, typer.Argument(help="The incident in manual recovery.")],
    reason: ReasonOption,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Resolve a manual incident: trading resumes gradually, HEALTHY after the watch period."""
    typer.echo(_answer_incident(url, token, incident, "resolve", reason, "resolved {incident}"))


@app.command()
def history(
    url: UrlOption = DEFAULT_URL, token: TokenOption = None, json: JsonOption = False
) -> None:
    """The recovery history: time, failure type, method, RTO, success."""
    body = _get(url, "/api/recoveries", token)
    if json:
        print_json(body)
        return
    # The incident id is what `paramedic incident` takes: printed whole.
    rows: list[tuple[str, tuple[str, ...]]] = [
        (
            r.get("incident") or "",
            (
                datetime.fromtimestamp(r["time"], UTC).strftime("%Y-%m-%d %H:%M:%S"),
                r.get("service") or "",
                r.get("failure_type") or "",
                r["method"],
                duration(r["rto_s"]),
                "yes" if r["success"] else "no",
            ),
        )
        for r in body.get("recoveries", [])
    ]
    show_with_ids(("time (UTC)", "service", "failure", "method", "RTO", "success"), rows)


@incident_app.command("show")
def incident(
    incident_id: Annotated[str, typer.Argument(help="The incident to show.")],
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    json: JsonOption = False,
) -> None:
    """One incident (id or unique prefix): state, decision, steps with durations, RTO, timeline."""
    incident_id = _incident_id(url, token, incident_id)
    body = _get(url, f"/api/incidents/{quoted(incident_id)}", token)
    if json:
        print_json(body)
        return
    console = Console()
    console.print(f"[bold]{body['id']}[/] {body['service']}: {body['kind']} - {body['reason']}")
    console.print(
        f"state {body['state']}, method {body.get('method')}, attempts {body['attempts']}"
    )
    if body.get("decision"):
        console.print(f"decision: {body['decision']}")
    steps = Table("step", "ok", "duration")
    for s in body.get("steps", []):
        steps.add_row(s["step"], "yes" if s["ok"] else "no", duration(s["duration_s"]))
    console.print(steps)
    if body.get("rto_s") is not None:
        console.print(f"Total recovery time: {body['rto_s']:.3f} seconds")
    for item in body.get("checklist", []):
        mark = "x" if item["done"] else " "
        # Not markup: a detail quoting a check may hold brackets.
        console.print(f"[{mark}] {item['label']}: {item['detail']}", markup=False)
    for e in body.get("timeline", []):
        when = datetime.fromtimestamp(e["at"], UTC).strftime("%H:%M:%S.%f")[:-3]
        console.print(f"{when}  {e['summary']}")


def _alert_id(url: str, token: str | None, given: str) -> str:
    """The open alert whose id is `given` or starts with it."""
    listed = _get(url, "/api/alerts?limit=1000", token).get("alerts", [])
    return unique(given, (a["id"] for a in listed if a["state"] != "resolved"), "open alert")


def _incident_id(url: str, token: str | None, given: str) -> str:
    given = incident_of(given)
    if typed_in_full(given):
        return given
    listed = _get(url, "/api/incidents", token).get("incidents", [])
    return unique(given, (i["id"] for i in listed), "incident")


def _configure_logging(cfg: LogConfig) -> None:
    level = getattr(logging, cfg.level.upper())
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if cfg.format == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )


def _run_loop(coro: Any) -> int:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        result: int = asyncio.run(coro)
        return result
    code: int = uvloop.run(coro)
    return code


app.add_typer(silence_app, name="silence")
app.command("audit")(audit_command)
app.add_typer(incident_app, name="incident")
app.command("top")(top_command)
app.command("drill")(drill_command)
app.command("preflight")(preflight_command)


def main() -> None:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    app()
