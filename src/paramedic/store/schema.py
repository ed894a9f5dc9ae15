"""Numbered SQL migrations shipped in the package, applied in order on start."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

__all__ = ["Migration", "load_migrations"]

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step: its number (the version it brings the schema to) and its SQL."""

    version: int
    name: str
    sql: str


def load_migrations() -> list[Migration]:
    """Every migration file in `paramedic/store/migrations/`, sorted, numbers contiguous."""
    found: list[Migration] = []
    for entry in resources.files("paramedic.store").joinpath("migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            msg = f"migration {expected:04d} is missing (found {migration.version:04d})"
            raise RuntimeError(msg)
    return found
