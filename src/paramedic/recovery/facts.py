"""The facts a recovery step is told: what the decision saw, in its environment and a file.

A warm restart step that must find the checkpoint, or a promotion script that wants to log
the standby's lag, should not re-ask the sources (and maybe see other answers than the
decision did). Every step run gets the facts the decision used as `PARAMEDIC_*` variables
(a flat key `checkpoint_age_seconds` is `PARAMEDIC_CHECKPOINT_AGE_SECONDS`; a fact that is
unknown is left out rather than set to a word a script could mistake for a value) and as a
JSON document at `PARAMEDIC_FACTS_FILE`, written 0600 in a private 0700 folder and removed
as soon as the step ends. docs/recovery.md lists every key.

The facts may name paths and URLs of the trading system, so no file may outlive its step,
not even through a kill -9 of paramedic mid-step: each paramedic keeps its step folders in a
folder of its own beside its store (`<store>.facts`, 0700), and `sweep` empties it at the
next start, once the step commands that run left behind are ended. Nothing else is ever
removed: only `step-*` folders in that one folder, which must be paramedic's own.

The decision's part is recorded on its `recovery.decided` event, so a run resumed after a
restart of paramedic tells its steps the same facts the first paramedic decided on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import stat
import tempfile
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from paramedic.core.text import one_line

__all__ = [
    "ENV_PREFIX",
    "FACTS_FILE_ENV",
    "decision_facts",
    "facts_env",
    "facts_file",
    "step_facts",
    "sweep",
]

ENV_PREFIX = "PARAMEDIC_"
FACTS_FILE_ENV = "PARAMEDIC_FACTS_FILE"
STEP_PREFIX = "step-"


def step_facts(
    decided: Mapping[str, Any],
    *,
    service: str,
    incident: str,
    method: str,
    failure_kind: str,
    incident_sentence: str,
) -> dict[str, Any]:
    """The flat JSON document one run's steps are told: the decision's facts, then who and
    what this run is (those win: a fallback runs another method on the same decision)."""
    return {
        **dict(decided),
        "service": service,
        "incident": incident,
        "method": method,
        "failure_kind": failure_kind,
        "incident_sentence": one_line(incident_sentence, 1000),
    }


def decision_facts(
    *,
    decided_at_wall: float,
    sentence: str,
    market_open: bool,
    recent_failures: int,
    checkpoint_path: str | None,
    checkpoint_age_s: float | None,
    standby_url: str | None,
    standby_available: bool,
    standby_synced: bool,
    standby_lag_s: float | None,
    volatility_current: float | None,
    volatility_average: float | None,
    data_corrupt: bool,
    corruption_detail: str,
    problems: list[str],
) -> dict[str, Any]:
    """The decision's inputs as flat JSON-ready facts (None: unknown)."""
    at = datetime.fromtimestamp(decided_at_wall, UTC).isoformat(timespec="milliseconds")
    return {
        "decision": one_line(sentence, 1000),
        "decided_at": at.replace("+00:00", "Z"),
        "market_open": market_open,
        "recent_failures": recent_failures,
        "checkpoint_path": checkpoint_path,
        "checkpoint_age_seconds": _round(checkpoint_age_s),
        "standby_url": standby_url,
        "standby_available": standby_available,
        "standby_synced": standby_synced,
        "standby_lag_seconds": _round(standby_lag_s),
        "volatility_current": volatility_current,
        "volatility_average": volatility_average,
        "data_corrupt": data_corrupt,
        "corruption_detail": one_line(corruption_detail, 1000),
        "problems": tuple(one_line(p, 1000) for p in problems),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _env_value(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    text = "; ".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
    return text.replace("\x00", "") or None  # exec refuses a NUL in the environment


def facts_env(facts: Mapping[str, Any]) -> dict[str, str]:
    """`PARAMEDIC_<KEY>` for every known fact; unknown (None) and empty ones are left out."""
    found = {f"{ENV_PREFIX}{key.upper()}": _env_value(value) for key, value in facts.items()}
    return {name: value for name, value in found.items() if value is not None}


def _own(folder: Path) -> Path:
    """`folder`, created 0700 if missing; refused unless it is a real folder (not a link)
    owned by this user, so facts are never written where another user can read them."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = os.lstat(folder)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
        msg = f"{folder} is not a folder of this user's (a link, or someone else's)"
        raise PermissionError(msg)
    if stat.S_IMODE(st.st_mode) != 0o700:
        os.chmod(folder, 0o700)
    return folder


def _write(facts: Mapping[str, Any], folder: Path | None) -> Path:
    base = None if folder is None else str(_own(folder))
    step = Path(tempfile.mkdtemp(prefix=STEP_PREFIX if base else "paramedic-facts-", dir=base))
    path = step / "facts.json"  # the step's folder is 0700, ours alone
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(dict(facts), handle, indent=2, sort_keys=True)
        handle.write("\n")
    return path


@contextlib.asynccontextmanager
async def facts_file(facts: Mapping[str, Any], folder: Path | None = None) -> AsyncIterator[Path]:
    """The facts as a private JSON file for the length of one step, then gone; in a folder
    of its own under `folder` (paramedic's, swept at start), else the temporary directory."""
    path = await asyncio.to_thread(_write, facts, folder)
    try:
        yield path
    finally:
        await asyncio.to_thread(shutil.rmtree, path.parent, True)


def sweep(folder: Path) -> int:
    """At start, before any step runs: remove the step folders a kill -9 of paramedic left
    in `folder`; returns how many. A `folder` that is not this user's own is left alone."""
    try:
        st = os.lstat(folder)
    except FileNotFoundError:
        return 0
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
        return 0
    left = [e for e in folder.iterdir() if e.name.startswith(STEP_PREFIX)]
    for entry in left:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
    return len(left)
