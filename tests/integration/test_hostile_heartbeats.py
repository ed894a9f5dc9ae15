"""Hostile heartbeats against a real `paramedic run`: a shared key must not let a sender make
paramedic remember ids nobody monitors (issue 10, defect 5)."""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from paramedic.detect.heartbeat.replay import WINDOW_SIZE
from paramedic.wire import encode
from tests.conftest import free_port, free_udp_port
from tests.integration.runner import RunningParamedic

pytestmark = pytest.mark.integration

SHARED = b"s" * 32
GHOSTS = 100_000
BATCH = 2_000
RETIRED_PER_SERVICE = 8  # ReplayGuard's default, documented in heartbeat-protocol.md


def write_config(tmp_path: Path, udp: int) -> Path:
    (tmp_path / "hb.key").write_bytes(SHARED)
    config = tmp_path / "paramedic.yaml"
    config.write_text(
        f"""
api:
  listen: 127.0.0.1:{free_port()}
store:
  path: var/p.db
heartbeat:
  listen: 127.0.0.1:{udp}
  key_file: hb.key
services:
  engine:
    process:
      argv: [{sys.executable!r}, "-c", "import signal; signal.pause()"]
    heartbeat: {{interval: 100ms, timeout: 300ms, startup_grace: 1h}}
"""
    )
    return config


@pytest.fixture
def paramedic(tmp_path: Path) -> Iterator[tuple[RunningParamedic, int]]:
    udp = free_udp_port()
    p = RunningParamedic(write_config(tmp_path, udp))
    try:
        p.wait_started()
        yield p, udp
    finally:
        p.ensure_dead()


def heartbeat_metrics(p: RunningParamedic) -> dict[str, float]:
    """accepted, rejected by reason and instances tracked, from a scrape of /metrics."""
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(p.get("/metrics").text):
        for sample in family.samples:
            if sample.name == "paramedic_heartbeats_accepted_total":
                out["accepted"] = sample.value
            elif sample.name == "paramedic_heartbeats_rejected_total":
                out[sample.labels["reason"]] = sample.value
            elif sample.name == "paramedic_heartbeat_instances_tracked":
                out["tracked"] = sample.value
    return out


def processed(m: dict[str, float]) -> float:
    return sum(v for k, v in m.items() if k != "tracked")


def send_paced(
    p: RunningParamedic, udp: int, count: int, make: Callable[[int], bytes]
) -> dict[str, float]:
    """Send `make(i)` for i < count in batches, each built just before it is sent (the send
    time must stay within the 2 s skew bound) and each waited for until paramedic has counted
    it, so the socket buffer never overflows and every datagram gets a verdict (polled: the
    verdicts are in another process)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    base = processed(heartbeat_metrics(p))
    metrics: dict[str, float] = {}
    try:
        for start in range(0, count, BATCH):
            for i in range(start, min(start + BATCH, count)):
                sock.sendto(make(i), ("127.0.0.1", udp))
            target = base + min(start + BATCH, count)
            deadline = time.monotonic() + 10.0
            while processed(metrics := heartbeat_metrics(p)) < target:
                assert time.monotonic() < deadline, f"paramedic counted {metrics}, sent {target}"
    finally:
        sock.close()
    return metrics


def beat(service: str, *, instance: bytes | None = None, seq: int = 0) -> bytes:
    return encode(
        service=service,
        key=SHARED,
        key_id=0,
        instance=instance or os.urandom(16),
        seq=seq,
        sent_ns=time.time_ns(),
    )


def test_unknown_service_ids_are_rejected_counted_and_never_remembered(
    paramedic: tuple[RunningParamedic, int],
) -> None:
    """100,000 datagrams correctly signed with the shared key, each for a fresh service id from
    a random instance: all refused as unknown_service, none accepted, and the replay state holds
    nothing of them. Then 200 fresh instances of the one configured service: each accepted (a
    restart is legitimate), and the state stays at its documented bound of 1 + 8 instances."""
    p, udp = paramedic
    rss_before = psutil.Process(p.proc.pid).memory_info().rss
    before = heartbeat_metrics(p)
    after = send_paced(p, udp, GHOSTS, lambda i: beat(f"ghost-{i:06d}"))
    rss_after = psutil.Process(p.proc.pid).memory_info().rss
    print(f"RSS {rss_before / 2**20:.1f} MiB -> {rss_after / 2**20:.1f} MiB after {GHOSTS} ghosts")
    assert before.get("accepted", 0) == after["accepted"]
    assert before.get("unknown_service", 0) + GHOSTS == after["unknown_service"]
    assert 0 == after["tracked"]

    final = send_paced(p, udp, 200, lambda _: beat("engine", seq=WINDOW_SIZE))
    assert after["accepted"] + 200 == final["accepted"]
    assert 1 + RETIRED_PER_SERVICE == final["tracked"]
