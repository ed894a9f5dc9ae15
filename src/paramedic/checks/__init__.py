"""One kit for "is it OK?": http / tcp / command checks, one result, the keep-alive transport.

`HttpPool` (`http_pool.py`, over `http1.py`) is the lean keep-alive HTTP/1.1 client the alert
channels post through; checks use aiohttp's `ClientSession` (`http.py`), which they share with
the dead man's switch.

Probes (`detect`), validation checks and recovery steps (`recovery`) describe what to check
in one vocabulary (`paramedic.config.checks`) and run it here, so a refused port or a failing
script reads the same wherever it is seen. The kit imports only core, config and process (to
spawn commands); the rooms that use it import the kit, never each other.
"""

from __future__ import annotations

from paramedic.checks.command import command_check, command_json, exit_sentence
from paramedic.checks.health import HealthReport, parse_health
from paramedic.checks.http import (
    HttpAnswer,
    client_error,
    fetch_json,
    http_check,
    http_request,
    read_capped,
)
from paramedic.checks.http1 import (
    HttpConnectError,
    HttpError,
    HttpProtocolError,
    HttpResponse,
    PreparedRequest,
)
from paramedic.checks.http_pool import HttpPool
from paramedic.checks.result import CheckAction, CheckResult
from paramedic.checks.run import describe, run_check
from paramedic.checks.tcp import tcp_check

__all__ = [
    "CheckAction",
    "CheckResult",
    "HealthReport",
    "HttpAnswer",
    "HttpConnectError",
    "HttpError",
    "HttpPool",
    "HttpProtocolError",
    "HttpResponse",
    "PreparedRequest",
    "client_error",
    "command_check",
    "command_json",
    "describe",
    "exit_sentence",
    "fetch_json",
    "http_check",
    "http_request",
    "parse_health",
    "read_capped",
    "run_check",
    "tcp_check",
]
