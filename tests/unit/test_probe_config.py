"""Probe config: valid k8s-shaped specs load; every mistake names the field it is about."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from pydantic import TypeAdapter, ValidationError

from paramedic.config.probes import HealthReading, ProbeConfig, ProbeList

PROBES: TypeAdapter[list[ProbeConfig]] = TypeAdapter(ProbeList)

VALID = """
- name: health
  role: liveness
  http:
    url: http://127.0.0.1:8081/health
    expect_status: [200]
    expect_json: {"components.exchange": true}
  initial_delay: 0s
  period: 500ms
  timeout: 200ms
  failure_threshold: 3
- role: readiness
  tcp: {host: 127.0.0.1, port: 7001}
  success_threshold: 2
- role: startup
  command: {argv: [/usr/bin/check, --fast], env: {MODE: quick}}
  period: 1s
  failure_threshold: 60
"""


def errors_of(probes: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(dotted location, message) for each validation error, in pydantic's order."""
    with pytest.raises(ValidationError) as caught:
        PROBES.validate_python(probes)
    return [(".".join(map(str, e["loc"])), e["msg"]) for e in caught.value.errors()]


def probe(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"role": "liveness", "http": {"url": "http://127.0.0.1:8081/health"}}
    return {**base, **overrides}


def test_valid_yaml_loads_with_durations_and_defaults() -> None:
    """A full k8s-shaped spec loads: durations in seconds, names derived, defaults filled."""
    probes = PROBES.validate_python(yaml.safe_load(VALID))

    assert ["health", "readiness-tcp", "startup-command"] == [p.name for p in probes]
    health, ready, startup = probes
    assert (0.0, 0.5, 0.2, 1, 3) == (
        health.initial_delay,
        health.period,
        health.timeout,
        health.success_threshold,
        health.failure_threshold,
    )
    assert health.http is not None
    assert {"components.exchange": True} == health.http.expect_json
    assert health.http.read_health
    assert ready.tcp is not None
    assert ("127.0.0.1", 7001) == (ready.tcp.host, ready.tcp.port)
    assert (1.0, 0.5, 2) == (ready.period, ready.timeout, ready.success_threshold)
    assert startup.command is not None
    assert ["/usr/bin/check", "--fast"] == startup.command.argv
    assert {"MODE": "quick"} == startup.command.env


def test_health_reading_defaults_and_unknown_components() -> None:
    """The default map follows the seed; unknown components fall back to degradation."""
    reading = HealthReading()

    assert "network_partition" == reading.kind_for("exchange")
    assert "db_connection_loss" == reading.kind_for("database")
    assert "degradation" == reading.kind_for("gpu")
    custom = HealthReading.model_validate({"components": {"fix": "network_partition"}})
    assert "network_partition" == custom.kind_for("fix")
    assert "degradation" == custom.kind_for("exchange")


@pytest.mark.parametrize(
    ("probes", "expected_loc", "expected_msg"),
    [
        pytest.param(
            [probe(tcp={"host": "127.0.0.1", "port": 1})],
            "0",
            "give exactly one probe action of http, tcp or command; got http and tcp",
            id="two-actions",
        ),
        pytest.param(
            [{"role": "liveness"}],
            "0",
            "give exactly one probe action of http, tcp or command; got none",
            id="no-action",
        ),
        pytest.param(
            [probe(success_threshold=2)],
            "0.success_threshold",
            "must be 1 for a liveness probe (as in Kubernetes); got 2",
            id="liveness-success-threshold",
        ),
        pytest.param(
            [probe(role="startup", success_threshold=3)],
            "0.success_threshold",
            "must be 1 for a startup probe (as in Kubernetes); got 3",
            id="startup-success-threshold",
        ),
        pytest.param(
            [probe(http={"url": "127.0.0.1:8081/health"})],
            "0.http.url",
            "is not an http(s) URL",
            id="url-without-scheme",
        ),
        pytest.param(
            [probe(http={"url": "http://127.0.0.1:99999/health"})],
            "0.http.url",
            "has a bad port",
            id="url-bad-port",
        ),
        pytest.param([probe(period="0s")], "0.period", "must be greater than 0", id="period-0"),
        pytest.param([probe(timeout="0ms")], "0.timeout", "must be greater than 0", id="timeout-0"),
        pytest.param(
            [probe(period="500ms", timeout="1s")],
            "0.timeout",
            "must not exceed period (500 ms); got 1 s",
            id="timeout-above-period",
        ),
        pytest.param([probe(period=5)], "0.period", "5 has no unit", id="bare-number"),
        pytest.param(
            [probe(failure_threshold=0)],
            "0.failure_threshold",
            "greater than or equal to 1",
            id="failure-threshold-0",
        ),
        pytest.param(
            [probe(http={"url": "http://h/x", "expect_status": [700]})],
            "0.http.expect_status",
            "700 is not an HTTP status",
            id="bad-status",
        ),
        pytest.param(
            [probe(http={"url": "http://h/x", "expect_json": {"a..b": 1}})],
            "0.http.expect_json",
            "'a..b' is not a dotted path",
            id="bad-json-path",
        ),
        pytest.param(
            [probe(role="readiness", tcp=None, command={"argv": [""]}, http=None)],
            "0.command.argv",
            "argv[0] is empty",
            id="empty-argv",
        ),
        pytest.param([probe(tcp=None, http=None, tcp_=1)], "0", "got none", id="typo-action"),
        pytest.param(
            [probe(), probe()],
            "",
            "probe names must be unique per service; repeated: liveness-http",
            id="duplicate-derived-names",
        ),
        pytest.param(
            [probe(role="startup", name="a"), probe(role="startup", name="b")],
            "",
            "at most one startup probe per service; got a, b",
            id="two-startup-probes",
        ),
        pytest.param(
            [probe(name="Health Check")], "0.name", "probe name 'Health Check'", id="bad-name"
        ),
    ],
)
def test_invalid_probe_names_the_field(
    probes: list[dict[str, Any]], expected_loc: str, expected_msg: str
) -> None:
    """Each mistake gives exactly one error, located at the field and saying what to fix."""
    errors = errors_of(probes)

    assert 1 == len(errors), errors
    loc, msg = errors[0]
    assert expected_loc == loc
    assert expected_msg in msg


def test_unknown_key_is_refused() -> None:
    """A misspelt knob is an error, never a default silently left in force."""
    errors = errors_of([probe(perod="1s")])

    assert [("0.perod", "Extra inputs are not permitted")] == errors


def test_health_reading_refuses_unknown_kind() -> None:
    """A component mapped to a kind that does not exist is located at that component."""
    with pytest.raises(ValidationError) as caught:
        HealthReading.model_validate({"components": {"exchange": "partition"}})

    assert ("components", "exchange") == caught.value.errors()[0]["loc"]


def test_startup_grace_defaults_to_30s_and_is_refused_where_it_does_nothing() -> None:
    """startup_grace: 30 s unless given; on a startup probe, or beside one, it is an error."""
    default, given = PROBES.validate_python(
        [probe(name="a"), probe(name="b", role="readiness", startup_grace="2s")]
    )
    assert (30.0, 2.0) == (default.grace, given.grace)
    assert [
        (
            "0.startup_grace",
            "Value error, a startup probe has no startup_grace:"
            " its failure_threshold x period is one",
        ),
    ] == errors_of([probe(role="startup", startup_grace="5s")])
    [(_where, message)] = errors_of([probe(name="boot", role="startup"), probe(startup_grace="5s")])
    assert "startup_grace on liveness-http does nothing: the startup probe boot gates" in message
