"""One vocabulary for "how to check": probes, recovery steps and validation checks share it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from paramedic.checks.command import command_check
from paramedic.config.checks import CommandCheck, HttpCall, HttpCheck, HttpProbeCheck, TcpCheck
from paramedic.config.probes import ProbeConfig
from paramedic.config.recovery_plan import CheckSpec, StepConfig

HTTP: dict[str, Any] = {
    "url": "http://127.0.0.1:8081/health",
    "headers": {"X-Desk": "eq"},
    "expect_status": [200, 503],
    "expect_json": {"components.exchange": True},
}


def test_same_keys_load_in_a_probe_a_step_and_a_check() -> None:
    """The same http/tcp/command mappings load everywhere, each with its context's defaults."""
    probe = ProbeConfig.model_validate({"role": "readiness", "http": HTTP})
    step = StepConfig.model_validate({"name": "call", "http": HTTP})
    check = CheckSpec.model_validate({"name": "look", "http": HTTP})

    assert (HttpProbeCheck, HttpCall, HttpCheck) == tuple(
        type(c) for c in (probe.http, step.http, check.http)
    )
    assert probe.http is not None
    assert step.http is not None
    assert check.http is not None
    assert ("GET", "POST", "GET") == (probe.http.method, step.http.method, check.http.method)
    assert probe.http.read_health
    tcp = {"host": "127.0.0.1", "port": 7001}
    command = {"argv": ["/usr/bin/check"], "env": {"MODE": "quick"}}
    assert TcpCheck(**tcp) == ProbeConfig.model_validate({"role": "liveness", "tcp": tcp}).tcp
    assert TcpCheck(**tcp) == CheckSpec.model_validate({"name": "t", "tcp": tcp}).tcp
    assert (
        CommandCheck(**command)
        == StepConfig.model_validate({"name": "c", "command": command}).command
    )


def test_success_rule_per_context() -> None:
    """Probes pass 200-399 as Kubernetes does; steps and checks 2xx; expect_status rules all."""
    url = {"url": "http://h/x"}
    probe, call, check = HttpProbeCheck(**url), HttpCall(**url), HttpCheck(**url)

    assert [True, True, True] == [c.accepts(204) for c in (probe, call, check)]
    assert [True, False, False] == [c.accepts(302) for c in (probe, call, check)]
    assert HttpCheck(url="http://h/x", expect_status=[503]).accepts(503)
    assert not HttpProbeCheck(url="http://h/x", expect_status=[503]).accepts(200)


def test_read_health_is_a_probe_key_only() -> None:
    """`read_health` means something only to a probe: a step or check giving it is refused."""
    with pytest.raises(ValidationError, match="read_health"):
        StepConfig.model_validate({"name": "s", "http": {**HTTP, "read_health": False}})
    with pytest.raises(ValidationError, match="read_health"):
        CheckSpec.model_validate({"name": "c", "http": {**HTTP, "read_health": False}})


async def test_a_command_runs_in_the_config_folder_unless_told(tmp_path: Path) -> None:
    """A command check loaded from a config file runs in the file's folder by default (as a
    supervised process does), so `[python3, check.py]` next to the config is found whatever
    paramedic's own working directory; a relative `cwd` is taken from that folder too, an
    absolute one is kept; a model built in code (no config folder) keeps what it was given."""
    (tmp_path / "check.py").write_text("import os; print(os.getcwd())")
    (tmp_path / "sub").mkdir()
    context = {"base_dir": tmp_path}
    argv = [sys.executable, "check.py"]
    check = CommandCheck.model_validate({"argv": argv}, context=context)
    assert tmp_path == check.cwd
    assert Path.cwd() != tmp_path
    result = await command_check(check)
    assert result.ok, result.detail
    relative = CommandCheck.model_validate({"argv": argv, "cwd": "sub"}, context=context)
    assert tmp_path / "sub" == relative.cwd
    absolute = CommandCheck.model_validate({"argv": argv, "cwd": "/tmp"}, context=context)
    assert Path("/tmp") == absolute.cwd
    assert CommandCheck(argv=argv).cwd is None
