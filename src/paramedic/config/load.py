"""Load one YAML file into a validated `Config`, or report every mistake with its place.

Each problem is reported as `FILE:LINE:COL: dotted.path: message`, all at once, so a user
fixes a file in one pass. Duplicate keys are errors (PyYAML would keep the last one silently).
"""

from __future__ import annotations

import difflib
import os
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml
from pydantic import BaseModel, ValidationError

from paramedic.config.expand import expand
from paramedic.config.model import Config
from paramedic.config.yaml_guard import (
    MAX_CONFIG_BYTES,
    MAX_DEPTH,
    Refused,
    check_graph,
    decode_utf8,
    guarded_loader,
)
from paramedic.core.errors import ConfigError

__all__ = [
    "ConfigIssue",
    "ConfigReview",
    "InvalidConfig",
    "Reviewer",
    "load_config",
    "parse_config",
    "parse_config_bytes",
]

Loc = tuple[str | int, ...]
_PATH_PREFIX = re.compile(r"^((?:[A-Za-z0-9_.-]+)(?:\.[A-Za-z0-9_-]+)*): (.*)$", re.S)


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One mistake: where it is (key path and, when known, file position) and what to do."""

    loc: Loc
    message: str
    line: int | None = None
    column: int | None = None

    @property
    def path(self) -> str:
        out = ""
        for part in self.loc:
            out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
        return out or "(top level)"

    def render(self, source: str) -> str:
        where = f"{source}:{self.line}:{self.column}: " if self.line else f"{source}: "
        return f"{where}{self.path}: {self.message}"


class ConfigReview(Protocol):
    """What a reviewer found in a valid config: errors refuse the file, warnings do not."""

    @property
    def errors(self) -> Sequence[tuple[Loc, str]]: ...

    @property
    def warnings(self) -> Sequence[tuple[Loc, str]]: ...


Reviewer = Callable[[Config], ConfigReview]
"""A check of a whole, valid config by a room above config (who a crash pages is computed by
alerting's own rules, and config imports only core): handed in by the caller, run after
validation, its findings placed at their line and column like any other mistake."""


class InvalidConfig(ConfigError):
    """The file has one or more mistakes; `issues` holds them all."""

    def __init__(self, source: str, issues: list[ConfigIssue]) -> None:
        self.source = source
        self.issues = issues
        super().__init__("\n".join(issue.render(source) for issue in issues))


def load_config(
    path: Path | str,
    env: Mapping[str, str] | None = None,
    *,
    warnings: list[ConfigIssue] | None = None,
    review: Reviewer | None = None,
) -> Config:
    """Read, expand and validate `path`. Relative paths inside are taken from the file's folder.

    `review`, when given, checks the valid config as a whole (`paramedic.alerting.reach.review`:
    a tier-1 crash that pages no one is an error); `warnings`, when given, receives what it
    finds valid but probably not meant (a default receiver whose channel is not configured, so
    its pages would go to the log)."""
    file = Path(path)
    try:
        with file.open("rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise InvalidConfig(
            str(file), [ConfigIssue((), f"cannot read file: {exc.strerror}")]
        ) from exc
    return parse_config_bytes(
        data, source=str(file), env=env, base_dir=file.parent, warnings=warnings, review=review
    )


def parse_config_bytes(
    data: bytes,
    *,
    source: str = "<config>",
    env: Mapping[str, str] | None = None,
    base_dir: Path | None = None,
    warnings: list[ConfigIssue] | None = None,
    review: Reviewer | None = None,
) -> Config:
    """Validate the bytes of a config file: any input gives a `Config` or `InvalidConfig`."""
    if len(data) > MAX_CONFIG_BYTES:
        msg = f"the file is larger than {MAX_CONFIG_BYTES // 2**20} MiB; a config is refused"
        raise InvalidConfig(source, [ConfigIssue((), msg)])
    try:
        text = decode_utf8(data)
    except Refused as exc:
        raise InvalidConfig(source, [ConfigIssue((), exc.message, exc.line, exc.column)]) from None
    return parse_config(
        text,
        source=source,
        env=env,
        base_dir=base_dir,
        warnings=warnings,
        review=review,
        allow_empty=False,
    )


def parse_config(
    text: str,
    *,
    source: str = "<config>",
    env: Mapping[str, str] | None = None,
    base_dir: Path | None = None,
    warnings: list[ConfigIssue] | None = None,
    review: Reviewer | None = None,
    allow_empty: bool = True,
) -> Config:
    """Validate YAML text. `env` defaults to the process environment.

    An empty file (`load_config`, `parse_config_bytes`) is an error, since it is far more
    likely truncated than meant; empty text given here is the all-defaults config unless
    `allow_empty` is False.
    """
    environ = dict(os.environ if env is None else env)
    marks: dict[Loc, tuple[int, int]] = {}
    issues: list[ConfigIssue] = []
    try:
        node, raw = _parse(text)
    except Refused as exc:
        raise InvalidConfig(source, [ConfigIssue((), exc.message, exc.line, exc.column)]) from None
    except yaml.YAMLError as exc:
        raise InvalidConfig(source, [_yaml_issue(exc, text)]) from None
    except RecursionError:
        # Only the pure-Python composer (no libyaml) recurses per level before our check.
        msg = f"nested too deeply (more than {MAX_DEPTH} levels)"
        raise InvalidConfig(source, [ConfigIssue((), msg, 1, 1)]) from None
    if node is not None:
        _collect_marks(node, (), marks, issues)
    if raw is None:
        if not allow_empty:
            raise InvalidConfig(source, [ConfigIssue((), _EMPTY, 1, 1)])
        raw = {}
    if not isinstance(raw, dict):
        raise InvalidConfig(source, [ConfigIssue((), "the file must be a mapping of keys", 1, 1)])

    expanded, failures = expand(raw, environ)
    issues += [_place(ConfigIssue(f.path, f.message), marks) for f in failures]
    context = {"env": environ, "base_dir": str(base_dir or Path.cwd())}
    try:
        config = Config.model_validate(expanded, context=context)
    except ValidationError as exc:
        issues += [_place(issue, marks) for err in exc.errors() for issue in _from_pydantic(err)]
        config = None
    if config is not None and not issues and review is not None:
        found = review(config)
        issues += [_place(ConfigIssue(loc, msg), marks) for loc, msg in found.errors]
        if warnings is not None:
            warnings += [_place(ConfigIssue(loc, msg), marks) for loc, msg in found.warnings]
    if issues or config is None:
        issues.sort(key=lambda i: (i.line or 0, i.column or 0))
        raise InvalidConfig(source, _dedupe(issues))
    return config


_EMPTY = (
    "the file is empty: a config needs at least one section, normally `services:` with"
    " the services to supervise, e.g. services: {engine: {process: {argv: [/opt/engine]}}}"
)

# libyaml when available: the pure-Python loader took ~1.3 ms per service of config.
_Loader: type[yaml.SafeLoader] = guarded_loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def _parse(text: str) -> tuple[yaml.Node | None, Any]:
    """Compose once (the node tree carries the line/column marks), check the graph's limits,
    then build the data."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        check_graph(node)
        data = loader.construct_document(node)
    finally:
        loader.dispose()
    return node, data


def _yaml_issue(exc: yaml.YAMLError, text: str) -> ConfigIssue:
    """A YAML error as an issue with its line and column (a reader error has only an offset)."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    if isinstance(exc, yaml.reader.ReaderError):
        problem = f"character #x{exc.character:04x}: {exc.reason}"
    if mark is not None:
        if text[mark.index : mark.index + 1] == "\t":
            problem += " (a tab: YAML indents with spaces only)"
        return ConfigIssue((), f"YAML syntax: {problem}", mark.line + 1, mark.column + 1)
    position = getattr(exc, "position", None)
    if isinstance(position, int):
        before = text[:position]
        line, column = before.count("\n") + 1, position - (before.rfind("\n") + 1) + 1
        return ConfigIssue((), f"YAML syntax: {problem}", line, column)
    return ConfigIssue((), f"YAML syntax: {problem}", 1, 1)


def _collect_marks(
    node: yaml.Node, loc: Loc, marks: dict[Loc, tuple[int, int]], issues: list[ConfigIssue]
) -> None:
    marks[loc] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                issues.append(
                    ConfigIssue(
                        (*loc, key),
                        f"duplicate key (first at line {seen[key]}); YAML would keep only the last",
                        key_node.start_mark.line + 1,
                        key_node.start_mark.column + 1,
                    )
                )
            seen[key] = key_node.start_mark.line + 1
            # The key's own position is the more useful one for "unknown key" errors.
            marks[(*loc, key, "__key__")] = (
                key_node.start_mark.line + 1,
                key_node.start_mark.column + 1,
            )
            _collect_marks(value_node, (*loc, key), marks, issues)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _collect_marks(item, (*loc, index), marks, issues)


def _place(issue: ConfigIssue, marks: dict[Loc, tuple[int, int]]) -> ConfigIssue:
    loc = issue.loc
    for candidate in ((*loc, "__key__"), loc):
        if candidate in marks:
            line, col = marks[candidate]
            return ConfigIssue(loc, issue.message, line, col)
    # Missing keys have no mark of their own: point at the nearest enclosing one.
    while loc:
        loc = loc[:-1]
        if loc in marks:
            line, col = marks[loc]
            return ConfigIssue(issue.loc, issue.message, line, col)
    return issue


def _from_pydantic(err: Any) -> list[ConfigIssue]:
    loc: Loc = tuple(p for p in err["loc"] if not _is_schema_tag(p))
    kind = err["type"]
    value = err.get("input")
    message = str(err["msg"]).removeprefix("Value error, ")
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        message = "unknown key"
        if allowed:
            close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
            if close:
                message += f"; did you mean {close[0]!r}?"
            message += f" (allowed: {', '.join(sorted(allowed))})"
    elif kind == "missing":
        message = "required key is missing"
    elif kind.endswith("_type") or kind.endswith("_parsing") or kind == "literal_error":
        message = f"{message}; got {_show(value)}"
    elif kind == "value_error":
        # Model-level checks name the key they are about: "services.x.depends_on: ..." from
        # the root, "key_env: ..." from a section; a check that found several mistakes gives
        # one such line each. Move each name into its own location.
        return [_located(loc, line) for line in message.split("\n")]
    return [ConfigIssue(loc, message)]


def _located(loc: Loc, message: str) -> ConfigIssue:
    match = _PATH_PREFIX.match(message)
    if match:
        loc = (*loc, *(int(p) if p.isdigit() else p for p in match[1].split(".")))
        message = match[2]
    return ConfigIssue(loc, message)


def _is_schema_tag(part: str | int) -> bool:
    # pydantic adds schema steps such as "[key]" or "function-after[...]" to some locs.
    return isinstance(part, str) and (part == "[key]" or part.startswith(("function-", "lax-")))


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _allowed_keys(loc: Loc) -> list[str]:
    model: Any = Config
    for part in loc:
        model = _unwrap(model)
        if isinstance(model, type) and issubclass(model, BaseModel):
            field = next(
                (f for n, f in model.model_fields.items() if str(part) in (n, f.alias)), None
            )
            if field is None:
                return []
            model = field.annotation
        elif typing.get_origin(model) in (dict, list):
            model = typing.get_args(model)[-1]
        else:
            return []
    model = _unwrap(model)
    if isinstance(model, type) and issubclass(model, BaseModel):
        # The names a user writes: `continue` and `for`, not the attributes `continue_`, `for_`.
        return [f.alias or name for name, f in model.model_fields.items()]
    return []


def _unwrap(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        return members[0] if len(members) == 1 else annotation
    if origin is typing.Annotated:
        return typing.get_args(annotation)[0]
    return annotation


def _dedupe(issues: list[ConfigIssue]) -> list[ConfigIssue]:
    seen: set[tuple[Loc, str]] = set()
    out = []
    for issue in issues:
        key = (issue.loc, issue.message)
        if key not in seen:
            seen.add(key)
            out.append(issue)
    return out
