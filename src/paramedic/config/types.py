"""Building blocks shared by every config section: strict models, durations, addresses."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, SecretStr

from paramedic.config.durations import parse_duration

__all__ = ["Argv", "Duration", "StrictModel", "host_port", "read_secret"]


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
    try:
        text = path.read_text("utf-8").strip()
    except OSError as exc:
        msg = f"{name}_file: cannot read {path}: {exc.strerror}"
        raise ValueError(msg) from exc
    if not text:
        msg = f"{name}_file: {path} is empty"
        raise ValueError(msg)
    return SecretStr(text)
