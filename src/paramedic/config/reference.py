"""The configuration reference (`docs/configuration.md`), written from the models themselves.

A hand-kept reference drifts: a key is added, a default changes, and the page still says the
old thing. This module walks `Config` and every model under it and prints each key with its
type, unit, default, allowed values and the comment written above it in the model; the
cross-field rules and one example per section come from `config/reference_rules.py`. A unit
test regenerates the page and fails when the committed one differs.

    python -m paramedic.config.reference > docs/configuration.md
    python -m paramedic.config.reference --check docs/configuration.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import inspect
import re
import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types as at
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from paramedic.config import reference_rules as rules
from paramedic.config.model import Config
from paramedic.config.resources import parse_rate, parse_size
from paramedic.config.types import SecretRef

__all__ = [
    "REGENERATE",
    "Section",
    "render",
    "sections",
    "unit_of",
]

REGENERATE = "python -m paramedic.config.reference > docs/configuration.md"
"""The command that rewrites the page (quoted by the staleness test's failure message)."""


@dataclass(frozen=True, slots=True)
class Section:
    """One model, documented once at the first path it is reached by."""

    path: str
    model: type[BaseModel]
    also: tuple[str, ...] = ()
    """Other paths the same model is found at (a check kind, a duration block...)."""


def _models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    stack = [annotation]
    while stack:
        item = stack.pop(0)
        if isinstance(item, type) and issubclass(item, BaseModel):
            yield item
            continue
        stack.extend(a for a in get_args(item) if not isinstance(a, FieldInfo))


def _suffix(annotation: Any) -> str:
    """How a nested model is reached below a key: `[]` for a list, `.<name>` for a map."""
    args = [a for a in get_args(annotation) if a is not type(None)]
    origin = get_origin(annotation)
    if origin is Annotated:
        return _suffix(args[0])
    if origin in (Union, types.UnionType):
        return "".join(_suffix(a) for a in args[:1])
    if origin is list:
        return "[]" + _suffix(args[0])
    if origin is dict:
        return ".<name>" + _suffix(args[1])
    return ""


def sections() -> list[Section]:
    """Every model under `Config`, breadth first, each at the first path that reaches it."""
    first: dict[type[BaseModel], str] = {Config: "(top level)"}
    others: dict[type[BaseModel], list[str]] = {}
    queue: list[tuple[str, type[BaseModel]]] = [("", Config)]
    while queue:
        prefix, model = queue.pop(0)
        for name, info in model.model_fields.items():
            key = info.alias or name
            path = f"{prefix}{key}{_suffix(info.annotation)}"
            for child in _models_in(info.annotation):
                if child in first:
                    # Only the paths of the sections that hold the model directly: below a
                    # repeated section the same keys would be listed again under each path.
                    if not prefix.startswith(first[child]):
                        others.setdefault(child, []).append(path)
                    continue
                first[child] = path
                queue.append((f"{path}.", child))
    return [Section(path, model, tuple(others.get(model, ()))) for model, path in first.items()]


def _validator_func(meta: Any) -> Any:
    return getattr(meta, "func", None)


def _metadata(info: FieldInfo) -> list[Any]:
    """The field's own metadata plus what its Annotated aliases carry (Duration, Size...)."""
    found = list(info.metadata)
    stack: list[Any] = [info.annotation]
    while stack:
        item = stack.pop()
        if get_origin(item) is Annotated:
            found.extend(item.__metadata__)
            for meta in item.__metadata__:
                if isinstance(meta, FieldInfo):
                    found.extend(meta.metadata)
        stack.extend(a for a in get_args(item) if not isinstance(a, FieldInfo))
    return found


def unit_of(info: FieldInfo) -> str | None:
    """`duration`, `size`, `rate` or `time` when the key is written with a unit, else None."""
    for meta in _metadata(info):
        func = _validator_func(meta)
        if func is None:
            continue
        name = getattr(func, "__name__", "")
        if name == "_duration":
            return "duration"
        if name == "_time_of_day":
            return "time"
        closure = inspect.getclosurevars(func).nonlocals if name == "validate" else {}
        if closure.get("parse") is parse_size:
            return "size"
        if closure.get("parse") is parse_rate:
            return "rate"
    return None


_UNIT_TYPES = {
    "duration": "duration (`100ms`, `5s`, `2m`, `1h`)",
    "size": "size (`512MiB`, `2GiB`, `5GB`)",
    "rate": "rate (`10MiB/min`)",
    "time": "time of day, quoted (`'08:30'`)",
}


def _type(annotation: Any, unit: str | None) -> str:
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin is Annotated:
        return _type(args[0], unit)
    if origin in (Union, types.UnionType):
        parts = [_type(a, unit) for a in args if a is not type(None)]
        text = " or ".join(dict.fromkeys(parts))
        return f"{text} or null" if type(None) in args else text
    if origin is Literal:
        return "one of " + ", ".join(f"`{a}`" for a in args)
    if origin is list:
        return f"list of {_type(args[0], unit)}"
    if origin is dict:
        return f"map of {_type(args[0], None)} to {_type(args[1], unit)}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"[{annotation.__name__}](#{annotation.__name__.lower()})"
    if unit is not None and annotation in (float, int, dt.time):
        return _UNIT_TYPES[unit]
    simple = {
        str: "string",
        int: "integer",
        float: "number",
        bool: "boolean",
        Path: "path (relative to the config file)",
        dt.date: "date (`2026-12-25`)",
        dt.datetime: "date-time with a zone (`2026-01-02T18:00:00Z`)",
        dt.time: "time of day",
        type(None): "null",
    }
    if annotation in simple:
        return simple[annotation]
    return "any JSON value" if annotation is Any else str(annotation)


def config_duration(seconds: float) -> str:
    """Seconds as config writes them (`100ms`, `5m`, `1h30m`), readable back by the parser."""
    if seconds == 0:
        return "0s"
    out = []
    rest = round(seconds * 1_000_000)
    for unit, size in (("d", 86_400_000_000), ("h", 3_600_000_000), ("m", 60_000_000)):
        if rest >= size:
            out.append(f"{rest // size}{unit}")
            rest %= size
    for unit, size in (("s", 1_000_000), ("ms", 1000), ("us", 1)):
        if rest >= size and rest % size == 0:
            out.append(f"{rest // size}{unit}")
            rest = 0
        elif rest >= size and unit == "us":
            out.append(f"{rest}{unit}")
            rest = 0
    if rest:
        out.append(f"{rest}us")
    return "".join(out)


def config_size(size: float) -> str:
    """Bytes as config writes them (`1MiB`, `1GiB`)."""
    for unit, scale in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale and size % scale == 0:
            return f"{int(size // scale)}{unit}"
    return f"{int(size)}B"


def _default(info: FieldInfo, unit: str | None, derived: str | None = None) -> str:
    if derived is not None:
        return derived
    if info.is_required():
        return "**required**"
    factory: Any = info.default_factory
    value = factory() if factory is not None else info.default
    if value is PydanticUndefined or value is None:
        return "unset"
    if value == "":
        return '`""`'
    if isinstance(value, BaseModel):
        shown = value.model_dump(mode="json", exclude_defaults=True, by_alias=True)
        return "defaults below" if not shown else "built-in defaults"
    if isinstance(value, list | tuple | dict) and not value:
        return "`[]`" if not isinstance(value, dict) else "`{}`"
    if isinstance(value, list | tuple) and value and isinstance(value[0], BaseModel):
        return "built-in defaults"
    if isinstance(value, dict) and any(isinstance(v, BaseModel) for v in value.values()):
        return "built-in defaults"
    if unit == "duration" and isinstance(value, int | float):
        return f"`{config_duration(value)}`"
    if unit == "size" and isinstance(value, int | float):
        return f"`{config_size(value)}`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, Path):
        return f"`{value}`"
    if isinstance(value, list | tuple):
        return "`[" + ", ".join(str(v) for v in value) + "]`"
    if isinstance(value, dict):
        return "`{" + ", ".join(f"{k}: {v}" for k, v in value.items()) + "}`"
    return f"`{value}`"


_BOUNDS = (("ge", at.Ge, "≥"), ("gt", at.Gt, ">"), ("le", at.Le, "≤"), ("lt", at.Lt, "<"))


def _allowed(info: FieldInfo, unit: str | None) -> str:
    notes: list[str] = []
    for meta in _metadata(info):
        for attr, kind, sign in _BOUNDS:
            if not isinstance(meta, kind):
                continue
            bound = getattr(meta, attr)
            if unit in ("duration", "size") and bound == 0 and sign in ("≥", ">"):
                continue  # every duration and size is; saying so on each row is noise
            if unit == "duration":
                bound = config_duration(bound)
            elif unit == "size":
                bound = config_size(bound)
            notes.append(f"{sign} {bound}")
        if isinstance(meta, at.MinLen) and meta.min_length:
            notes.append(f"at least {meta.min_length} item{'s' * (meta.min_length > 1)}")
        if isinstance(meta, at.MaxLen):
            notes.append(f"at most {meta.max_length}")
        pattern = getattr(meta, "pattern", None)
        if isinstance(pattern, str):
            notes.append(f"matches `{pattern}`")
        if getattr(_validator_func(meta), "__name__", "") == "_positive":
            notes.append("> 0s")
    return ", ".join(dict.fromkeys(notes))


_FIELD = re.compile(r"^    ([A-Za-z_]\w*)\s*:")


def _comments(model: type[BaseModel]) -> dict[str, str]:
    """The `#` comment lines written just above each field in the model's class body."""
    try:
        lines = inspect.getsource(model).splitlines()
    except (OSError, TypeError):
        return {}
    found: dict[str, str] = {}
    pending: list[str] = []
    for line in lines:
        stripped = line.strip()
        if line.startswith("    #"):
            pending.append(stripped.lstrip("#").strip())
            continue
        match = _FIELD.match(line)
        if match and pending:
            found[match[1]] = " ".join(pending)
        if stripped:
            pending = []
    return found


def _doc(model: type[BaseModel]) -> str:
    return inspect.cleandoc(model.__doc__ or "")


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _secret_note(model: type[BaseModel], name: str) -> str:
    if not issubclass(model, SecretRef):
        return ""
    base, _, kind = name.rpartition("_")
    if kind == "env" and base:
        return f"Name of the environment variable holding `{base}` (secret reference)."
    if kind == "file" and base:
        return f"File holding only `{base}` (secret reference)."
    return ""


def _section(section: Section) -> list[str]:
    model = section.model
    out = [f"### {model.__name__}", "", f"Path: `{section.path}`", ""]
    if section.also:
        out[-1:] = ["", "Also at: " + ", ".join(f"`{p}`" for p in section.also), ""]
    doc = _doc(model)
    if doc:
        out += [doc, ""]
    comments = _comments(model)
    if model.model_fields:
        out += ["| key | type | default | allowed | notes |", "|---|---|---|---|---|"]
    for name, info in model.model_fields.items():
        unit = unit_of(info)
        note = info.description or comments.get(name, "")
        extra = rules.KEY_NOTES.get(f"{model.__name__}.{name}", "") or _secret_note(model, name)
        note = " ".join(n for n in (note, extra) if n)
        row = [
            f"`{info.alias or name}`",
            _type(info.annotation, unit),
            _default(info, unit, rules.DERIVED_DEFAULTS.get(f"{model.__name__}.{name}")),
            _allowed(info, unit),
            note,
        ]
        out.append("| " + " | ".join(_escape(c) for c in row) + " |")
    if not model.model_fields:
        out.append("No keys: write `{}`.")
    found = rules.rules_for(model)
    if found:
        out += ["", "Rules:", ""] + [f"- {rule}" for rule in found]
    out.append("")
    return out


def render() -> str:
    """The whole page, deterministic (the staleness test compares it byte for byte)."""
    out = [
        "# Configuration reference",
        "",
        "<!-- Generated from the configuration models by"
        " `python -m paramedic.config.reference`; do not edit by hand. -->",
        "",
        rules.INTRO.strip(),
        "",
        "## Examples",
        "",
    ]
    for title, text in rules.EXAMPLES.items():
        out += [f"### Example: {title}", "", "```yaml", text.strip(), "```", ""]
    out += ["## Sections", ""]
    for section in sections():
        out += _section(section)
    return "\n".join(out).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    """Print the page, or with `--check FILE` exit 1 when FILE differs from it."""
    parser = argparse.ArgumentParser(prog="python -m paramedic.config.reference")
    parser.add_argument("--check", type=Path, help="compare with this file instead of printing")
    args = parser.parse_args(argv)
    page = render()
    if args.check is None:
        sys.stdout.write(page)
        return 0
    current = args.check.read_text(encoding="utf-8") if args.check.exists() else ""
    if current != page:
        sys.stderr.write(f"{args.check} is stale; regenerate it: {REGENERATE}\n")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
