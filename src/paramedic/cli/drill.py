"""`paramedic drill SERVICE --kind KIND`, `paramedic drill report ID`, `paramedic drill list`.

A drill is started through the API (operator token), then followed: the command waits for
the drill to finish (the incident HEALTHY, handed to a human, or the drill's timeout) and
prints its report, as Markdown or `--json`. Exit 0 when the service came back by itself.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from paramedic.cli._http import (
    DEFAULT_URL,
    JsonOption,
    TokenOption,
    UrlOption,
    get,
    post,
    print_json,
    quoted,
    show_with_ids,
    typed_in_full,
    unique,
)
from paramedic.config.chaos import DRILL_KINDS
from paramedic.config.durations import parse_duration

__all__ = ["drill_command", "render_markdown"]

POLL_S = 0.5  # the CLI is another process: it reads the report until the drill finishes


def drill_command(
    target: Annotated[
        str, typer.Argument(help="The service to drill; or `report` (then an ID), or `list`.")
    ],
    drill_id: Annotated[
        str | None,
        typer.Argument(
            help="With `report`: the drill's id (or a unique prefix).", show_default=False
        ),
    ] = None,
    kind: Annotated[
        str, typer.Option("--kind", help=f"The failure to cause: {', '.join(DRILL_KINDS)}.")
    ] = "crash",
    contacts: Annotated[
        list[str] | None,
        typer.Option("--contacts", help="Who is paged (repeat; default: the on-call contact)."),
    ] = None,
    timeout: Annotated[
        str, typer.Option(help="How long to follow the incident before calling it a timeout.")
    ] = "5m",
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="Wait for the drill and print its report.")
    ] = True,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    json: JsonOption = False,
) -> None:
    """Cause a failure on purpose and measure the response (a game day)."""
    if target == "list":
        _list(url, token, json)
        return
    if target == "report":
        if drill_id is None:
            typer.echo("paramedic: give the drill's id: paramedic drill report ID", err=True)
            raise typer.Exit(2)
        if not typed_in_full(drill_id):
            listed = get(url, "/api/drills", token)["drills"]
            drill_id = unique(drill_id, (d["id"] for d in listed), "drill")
        _show(get(url, f"/api/drills/{quoted(drill_id)}", token), json)
        return
    if drill_id is not None:
        typer.echo(f"paramedic: unexpected argument {drill_id!r}", err=True)
        raise typer.Exit(2)
    payload: dict[str, Any] = {"service": target, "kind": kind, "timeout": timeout}
    if contacts:
        payload["contacts"] = contacts
    started = post(url, "/api/drills", token, payload)
    drill = started["drill"]
    if not wait:
        typer.echo(drill)
        return
    typer.echo(f"drill {drill} started; following the incident...", err=True)
    deadline = time.monotonic() + parse_duration(timeout) + 30.0
    report = get(url, f"/api/drills/{quoted(drill)}", token)
    while report["state"] != "finished" and time.monotonic() < deadline:
        time.sleep(POLL_S)
        report = get(url, f"/api/drills/{quoted(drill)}", token)
    _show(report, json)
    if report["state"] != "finished" or not report["ok"]:
        raise typer.Exit(1)


def _show(report: dict[str, Any], json: bool) -> None:
    if json:
        print_json(report)
    else:
        typer.echo(render_markdown(report))


def _list(url: str, token: str | None, json: bool) -> None:
    body = get(url, "/api/drills", token)
    if json:
        print_json(body)
        return
    rows: list[tuple[str, tuple[str, ...]]] = [
        (d["id"], (d["service"], d["kind"], d["by"], d["started_at"], d["outcome"] or "running"))
        for d in body["drills"]
    ]
    show_with_ids(("service", "kind", "by", "started (UTC)", "outcome"), rows)


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f} s"


def render_markdown(r: dict[str, Any]) -> str:
    """The report as a person reads it after a game day."""
    lines = [f"# Drill {r['id']}: {r['kind']} of {r['service']}", ""]
    lines.append(f"- started {r['started_at']} by {r['by']}; pages to {', '.join(r['contacts'])}")
    inj = r["injected"]
    lines.append(f"- injected: {inj['how'] if inj else 'not yet'}")
    det = r["detected"]
    if det:
        lines.append(
            f"- detected after {_s(det['time_to_detect_s'])} by {det['layer']}"
            f" ({det['failure_kind']}): {det['sentence']}"
        )
    else:
        lines.append("- detected: no")
    dec = r["decision"]
    if dec:
        method = dec["method"] or "no recovery plan"
        lines.append(f"- decision: {method}: {dec['reason']}")
    lines.append(f"- path: {' -> '.join(r['path']) or '-'}")
    met = {None: "", True: " (met)", False: " (MISSED)"}[r["rto_met"]]
    lines.append(f"- RTO: {_s(r['rto_s'])} against a target of {_s(r['target_rto_s'])}{met}")
    lines.append(f"- outcome: {r['outcome'] or 'running'}: {r['sentence']}")
    lines += ["", "## Pages", ""]
    lines.append("| to | channel | action | status | delivered | acknowledged | title |")
    lines.append("|---|---|---|---|---|---|---|")
    for p in r["pages"]:
        ack = f"{p['acknowledged_at']} by {p['acknowledged_by']}" if p["acknowledged_at"] else "-"
        lines.append(
            f"| {p['receiver']} | {p['channel']} | {p['action']} | {p['status']}"
            f" | {p['delivered_at'] or '-'} | {ack} | {p['title']} |"
        )
    lines += ["", "## Escalation", ""]
    if not r["escalation"]:
        lines.append("- no escalation level beyond the first pages was exercised")
    for e in r["escalation"]:
        lines.append(f"- level {e['level']} ({e['step']}) at {e['at']}: {', '.join(e['contacts'])}")
    return "\n".join(lines)
