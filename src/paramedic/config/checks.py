"""How to check something: the one vocabulary of probes, recovery steps and validation checks.

A probe, a recovery step and a validation check all say `http:`, `tcp:` or `command:` with
the same keys, so an operator who wrote one can write the others. What differs is what the
context expects, and it is said by a subclass, never by a second spelling of the same key:

- `HttpCheck` looks at something: GET by default, success is a 2xx status.
- `HttpCall` acts (a recovery step, a promotion): the same keys, POST by default.
- `HttpProbeCheck` is a probe's request, with Kubernetes' success rule (200-399, so a
  redirect passes) and `read_health` (the seed's `/health` JSON read per component).

The kit in `paramedic.checks` runs these models; this module only validates them, so that
config keeps importing nothing but core.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationInfo, field_validator, model_validator

from paramedic.config.types import Argv, StrictModel

__all__ = [
    "AnyCheck",
    "CommandCheck",
    "HttpCall",
    "HttpCheck",
    "HttpMethod",
    "HttpProbeCheck",
    "TcpCheck",
    "dotted_paths",
    "http_url",
]

HttpMethod = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]


def http_url(value: str) -> str:
    """An http(s) URL with a host and a valid port; a typo is refused at load, not at 3 a.m."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        msg = f"{value!r} is not an http(s) URL; write e.g. http://127.0.0.1:8081/health"
        raise ValueError(msg)
    try:
        parts.port  # noqa: B018 - urlsplit validates the port lazily
    except ValueError:
        msg = f"{value!r} has a bad port; use 1-65535"
        raise ValueError(msg) from None
    return value


def dotted_paths(value: Any) -> Any:
    """Every key (or item) a dotted path into JSON: `positions.AAPL`, `orders.0.id`."""
    for path in value or []:
        if not path or any(not part for part in path.split(".")):
            msg = f"{path!r} is not a dotted path; write e.g. components.exchange"
            raise ValueError(msg)
    return value


class HttpCheck(StrictModel):
    """An HTTP request; success is a status in `expect_status` (default: 2xx) and every
    `expect_json` path holding its value. `body`, if given, is sent as JSON."""

    url: str
    method: HttpMethod = "GET"
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = None
    expect_status: list[int] | None = Field(default=None, min_length=1)
    expect_json: dict[str, Any] | None = None

    default_ok: ClassVar[range] = range(200, 300)
    """The statuses that pass when `expect_status` is not given."""

    _url = field_validator("url")(http_url)
    _paths = field_validator("expect_json")(dotted_paths)

    @field_validator("expect_status")
    @classmethod
    def _statuses(cls, value: list[int] | None) -> list[int] | None:
        bad = [code for code in value or [] if not 100 <= code <= 599]
        if bad:
            msg = f"{bad[0]} is not an HTTP status (100-599)"
            raise ValueError(msg)
        return value

    def accepts(self, status: int) -> bool:
        """Whether `status` passes: one of `expect_status`, else one of `default_ok`."""
        return status in (self.expect_status or self.default_ok)


class HttpCall(HttpCheck):
    """An HTTP request that acts (a recovery step, promoting a standby): POST by default."""

    method: HttpMethod = "POST"


class HttpProbeCheck(HttpCheck):
    """A probe's request: Kubernetes' rule (200-399 pass unless `expect_status` says
    otherwise) and, with `read_health` (the default), the body read as the `/health` JSON."""

    read_health: bool = True

    default_ok: ClassVar[range] = range(200, 400)


class TcpCheck(StrictModel):
    """A TCP connect, closed at once: proves the port accepts, nothing more."""

    host: str = Field(min_length=1)
    port: int = Field(ge=1, le=65535)


class CommandCheck(StrictModel):
    """A program exec'd directly (never through a shell); exit status 0 is success. It runs
    in `cwd`, by default the config file's folder (like a supervised process), so a relative
    program argument is found wherever paramedic was started from."""

    argv: Argv
    env: dict[str, str] = Field(default_factory=dict)
    cwd: Path | None = None

    @model_validator(mode="after")
    def _cwd_from_config_folder(self, info: ValidationInfo) -> CommandCheck:
        # Without the config's folder (a model built in code) the cwd is left as given.
        base = (info.context or {}).get("base_dir")
        if base is not None and (self.cwd is None or not self.cwd.is_absolute()):
            self.cwd = Path(base) / self.cwd if self.cwd is not None else Path(base)
        return self


AnyCheck = HttpCheck | TcpCheck | CommandCheck
"""What the kit can run; an `HttpCall` or `HttpProbeCheck` is an `HttpCheck`."""
