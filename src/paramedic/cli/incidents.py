"""`paramedic incident ID | report ID | lessons ID`: one incident, its post-mortem report, and
its lessons learned, through the API.

`paramedic incident ID` (show) stays what it was: a first word that is not a subcommand is
an incident id, so the group adds `report` and `lessons` without breaking a habit.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from typer.core import TyperGroup

from paramedic.cli._http import (
    DEFAULT_URL,
    TokenOption,
    UrlOption,
    get,
    incident_of,
    post,
    print_json,
    quoted,
    typed_in_full,
    unique,
)

__all__ = ["incident_app", "incident_id"]


class _ShowByDefault(TyperGroup):
    """A group whose first argument, when not a subcommand, is the id for `show`."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # typer's own click Context
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["show", *args]
        return super().parse_args(ctx, args)


incident_app = typer.Typer(
    cls=_ShowByDefault,
    help="One incident (`paramedic incident ID`), its report, its lessons learned.",
    no_args_is_help=True,
)


def incident_id(url: str, token: str | None, given: str) -> str:
    """The incident whose id is `given` or starts with it (the API's 404 names an unknown one)."""
    given = incident_of(given)
    if typed_in_full(given):
        return given
    listed = get(url, "/api/incidents", token).get("incidents", [])
    return unique(given, (i["id"] for i in listed), "incident")


@incident_app.command("report")
def report(
    incident: Annotated[str, typer.Argument(help="The incident (id or unique prefix).")],
    format: Annotated[str, typer.Option("--format", "-f", help="md (Markdown) or json.")] = "md",
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write to this file instead of standard output."),
    ] = None,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """The post-mortem report: timeline to the millisecond, decision, approvals, steps, pages
    with delivery and acknowledgement times, escalations, validation, resumption, RTO against
    target, time to acknowledge, what was preserved, the checklist. Generating it ticks the
    checklist's "incident documented"."""
    if format not in ("md", "json"):
        typer.echo(f"paramedic: --format: md or json, not {format!r}", err=True)
        raise typer.Exit(2)
    incident = incident_id(url, token, incident)
    path = f"/api/incidents/{quoted(incident)}/report?format={format}"
    if format == "json":
        body: Any = get(url, path, token)
        if output is None:
            print_json(body)
            return
        import json

        text = json.dumps(body, indent=2, sort_keys=True) + "\n"
    else:
        text = _get_text(url, path, token)
    if output is None:
        sys.stdout.write(text)
        return
    output.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {output}", err=True)


@incident_app.command("lessons")
def lessons(
    incident: Annotated[str, typer.Argument(help="The incident (id or unique prefix).")],
    text: Annotated[
        str | None, typer.Argument(help="The lessons learned (or give --file).", show_default=False)
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", help="Read the lessons from this file (`-`: standard input)."),
    ] = None,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Write the lessons learned of an incident (operator token); the latest text is shown in
    the report and ticks the checklist's last item."""
    if (text is None) == (file is None):
        typer.echo("paramedic: give the lessons as TEXT or with --file, one of the two", err=True)
        raise typer.Exit(2)
    if file is not None:
        try:
            text = sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            typer.echo(f"paramedic: --file: cannot read {file}: {exc}", err=True)
            raise typer.Exit(2) from None
    incident = incident_id(url, token, incident)
    post(url, f"/api/incidents/{quoted(incident)}/lessons", token, {"text": text})
    typer.echo(f"lessons learned of {incident} recorded")


def _get_text(url: str, path: str, token: str | None) -> str:
    """A text answer (the Markdown report); errors as every other command prints them."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = httpx.get(url.rstrip("/") + path, headers=headers, timeout=10.0)
    except httpx.HTTPError as exc:
        typer.echo(f"paramedic: cannot reach {url}: {exc}; is `paramedic run` up?", err=True)
        raise typer.Exit(2) from None
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail")
        except ValueError:
            detail = response.text[:200]
        typer.echo(f"paramedic: {response.status_code}: {detail}", err=True)
        raise typer.Exit(2)
    return response.text
