"""The Grafana dashboard in deploy/grafana against a real paramedic (the demo config, the
example engine killed with SIGKILL and recovered) and, when Debian's `prometheus` is
installed, a real Prometheus scraping it every second."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import REPO, free_port
from tests.integration.configs import demo_copy
from tests.integration.dashboard import GRAFANA, load, metric_names, prometheus_targets
from tests.integration.runner import RunningParamedic, wait_until

pytestmark = pytest.mark.integration

PROMETHEUS = shutil.which("prometheus")


def _paramedic(tmp_path: Path) -> RunningParamedic:
    config, _engine_port = demo_copy(tmp_path)
    env = {
        "PATH": f"{REPO / '.venv' / 'bin'}:{os.environ['PATH']}",
        "PARAMEDIC_LISTEN": f"127.0.0.1:{free_port()}",
    }
    p = RunningParamedic(config, env=env)
    p.wait_started()
    p.wait_for_line("engine: up")
    return p


def _sample_names(p: RunningParamedic) -> set[str]:
    text = p.get("/metrics").text
    return {s.name for f in text_string_to_metric_families(text) for s in f.samples}


def _state(p: RunningParamedic) -> str:
    return str(p.get("/recovery/status", params={"service": "engine"}).json()["state"])


def _crash_and_recover(p: RunningParamedic, *, then: float = 0.0) -> set[str]:
    """SIGKILL the engine and wait for RECOVERED; every sample name /metrics showed on the
    way (scraped as fast as it answers: some exist only while the recovery runs)."""
    wait_until("a first /health reading", lambda: "open_orders" in p.get("/metrics").text)
    seen = _sample_names(p)
    [engine] = p.child_pids()
    os.kill(engine, signal.SIGKILL)
    wait_until("the incident", lambda: _state(p) != "HEALTHY")

    def recovered() -> bool:
        seen.update(_sample_names(p))
        return _state(p) == "RECOVERED"

    wait_until("RECOVERED", recovered, within=30)
    deadline = time.monotonic() + then
    while time.monotonic() < deadline:
        seen.update(_sample_names(p))
        time.sleep(0.1)
    return seen | _sample_names(p)


def test_every_dashboard_metric_is_on_metrics(tmp_path: Path) -> None:
    """Through a crash and its recovery, /metrics exposes every metric name any Prometheus
    expression of the dashboard references (histogram names with their _count/_sum)."""
    referenced = {n for _, expr in prometheus_targets(load()) for n in metric_names(expr)}
    assert {"recovery_state", "recovery_progress_pct", "recovery_system_state"} <= referenced
    p = _paramedic(tmp_path)
    try:
        seen = _crash_and_recover(p)
    finally:
        p.ensure_dead()
    assert set() == referenced - seen


def test_the_dashboard_panels_use_the_provisioned_datasources() -> None:
    """The dashboard's seven panels of the recovery dashboard are there by title, and every
    panel and target names a datasource uid that the provisioning file defines."""
    dashboard = load()
    provisioned = yaml.safe_load((GRAFANA / "provisioning/datasources/paramedic.yaml").read_text())
    uids = {(d["type"], d["uid"]) for d in provisioned["datasources"]}
    titles = {panel["title"] for panel in dashboard["panels"]}
    spec = {"System State", "Recovery Progress", "Recovery Timeline", "Key Metrics"}
    assert spec | {"Recovery History", "Alerts", "Logs"} <= titles
    for panel in dashboard["panels"]:
        sources = [panel["datasource"]] + [t["datasource"] for t in panel.get("targets", [])]
        assert {(s["type"], s["uid"]) for s in sources} <= uids, panel["title"]
    provider = yaml.safe_load((GRAFANA / "provisioning/dashboards/paramedic.yaml").read_text())
    assert "file" == provider["providers"][0]["type"]
    assert "recovery-status" == dashboard["uid"]


@contextmanager
def _prometheus(tmp_path: Path, target: str) -> Iterator[str]:
    """Debian's prometheus on a free loopback port, scraping `target` every second, its
    storage in tmp; its base URL once /-/ready answers (polled: an external binary)."""
    assert PROMETHEUS is not None
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [{"job_name": "paramedic", "static_configs": [{"targets": [target]}]}],
    }
    (tmp_path / "prometheus.yml").write_text(json.dumps(config))
    port = free_port()
    log = (tmp_path / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'prometheus-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        assert process.poll() is None, (tmp_path / "prometheus.log").read_text()[-2000:]
        try:
            return httpx.get(f"{base}/-/ready", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until("prometheus ready", ready, within=30)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _query_range(base: str, expr: str, start: float, end: float) -> list[object]:
    answer = httpx.get(
        f"{base}/api/v1/query_range",
        params={"query": expr, "start": start, "end": end, "step": "1s"},
        timeout=10,
    ).json()
    assert "success" == answer["status"], (expr, answer)
    result: list[object] = answer["data"]["result"]
    return result


@pytest.mark.skipif(PROMETHEUS is None, reason="Debian's `prometheus` binary is not installed")
def test_every_dashboard_expression_returns_data_from_prometheus(tmp_path: Path) -> None:
    """Prometheus scrapes a real paramedic every second while the example engine is killed
    with SIGKILL and recovered: every Prometheus expression of the dashboard, evaluated
    through Prometheus's HTTP API over the incident's time range, returns data."""
    targets = prometheus_targets(load())
    p = _paramedic(tmp_path)
    try:
        with _prometheus(tmp_path, p.url.removeprefix("http://")) as base:
            start = time.time()
            up = 'up{job="paramedic"}'
            wait_until(
                "the first scrape",
                lambda: _query_range(base, up, start - 5, time.time()),
                within=20,
                every=0.2,
            )
            _crash_and_recover(p, then=2.5)  # two more scrapes of the recovered state
            end = time.time()
            empty = [
                (title, expr)
                for title, expr in targets
                if not _query_range(base, expr, start - 5, end)
            ]
    finally:
        p.ensure_dead()
    assert [] == empty
    assert len(targets) >= 10
