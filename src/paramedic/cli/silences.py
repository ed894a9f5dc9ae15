"""`paramedic silence add|list|expire`: silences at run time, through the API."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from paramedic.cli._http import (
    DEFAULT_URL,
    JsonOption,
    TokenOption,
    UrlOption,
    call,
    get,
    post,
    print_json,
    quoted,
    show_with_ids,
    typed_in_full,
    unique,
)

__all__ = ["silence_app"]

silence_app = typer.Typer(
    help="Silence alerts by label for a while (operator token to add or expire).",
    no_args_is_help=True,
)


@silence_app.command("add")
def add(
    matchers: Annotated[
        list[str],
        typer.Argument(help='Label matchers, as in the config: service=engine, venue=~"NYSE|CME".'),
    ],
    comment: Annotated[
        str, typer.Option("--comment", "-c", help="Why (shown with every held alert).")
    ],
    for_: Annotated[
        str | None, typer.Option("--for", help="How long, e.g. 2h.", show_default=False)
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            help="Until this time, with its zone: 2026-01-02T18:00:00Z.", show_default=False
        ),
    ] = None,
    until_resolved: Annotated[
        bool, typer.Option("--until-resolved", help="Until an alert it matches resolves.")
    ] = False,
    starts: Annotated[
        str | None, typer.Option(help="From this time (default: now).", show_default=False)
    ] = None,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    json: JsonOption = False,
) -> None:
    """Add a silence: matching alerts are recorded and held, not paged, until it ends."""
    payload: dict[str, Any] = {"matchers": matchers, "comment": comment}
    if for_ is not None:
        payload["duration"] = for_
    if until is not None:
        payload["ends"] = until
    if until_resolved:
        payload["until_resolved"] = True
    if starts is not None:
        payload["starts"] = starts
    body = post(url, "/api/silences", token, payload)
    if json:
        print_json(body)
        return
    s = body["silence"]
    ends = "until an alert it matches resolves" if s["until_resolved"] else f"until {s['ends']}"
    typer.echo(f"silence {s['id']} added ({', '.join(s['matchers'])}) {ends}")


@silence_app.command("list")
def list_(
    all_: Annotated[bool, typer.Option("--all", help="Expired ones too.")] = False,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    json: JsonOption = False,
) -> None:
    """Silences in force or pending (from the config and the API)."""
    body = get(url, "/api/silences" + ("?state=all" if all_ else ""), token)
    if json:
        print_json(body)
        return
    rows: list[tuple[str, tuple[str, ...]]] = []
    for s in body.get("silences", []):
        ends = "until resolved" if s["until_resolved"] else (s["ends"] or "")
        cells = (s["state"], ", ".join(s["matchers"]), ends, s["author"], s["comment"], s["source"])
        rows.append((s["id"], cells))
    show_with_ids(("state", "matchers", "ends", "author", "comment", "source"), rows)


@silence_app.command("expire")
def expire(
    silence_id: Annotated[str, typer.Argument(help="The silence (id or unique prefix).")],
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """End a silence now: alerts it held that still fire are paged."""
    if not typed_in_full(silence_id):
        listed = get(url, "/api/silences", token).get("silences", [])
        silence_id = unique(silence_id, (s["id"] for s in listed), "silence")
    call("DELETE", url, f"/api/silences/{quoted(silence_id)}", token, None)
    typer.echo(f"silence {silence_id} expired")
