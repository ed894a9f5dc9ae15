"""Soak: many heartbeat services on a real `paramedic run` for a while; count false incidents.

Short runs are a test (tests/torture/test_soak.py, inside `make test`); the long runs of
docs/reliability.md are `make torture`, or by hand:

    python -m tests.torture.soak --services 1000 --interval-ms 100 --jitter-ms 20 --seconds 600
    python -m tests.torture.soak --services 10000 --interval-ms 1000 --jitter-ms 200 --seconds 600

Every service beats on its own jittered schedule (tests/torture/jitter_sender.py) and is
configured with the default heartbeat timeout (3 intervals). The timeline and counters are
read while the sender still beats (a conviction after it stops would be a true one).
paramedic's RSS is sampled once a second; the slope is fitted by least squares after the
first fifth of the run (warm-up).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from tests.conftest import free_udp_port
from tests.integration.runner import RunningParamedic

SENDER = Path(__file__).with_name("jitter_sender.py")
REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class SoakResult:
    services: int
    seconds: float
    sent: int
    accepted: int
    rejected: int
    sender_late_max_ms: float
    false_incidents: int
    sentences: list[str]
    rss_start_mib: float
    rss_end_mib: float
    rss_slope_mib_per_min: float

    def line(self) -> str:
        return (
            f"{self.services} services, {self.seconds:.0f} s: sent {self.sent},"
            f" accepted {self.accepted} (by the read), rejected {self.rejected},"
            f" false incidents {self.false_incidents},"
            f" RSS {self.rss_start_mib:.1f} -> {self.rss_end_mib:.1f} MiB"
            f" (slope {self.rss_slope_mib_per_min:+.3f} MiB/min),"
            f" sender worst lateness {self.sender_late_max_ms:.1f} ms"
        )


def config_yaml(services: int, interval_ms: int, hb_port: int) -> str:
    lines = [
        "store: {path: soak.db}",
        "api: {listen: 127.0.0.1:0}",
        f"heartbeat: {{listen: 127.0.0.1:{hb_port}, key_env: SOAK_HB_KEY}}",
        "services:",
    ]
    lines += [
        f"  svc-{i:05d}: {{heartbeat: {{interval: {interval_ms}ms, startup_grace: 30s}}}}"
        for i in range(services)
    ]
    return "\n".join(lines) + "\n"


def slope_per_minute(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MiB) samples, in MiB per minute."""
    if len(samples) < 2:
        return 0.0
    n = len(samples)
    mean_t = sum(t for t, _ in samples) / n
    mean_v = sum(v for _, v in samples) / n
    var = sum((t - mean_t) ** 2 for t, _ in samples)
    if var == 0:
        return 0.0
    cov = sum((t - mean_t) * (v - mean_v) for t, v in samples)
    return 60 * cov / var


def _counter(metrics: str, name: str) -> int:
    """The sum of a counter's series in a Prometheus text page."""
    return sum(
        int(float(line.split()[-1]))
        for line in metrics.splitlines()
        if line.startswith((name + " ", name + "{"))
    )


def all_events(paramedic: RunningParamedic) -> list[dict[str, object]]:
    """The whole timeline, page by page."""
    events: list[dict[str, object]] = []
    after = 0
    while True:
        page = paramedic.get("/api/timeline", params={"after": after, "limit": 1000}).json()
        events += page["events"]
        if not page["events"]:
            return events
        after = page["next_after"]


def run_soak(
    folder: Path, services: int, interval_ms: int, jitter_ms: int, seconds: float
) -> SoakResult:
    """Run one soak in `folder` and return what it measured (paramedic is stopped after)."""
    hb_port = free_udp_port()
    key = os.urandom(16).hex()
    config = folder / "soak.yaml"
    config.write_text(config_yaml(services, interval_ms, hb_port))
    env = {"SOAK_HB_KEY": key, "PYTHONPATH": str(REPO)}
    paramedic = RunningParamedic(config, env=env)
    try:
        paramedic.wait_started(timeout=120)
        process = psutil.Process(paramedic.proc.pid)
        sender = subprocess.Popen(
            [
                *(sys.executable, str(SENDER), str(hb_port), str(services)),
                *(str(interval_ms), str(jitter_ms), str(seconds + 60)),
            ],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, **env},
        )
        try:
            samples: list[tuple[float, float]] = []
            start = time.monotonic()
            while (elapsed := time.monotonic() - start) < seconds and sender.poll() is None:
                samples.append((elapsed, process.memory_info().rss / 2**20))
                time.sleep(1.0)  # an outside observer's sampling period, not a wait for an event
            metrics = paramedic.get("/metrics").text
            events = all_events(paramedic)
        finally:
            sender.terminate()
            out, _ = sender.communicate(timeout=30)
        sent, late_max = int(out.split()[1]), float(out.split()[2])
        failures = [e for e in events if e["kind"] == "failure.detected"]
    finally:
        paramedic.ensure_dead()
    warm = [s for s in samples if s[0] >= seconds / 5]
    return SoakResult(
        services=services,
        seconds=seconds,
        sent=sent,
        accepted=_counter(metrics, "paramedic_heartbeats_accepted_total"),
        rejected=_counter(metrics, "paramedic_heartbeats_rejected_total"),
        sender_late_max_ms=late_max,
        false_incidents=len(failures),
        sentences=[f"{e['service']}: {e['summary']}" for e in failures[:10]],
        rss_start_mib=samples[0][1] if samples else 0.0,
        rss_end_mib=samples[-1][1] if samples else 0.0,
        rss_slope_mib_per_min=slope_per_minute(warm),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--interval-ms", type=int, default=100)
    parser.add_argument("--jitter-ms", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=600)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="paramedic-soak-") as name:
        result = run_soak(Path(name), args.services, args.interval_ms, args.jitter_ms, args.seconds)
    print(result.line())
    for sentence in result.sentences:
        print("  false:", sentence)


if __name__ == "__main__":
    main()
