"""The shipped deployment files: they parse, and the settings paramedic relies on are there."""

from __future__ import annotations

import configparser
from pathlib import Path
from typing import Any

import pytest
import yaml

from paramedic.config import Config, parse_config
from paramedic.config.selfwatch import SelfWatchConfig
from tests.conftest import REPO

DEPLOY = REPO / "deploy"
K8S = DEPLOY / "kubernetes"
UNIT = DEPLOY / "systemd" / "paramedic.service"
SECRET_ENV = {
    "PARAMEDIC_OPERATOR_TOKEN": "o" * 32,
    "PARAMEDIC_VIEWER_TOKEN": "v" * 32,
    "PARAMEDIC_HEARTBEAT_KEY": "k" * 32,
    "PARAMEDIC_DEADMAN_URL": "https://hc-ping.com/00000000-0000-0000-0000-000000000000",
}


def _manifest(name: str) -> dict[str, Any]:
    documents = list(yaml.safe_load_all((K8S / name).read_text("utf-8")))
    assert 1 == len(documents)
    doc: dict[str, Any] = documents[0]
    return doc


def _unit() -> configparser.ConfigParser:
    """systemd unit syntax is close enough to INI for the keys we check (no repeats)."""
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment, method-assign]  # keys are CamelCase
    parser.read_string(UNIT.read_text("utf-8"))
    return parser


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("deployment.yaml", "Deployment"),
        ("configmap.yaml", "ConfigMap"),
        ("secret.example.yaml", "Secret"),
        ("service.yaml", "Service"),
    ],
)
def test_manifests_parse(name: str, kind: str) -> None:
    """Each manifest is one YAML document of the expected kind, named paramedic-something."""
    doc = _manifest(name)
    assert kind == doc["kind"]
    assert doc["metadata"]["name"].startswith("paramedic")


def test_deployment_probes_point_at_the_right_paths() -> None:
    """liveness and startup on /livez, readiness on /readyz, all on the API port."""
    deployment = _manifest("deployment.yaml")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    probes = {
        kind: (container[kind]["httpGet"]["path"], container[kind]["httpGet"]["port"])
        for kind in ("livenessProbe", "readinessProbe", "startupProbe")
    }
    assert {
        "livenessProbe": ("/livez", "api"),
        "readinessProbe": ("/readyz", "api"),
        "startupProbe": ("/livez", "api"),
    } == probes
    assert container["startupProbe"]["failureThreshold"] >= 10
    ports = {p["name"]: (p["containerPort"], p["protocol"]) for p in container["ports"]}
    assert {"api": (9090, "TCP"), "heartbeat": (9999, "UDP")} == ports
    assert ["paramedic", "run", "--config", "/etc/paramedic/paramedic.yaml"] == container["command"]


def test_deployment_is_a_single_non_overlapping_replica() -> None:
    """One replica, Recreate, and a grace period above the 10 s shutdown_timeout."""
    spec = _manifest("deployment.yaml")["spec"]
    assert (1, "Recreate") == (spec["replicas"], spec["strategy"]["type"])
    assert spec["template"]["spec"]["terminationGracePeriodSeconds"] > 10


def test_service_exposes_api_tcp_and_heartbeat_udp() -> None:
    """9090/TCP for the API and /metrics, 9999/UDP for heartbeats."""
    ports = {
        p["name"]: (p["port"], p["protocol"]) for p in _manifest("service.yaml")["spec"]["ports"]
    }
    assert {"api": (9090, "TCP"), "heartbeat": (9999, "UDP")} == ports


def test_configmap_config_validates() -> None:
    """The example paramedic.yaml is a valid config listening on 0.0.0.0, secrets from env.

    Until `self_watch` is a field of Config, that section is checked on its own model.
    """
    text = _manifest("configmap.yaml")["data"]["paramedic.yaml"]
    raw = yaml.safe_load(text)
    if "self_watch" not in Config.model_fields:
        self_watch = raw.pop("self_watch")
        text = yaml.safe_dump(raw)
        url = SECRET_ENV["PARAMEDIC_DEADMAN_URL"]
        self_watch["dead_mans_switch"]["url"] = url
        assert url == SelfWatchConfig.model_validate(self_watch).dead_mans_switch.url  # type: ignore[union-attr]
    config = parse_config(text, env=SECRET_ENV)
    assert ("0.0.0.0", 9090) == (config.api.host, config.api.port)
    assert "k" * 32 == config.heartbeat.shared_key.get_secret_value()  # type: ignore[union-attr]


def test_secret_example_holds_only_placeholders() -> None:
    """The example Secret carries every variable the ConfigMap references, none of them real."""
    data = _manifest("secret.example.yaml")["stringData"]
    assert set(SECRET_ENV) == set(data)
    assert all("replace-with" in value for value in data.values())


def test_systemd_unit_has_the_watchdog_and_restart_settings() -> None:
    """Type=notify with a watchdog, always restarted, start limits in [Unit] (modern names)."""
    unit = _unit()
    service = unit["Service"]
    assert {
        "Type": "notify",
        "NotifyAccess": "main",
        "WatchdogSec": "10s",
        "Restart": "always",
        "RestartSec": "1s",
        "KillMode": "process",  # children outlive paramedic's death; re-adopted
        "ExecStart": "/usr/local/bin/paramedic run --config /etc/paramedic/paramedic.yaml",
        "EnvironmentFile": "-/etc/paramedic/paramedic.env",
    } == {
        key: service[key]
        for key in (
            "Type",
            "NotifyAccess",
            "WatchdogSec",
            "Restart",
            "RestartSec",
            "KillMode",
            "ExecStart",
            "EnvironmentFile",
        )
    }
    assert ("300", "5") == (unit["Unit"]["StartLimitIntervalSec"], unit["Unit"]["StartLimitBurst"])
    assert "StartLimitInterval" not in service
    assert "StartLimitIntervalSec" not in service
    assert service["User"] != "root"
    assert 10 < float(service["TimeoutStopSec"].removesuffix("s"))


def test_systemd_unit_is_hardened_but_can_write_its_state() -> None:
    """The sandbox is on, with /var/lib/paramedic writable for the store and child logs."""
    service = _unit()["Service"]
    assert ("yes", "strict", "yes") == (
        service["NoNewPrivileges"],
        service["ProtectSystem"],
        service["PrivateTmp"],
    )
    assert "/var/lib/paramedic" == service["ReadWritePaths"]
    assert "paramedic" == service["StateDirectory"]


def test_deploy_readme_exists() -> None:
    """Operators have a page explaining both layouts."""
    text = (DEPLOY / "README.md").read_text("utf-8")
    assert "systemd" in text
    assert "Kubernetes" in text


def _paths() -> list[Path]:
    return sorted(K8S.glob("*.yaml"))


def test_no_other_manifests_untested() -> None:
    """Every manifest in deploy/kubernetes is covered by test_manifests_parse."""
    assert [
        "configmap.yaml",
        "deployment.yaml",
        "secret.example.yaml",
        "service.yaml",
    ] == [p.name for p in _paths()]
