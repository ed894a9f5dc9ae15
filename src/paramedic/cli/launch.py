"""The `paramedic` script: the supervisor's command line, or one line on how to install it.

A plain `pip install paramedic` is the client's install: what a monitored service imports,
with no dependencies. The supervisor's dependencies come with the `server` extra. Installed
without them, the script says so in one line rather than a traceback from deep inside an
import.
"""

from __future__ import annotations

import sys

__all__ = ["main"]

INSTALL_HINT = "pip install 'paramedic[server]'"


def main() -> None:
    try:
        from paramedic.cli.main import main as run
    except ModuleNotFoundError as exc:
        missing = exc.name or "?"
        if missing.partition(".")[0] == "paramedic":
            raise  # a broken install of paramedic itself, not a missing extra
        sys.exit(
            f"paramedic: the supervisor needs its server dependencies ({missing} is missing): "
            f"{INSTALL_HINT}"
        )
    run()
