"""`import paramedic.client` loads the client and the wire format, nothing of the server."""

from __future__ import annotations

import json
import subprocess
import sys

from paramedic.cli.launch import INSTALL_HINT

# What a trading process must never load by importing the client: the supervisor's
# third-party dependencies and every room of the server.
SERVER_MODULES = (
    "aiohttp",
    "apprise",
    "fastapi",
    "jinja2",
    "prometheus_client",
    "psutil",
    "pydantic",
    "starlette",
    "structlog",
    "typer",
    "uvicorn",
    "uvloop",
    "yaml",
)
# The only parts of paramedic a client process may hold (the package root reads its version).
CLIENT_ROOMS = {"", "client", "wire"}


def test_import_client_loads_no_server_module() -> None:
    """In a fresh interpreter, importing the client leaves every server module unloaded."""
    script = "import json, sys, paramedic.client; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    loaded = set(json.loads(out))
    ours = {m for m in loaded if m.startswith("paramedic")}
    assert set() == {m for m in SERVER_MODULES if m in loaded}
    assert set() == {m for m in ours if m.partition(".")[2].partition(".")[0] not in CLIENT_ROOMS}
    assert {"paramedic.client", "paramedic.wire"} <= ours


def test_cli_without_the_server_extra_says_what_to_install() -> None:
    """`paramedic` without its server dependencies exits with one line naming the extra."""
    # Hide one server dependency from a fresh interpreter, as a plain install would lack it.
    script = (
        "import sys; sys.modules['typer'] = None\n"
        "sys.argv = ['paramedic', 'version']\n"
        "from paramedic.cli.launch import main\n"
        "main()\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert 1 == done.returncode
    lines = done.stderr.splitlines()
    assert 1 == len(lines), done.stderr
    assert INSTALL_HINT in lines[0]
    assert "typer" in lines[0]
