"""`paramedic preflight`: the "before recovery" checklist against the running paramedic.

The checks run in the server (they need its live state: detectors, routes, the outbox, the
drills); this prints them as a table or `--json` and exits 1 when any item failed.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from paramedic.cli._http import DEFAULT_URL, JsonOption, TokenOption, UrlOption, post, print_json

__all__ = ["preflight_command"]


def preflight_command(
    send_test: Annotated[
        bool, typer.Option("--send-test", help="Send test pages first (on-call is paged).")
    ] = False,
    reach_days: Annotated[
        float, typer.Option(help="An on-call contact's last test page must be this recent.")
    ] = 31.0,
    drill_days: Annotated[
        float, typer.Option(help="A tier-1 service's last successful drill must be this recent.")
    ] = 90.0,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    json: JsonOption = False,
) -> None:
    """Check monitoring, alert routes, dashboards, on-call reach and drills (operator token);
    exit 1 if any item fails."""
    payload = {"send_test": send_test, "reach_days": reach_days, "drill_days": drill_days}
    body = post(url, "/api/preflight", token, payload)
    if json:
        print_json(body)
    else:
        table = Table("item", "ok", "why")
        for item in body["items"]:
            table.add_row(item["name"], "yes" if item["ok"] else "NO", item["sentence"])
        Console(width=200).print(table)
    if not body["ok"]:
        raise typer.Exit(1)
