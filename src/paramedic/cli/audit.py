"""`paramedic audit`: who did what through the API, from where, and how it ended."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

import typer

from paramedic.cli._http import (
    DEFAULT_URL,
    JsonOption,
    TokenOption,
    UrlOption,
    get,
    print_json,
    show_with_ids,
)

__all__ = ["audit_command"]


def audit_command(
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    target: Annotated[
        str | None, typer.Option(help="Only this alert, incident or silence id.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    json: JsonOption = False,
) -> None:
    """The audit trail, newest first (operator token): who, role, when, from where, what."""
    params: dict[str, str | int] = {"limit": limit}
    if target:
        params["target"] = target
    body = get(url, "/api/audit?" + urlencode(params), token)
    if json:
        print_json(body)
        return
    # The target is an id the reader may type next (ack, approve, incident): printed whole.
    rows: list[tuple[str, tuple[str, ...]]] = [
        (
            e["target"],
            (
                e["at"].replace("+00:00", "")[:23],
                e["who"],
                e["role"],
                e["address"],
                e["action"],
                e["reason"],
                e["outcome"],
            ),
        )
        for e in body.get("entries", [])
    ]
    show_with_ids(("when (UTC)", "who", "role", "from", "action", "reason", "outcome"), rows)
