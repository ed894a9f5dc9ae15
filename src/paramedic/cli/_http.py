"""What every client command shares: the API call, `--json` output, and ids by prefix."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import httpx
import typer
from rich.console import Console
from rich.table import Table

__all__ = [
    "DEFAULT_URL",
    "JsonOption",
    "TokenOption",
    "UrlOption",
    "call",
    "get",
    "incident_of",
    "post",
    "print_json",
    "quoted",
    "show_with_ids",
    "typed_in_full",
    "unique",
]

DEFAULT_URL = "http://127.0.0.1:9090"
UrlOption = Annotated[
    str, typer.Option("--url", envvar="PARAMEDIC_URL", help="Where paramedic's API listens.")
]
TOKEN_ENV = "PARAMEDIC_TOKEN"  # noqa: S105 (the variable's name, not a token)


def read_token(path: str | None) -> str | None:
    """The bearer token: from `--token-file` / PARAMEDIC_TOKEN_FILE, else PARAMEDIC_TOKEN.
    Never an argument: a token on the command line is in `ps` and the shell's history."""
    if not path:
        return os.environ.get(TOKEN_ENV) or None
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        msg = f"cannot read the token file {path}: {getattr(exc, 'strerror', None) or exc}"
        raise typer.BadParameter(msg, param_hint="--token-file") from None
    if not token:
        raise typer.BadParameter(f"the token file {path} is empty", param_hint="--token-file")
    return token


TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token-file",
        envvar="PARAMEDIC_TOKEN_FILE",
        callback=read_token,
        help=f"A file holding the bearer token (or set {TOKEN_ENV}); never the token itself.",
        show_default=False,
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print the API's JSON answer instead of a table.")
]


def post(url: str, path: str, token: str | None, payload: dict[str, Any]) -> dict[str, Any]:
    return call("POST", url, path, token, payload)


def get(url: str, path: str, token: str | None, *, unhealthy_ok: bool = False) -> dict[str, Any]:
    return call("GET", url, path, token, None, unhealthy_ok=unhealthy_ok)


def call(
    method: str,
    url: str,
    path: str,
    token: str | None,
    payload: dict[str, Any] | None,
    *,
    unhealthy_ok: bool = False,
) -> dict[str, Any]:
    """The API's JSON answer, or exit 2 printing its error. A 503 is an error too (a call the
    store could not record did nothing) unless `unhealthy_ok`: /health answers 503 with the
    body that says why."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = httpx.request(
            method, url.rstrip("/") + path, headers=headers, json=payload, timeout=10.0
        )
    except httpx.HTTPError as exc:
        typer.echo(
            f"paramedic: cannot reach {url}: {exc}; is `paramedic run` up? (--url / PARAMEDIC_URL)",
            err=True,
        )
        raise typer.Exit(2) from None
    if response.status_code >= 400 and not (unhealthy_ok and response.status_code == 503):
        try:
            detail = response.json().get("detail")
        except ValueError:
            detail = response.text[:200]
        hint = _token_hint(response.status_code, url, token)
        typer.echo(f"paramedic: {response.status_code}: {_sentence(detail)}{hint}", err=True)
        raise typer.Exit(2)
    try:
        data: dict[str, Any] = response.json()
    except ValueError:
        typer.echo(
            f"paramedic: {url}{path} did not answer JSON (status {response.status_code})", err=True
        )
        raise typer.Exit(2) from None
    return data


def _token_hint(status: int, url: str, token: str | None) -> str:
    """What to do about a refused token: the API says what is wrong, but only the CLI knows
    where the token came from (`PARAMEDIC_TOKEN` or a token file), and a user who just cloned
    the repo does not know the variable exists."""
    if status == 401 and token is None:
        return "; give one in PARAMEDIC_TOKEN (or a file: --token-file)"
    if status == 401:
        return (
            "; the token in PARAMEDIC_TOKEN (or a file: --token-file) is not one of the"
            f" api.tokens of the paramedic at {url}"
        )
    if status == 403:
        return "; use a token with that role in PARAMEDIC_TOKEN (or a file: --token-file)"
    return ""


def _sentence(detail: Any) -> str:
    """FastAPI's validation list as `field: message` lines; anything else as it is."""
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict):
                loc = ".".join(str(x) for x in item.get("loc", ()) if x != "body") or "body"
                parts.append(f"{loc}: {item.get('msg', '')}")
        return "; ".join(parts)
    return str(detail)


def print_json(body: Any) -> None:
    typer.echo(json.dumps(body, indent=2, sort_keys=True))


def quoted(identifier: str) -> str:
    """An id as one path segment (ids hold `:`; a `/` must not change the route)."""
    return quote(identifier, safe=":")


# `core.ids.new_id`'s shape: a kind prefix (`inc_`, `sil_`), then 26 base32 characters.
_WHOLE_ID = re.compile(r"[a-z]+_[0-9a-z]{26}")


def typed_in_full(given: str) -> bool:
    """`given` is a whole incident or silence id: no other id starts with it, so there is
    no list to fetch to resolve it (the API's 404 names it if it does not exist)."""
    return _WHOLE_ID.fullmatch(given) is not None


# An incident's alerts are named after it (`inc_...:failure`, `inc_...:approval:evt_...`).
_ALERT_OF_INCIDENT = re.compile(r"(inc_[0-9a-z]{26}):.+")


def incident_of(given: str) -> str:
    """The incident of an alert id a page showed (the inbox, a PagerDuty incident), so an
    operator who copies the id from the page to `approve` it reaches the incident; any other
    text as given."""
    match = _ALERT_OF_INCIDENT.fullmatch(given)
    return match[1] if match else given


def unique(given: str, known: Iterable[str], what: str) -> str:
    """The one id equal to `given` or starting with it; with several, an error listing them."""
    ids = list(dict.fromkeys(known))
    if given in ids:
        return given
    matches = [i for i in ids if i.startswith(given)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        return given  # the API answers for it (404 naming the id)
    listed = "\n  ".join(sorted(matches)[:20])
    more = f"\n  ... and {len(matches) - 20} more" if len(matches) > 20 else ""
    typer.echo(
        f"paramedic: {given!r} matches {len(matches)} {what}s; give more of the id:"
        f"\n  {listed}{more}",
        err=True,
    )
    raise typer.Exit(2)


def show_with_ids(headers: tuple[str, ...], rows: list[tuple[str, tuple[str, ...]]]) -> None:
    """A table whose first column is an id a user may have to type: never cut. When the
    terminal is too narrow for the ids and the rest, each row becomes a block headed by its
    whole id (other columns wrap; an id never does)."""
    console = Console()
    widest = max((len(identifier) for identifier, _ in rows), default=2)
    if console.width >= widest + 12 * len(headers):
        table = Table()
        table.add_column("id", no_wrap=True, min_width=widest)
        for name in headers:
            table.add_column(name, overflow="fold")
        for identifier, cells in rows:
            table.add_row(identifier, *cells)
        console.print(table)
        return
    for identifier, cells in rows:
        console.print(identifier, style="bold", no_wrap=True, overflow="ignore", crop=False)
        console.print(
            "  " + "  ".join(f"{h}: {c}" for h, c in zip(headers, cells, strict=True) if c)
        )
