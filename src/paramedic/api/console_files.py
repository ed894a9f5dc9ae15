"""The web console: `/` and its three files, shipped in the wheel (package data), no CDN.

Served with a strict Content-Security-Policy: scripts, styles and connections only from this
origin, no inline script, nothing framed. The console reads the same public API as every
other screen, plus the event stream (`api/stream.py`).
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter, HTTPException
from fastapi.responses import Response

__all__ = ["CSP", "router"]

router = APIRouter(include_in_schema=False)

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
_TYPES = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}


def _file(name: str) -> Response:
    if name not in _TYPES:
        raise HTTPException(404, detail=f"no console file {name!r}")
    body = files("paramedic.api").joinpath("console", name).read_bytes()
    return Response(body, media_type=_TYPES[name], headers=_HEADERS)


@router.get("/")
async def console() -> Response:
    """The console's page (it asks for a token itself; reads need none unless configured)."""
    return _file("index.html")


@router.get("/console/{name}")
async def console_file(name: str) -> Response:
    """The console's script and style sheet."""
    return _file(name)
