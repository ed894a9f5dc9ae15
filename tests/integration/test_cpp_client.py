"""The C++17 heartbeat sender (clients/cpp): built with g++, byte for byte against the
protocol document's test vectors, and supervised end to end by a live `paramedic run`."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, free_udp_port
from tests.heartbeat_vectors import VECTOR_FIELDS, doc_vectors
from tests.integration.runner import RunningParamedic, config_file, wait_until

pytestmark = pytest.mark.integration

CPP = REPO / "clients" / "cpp"
# The flags an engine's own build would use, and stricter: a warning fails the test.
CXXFLAGS = ["-std=c++17", "-Wall", "-Wextra", "-Werror", "-O2", "-pthread", f"-I{CPP}"]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The vector encoder and the example engine, compiled from this tree with g++."""
    gxx = shutil.which("g++")
    assert gxx is not None, "g++ is needed to test the C++ sender (apt-get install g++)"
    out = tmp_path_factory.mktemp("cpp")
    programs = {"encode_vector": "tests/encode_vector.cpp", "engine": "examples/engine.cpp"}
    for name, source in programs.items():
        done = subprocess.run(
            [gxx, *CXXFLAGS, str(CPP / source), "-o", str(out / name)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert 0 == done.returncode, done.stderr
    return {name: out / name for name in programs}


def _vector_argv(fields: dict[str, Any]) -> list[str]:
    extras = b"".join(
        kind.to_bytes(2, "big") + len(value).to_bytes(2, "big") + value
        for kind, value in fields.get("extras", ())
    )
    return [
        fields["key"].hex(),
        str(fields["key_id"]),
        str(fields.get("flags", 0)),
        fields["service"],
        fields["instance"].hex(),
        str(fields["seq"]),
        str(fields["sent_ns"]),
        str(fields.get("load_avg_milli", 0)),
        str(fields.get("rss_bytes", 0)),
        str(fields.get("threads", 0)),
        extras.hex() or "-",
    ]


@pytest.mark.parametrize("number", sorted(VECTOR_FIELDS))
def test_cpp_encoder_reproduces_doc_vector_byte_exact(built: dict[str, Path], number: int) -> None:
    """heartbeat.hpp emits exactly the document's bytes (its HMAC also passes RFC 4231)."""
    done = subprocess.run(
        [built["encode_vector"], *_vector_argv(VECTOR_FIELDS[number])],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert 0 == done.returncode, done.stderr
    assert doc_vectors()[number].hex() == done.stdout.strip()


def _events(p: RunningParamedic, kind: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = p.get("/api/timeline", params={"limit": 1000}).json()["events"]
    return [e for e in events if e["kind"] == kind]


def _heartbeats_accepted(p: RunningParamedic) -> float:
    for line in p.get("/metrics").text.splitlines():
        if line.startswith("paramedic_heartbeats_accepted_total "):
            return float(line.split()[1])
    return 0.0


def _engine_config(tmp_path: Path, engine: Path, *extra_argv: str) -> Path:
    key = tmp_path / "hb.key"
    key.write_text("cpp-engine-key-0123456789abcdefgh\n")  # stripped by both sides
    udp = free_udp_port()
    argv = ", ".join(repr(a) for a in (str(engine), *extra_argv))
    return config_file(
        tmp_path,
        f"""
heartbeat:
  listen: 127.0.0.1:{udp}
  key_file: {key}
services:
  engine:
    process:
      argv: [{argv}]
      env:
        PARAMEDIC_HEARTBEAT_ADDR: 127.0.0.1:{udp}
        PARAMEDIC_HEARTBEAT_KEY_FILE: {key}
      stop_timeout: 2s
      restart: {{policy: never}}
    heartbeat: {{interval: 100ms, timeout: 300ms, startup_grace: 3s}}
    health: {{up_after: 2, evaluate_every: 50ms}}
""",
        operator=None,
    )


def _wait_up(p: RunningParamedic) -> None:
    """The engine's C++ heartbeats are accepted and the service is up, with no failure."""
    p.wait_started()
    wait_until("the engine up", lambda: _events(p, "service.up"), within=15)
    assert 1.0 == p.get("/health").json()["metrics"]["services_up"]
    assert _heartbeats_accepted(p) >= 2
    assert [] == _events(p, "failure.detected")


def _convicted(p: RunningParamedic) -> tuple[str, str, str, str]:
    [detected] = wait_until("a conviction", lambda: _events(p, "failure.detected"), within=15)
    payload = detected["payload"]
    return detected["service"], payload["failure_kind"], payload["source"], payload["reason"]


def test_cpp_engine_is_healthy_then_its_stall_is_convicted_as_a_hang(
    built: dict[str, Path], tmp_path: Path
) -> None:
    """paramedic runs the C++ example engine: its heartbeats are accepted and the service is
    up; after 2 s its trading loop stops calling beat() while the process lives on, the
    sender flags the stall, and paramedic convicts a hang (failure.detected, kind hang)."""
    p = RunningParamedic(_engine_config(tmp_path, built["engine"], "--hang-after", "2"))
    try:
        _wait_up(p)
        service, kind, source, reason = _convicted(p)
        assert ("engine", "hang", "heartbeat:stall") == (service, kind, source)
        assert reason.startswith("trading loop stalled: sender alive but no beat()")
    finally:
        p.ensure_dead()


def test_cpp_engine_falling_silent_is_convicted_as_a_hang(
    built: dict[str, Path], tmp_path: Path
) -> None:
    """The C++ engine is up, then frozen whole (SIGSTOP: sender thread included): its
    heartbeats stop while the process exists, and paramedic convicts the silence as a hang."""
    p = RunningParamedic(_engine_config(tmp_path, built["engine"]))
    try:
        _wait_up(p)
        [pid] = p.child_pids()
        os.kill(pid, signal.SIGSTOP)
        try:
            service, kind, source, reason = _convicted(p)
        finally:
            os.kill(pid, signal.SIGCONT)
        assert ("engine", "hang", "heartbeat") == (service, kind, source)
        assert reason.startswith("heartbeat silent ")
    finally:
        p.ensure_dead()
