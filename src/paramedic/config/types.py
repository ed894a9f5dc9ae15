"""Building blocks shared by every config section: strict models, durations, addresses."""

from __future__ import annotations

import re
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationInfo,
)

from paramedic.config.durations import parse_duration

__all__ = [
    "MAX_SECRET_BYTES",
    "Argv",
    "Duration",
    "PositiveDuration",
    "SecretRef",
    "StrictModel",
    "TimeZoneName",
    "check_name",
    "host_port",
    "one_of",
    "read_secret",
    "repeated",
]


def _duration(value: Any) -> Any:
    if isinstance(value, bool):
        return value  # let the float check reject it with pydantic's own message
    if isinstance(value, int | float):
        msg = f"{value} has no unit; write e.g. {value}ms or {value}s"
        raise ValueError(msg)
    if isinstance(value, str):
        return parse_duration(value)
    return value


Duration = Annotated[float, BeforeValidator(_duration), Field(ge=0)]
"""Seconds, written in config with a unit (`100ms`, `5s`); bare numbers are refused."""


def _positive(value: float) -> float:
    if value <= 0:
        msg = "must be greater than 0"
        raise ValueError(msg)
    return value


PositiveDuration = Annotated[Duration, AfterValidator(_positive)]
"""A `Duration` that must be more than zero: periods, intervals, timeouts."""


def _time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        msg = f"unknown time zone {value!r}; use an IANA name such as Europe/London"
        raise ValueError(msg) from None
    return value


TimeZoneName = Annotated[str, AfterValidator(_time_zone)]
"""An IANA time zone name, checked against the zone database when the config loads."""

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


def check_name(what: str, value: str) -> str:
    """`value` if it is a name paramedic can use in URLs, labels and metrics; else ValueError."""
    if not _NAME.match(value):
        msg = (
            f"{what} name {value!r} must be 1-64 characters of a-z, 0-9, '_', '.', '-',"
            " starting with a letter or digit"
        )
        raise ValueError(msg)
    return value


def repeated(values: Iterable[str]) -> list[str]:
    """The values given more than once, sorted (for "must be unique" errors)."""
    seen: set[str] = set()
    twice: set[str] = set()
    for value in values:
        (twice if value in seen else seen).add(value)
    return sorted(twice)


def one_of(data: Any, keys: tuple[str, ...], what: str) -> Any:
    """Refuse zero or several of `keys` in a mapping, naming them: the error must say what to
    delete. For a `mode="before"` model validator; anything not a mapping passes through."""
    if not isinstance(data, dict):
        return data
    given = [key for key in keys if data.get(key) is not None]
    if len(given) != 1:
        got = " and ".join(given) if given else "none"
        choices = ", ".join(keys[:-1]) + f" or {keys[-1]}" if len(keys) > 1 else keys[0]
        msg = f"give exactly one {what} of {choices}; got {got}"
        raise ValueError(msg)
    return data


def _argv(value: list[str]) -> list[str]:
    if not value[0].strip():
        msg = "argv[0] is empty; give the program to run"
        raise ValueError(msg)
    if any("\x00" in arg for arg in value):
        msg = "arguments cannot contain NUL bytes"
        raise ValueError(msg)
    return value


Argv = Annotated[list[str], Field(min_length=1), AfterValidator(_argv)]
"""A program and its arguments, exec'd directly: there is never a shell to quote for."""


class StrictModel(BaseModel):
    """Every config section forbids unknown keys: a typo must never pass silently."""

    model_config = ConfigDict(extra="forbid")


class SecretRef(StrictModel):
    """A section holding one secret, given by `<name>_env` or `<name>_file` (exactly one) and
    resolved at load into a `SecretStr`; subclasses call `_resolve` from a validator."""

    _secret: SecretStr | None = PrivateAttr(default=None)

    def _resolve(
        self, name: str, env_name: str | None, file: Path | None, info: ValidationInfo
    ) -> None:
        self._secret = read_secret(name, env_name, file, info.context)

    @property
    def secret(self) -> SecretStr:
        assert self._secret is not None, "validated config always resolves its secrets"
        return self._secret


def host_port(value: str, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """Split `host:port` (or `[v6]:port`, or a bare port); ValueError with an example if bad."""
    host, sep, port = value.rpartition(":")
    if not sep:
        host, port = default_host, value
    host = host.strip("[]") or default_host
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        msg = f"{value!r} is not host:port (port 0-65535), e.g. 127.0.0.1:9090"
        raise ValueError(msg)
    return host, int(port)


def read_secret(
    name: str, env_name: str | None, file: Path | None, context: Mapping[str, Any] | None
) -> SecretStr:
    """A secret given as `<name>_env` or `<name>_file` (exactly one), never inline.

    `context` is the validation context: `env` (the environment the config is expanded
    with) and `base_dir` (the config file's folder, for relative files). Errors name the key.
    """
    if (env_name is None) == (file is None):
        msg = f"{name}_env: give exactly one of {name}_env or {name}_file"
        raise ValueError(msg)
    ctx = context or {}
    if env_name is not None:
        env = ctx.get("env", {})
        if env_name not in env:
            msg = f"{name}_env: environment variable {env_name} is not set; export it"
            raise ValueError(msg)
        value = str(env[env_name]).strip()
        if not value:
            msg = f"{name}_env: environment variable {env_name} is empty"
            raise ValueError(msg)
        return SecretStr(value)
    assert file is not None
    path = file if file.is_absolute() else Path(ctx.get("base_dir", ".")) / file
    text = _read_secret_file(name, path).strip()
    if not text:
        msg = f"{name}_file: {path} is empty"
        raise ValueError(msg)
    return SecretStr(text)


MAX_SECRET_BYTES = 64 * 1024
"""A token or key is one short line; more than this is not a secret file."""


def _read_secret_file(name: str, path: Path) -> str:
    """The text of a secret file, read bounded. `/dev/zero` used to be read until memory ran
    out, and a FIFO blocks its reader until a writer comes: only a regular file is read."""
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            msg = f"{name}_file: {path} is not a regular file"
            raise ValueError(msg)
        with path.open("rb") as handle:
            data = handle.read(MAX_SECRET_BYTES + 1)
    except OSError as exc:
        msg = f"{name}_file: cannot read {path}: {exc.strerror}"
        raise ValueError(msg) from exc
    if len(data) > MAX_SECRET_BYTES:
        limit = MAX_SECRET_BYTES // 1024
        msg = f"{name}_file: {path} is larger than {limit} KiB; a secret is one line"
        raise ValueError(msg)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        msg = f"{name}_file: {path} is not UTF-8 text"
        raise ValueError(msg) from None
