"""False convictions and detection time: phi accrual against the fixed 300 ms timeout.

Simulates heartbeats every 100 ms with 20% jitter (uniform 80-120 ms, and gaussian
sigma 20 ms clipped to 1-200 ms) and, for each detector, counts false convictions (the
detector's deadline falls before the next heartbeat arrives) and samples the detection time
(deadline minus the last heartbeat) as if the heartbeats stopped right there. Everything runs
in one process on the same random streams, so the timeout row is the reference for the phi
rows. Usage: python bench/phi_false_convictions.py [--beats N] [--seed S]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

from paramedic.detect.failure_detector import (
    FailureDetector,
    PhiAccrualDetector,
    TimeoutDetector,
)

INTERVAL = 0.1
SAMPLE_EVERY = 97  # co-prime with nothing in particular: avoids phase-locking to a pattern


def uniform(rng: random.Random) -> float:
    return rng.uniform(0.8 * INTERVAL, 1.2 * INTERVAL)


def gaussian(rng: random.Random) -> float:
    return min(max(rng.gauss(INTERVAL, 0.02), 0.001), 2 * INTERVAL)


def run(
    detector: FailureDetector, jitter: Callable[[random.Random], float], beats: int, seed: int
) -> tuple[int, list[float], float]:
    """(false convictions, detection-time samples in seconds, wall seconds per heartbeat)."""
    rng = random.Random(seed)
    now = 0.0
    detector.heartbeat(now)
    false_convictions = 0
    detection: list[float] = []
    started = time.perf_counter()
    for i in range(beats):
        arrival = now + jitter(rng)
        deadline = detector.deadline()
        assert deadline is not None
        if deadline <= arrival:
            false_convictions += 1
        if i % SAMPLE_EVERY == 0 and i > 1000:
            detection.append(deadline - now)
        now = arrival
        detector.heartbeat(now)
    return false_convictions, detection, (time.perf_counter() - started) / beats


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--beats", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=20261129)
    args = parser.parse_args()

    detectors: list[tuple[str, Callable[[], FailureDetector]]] = [
        ("timeout 300 ms", lambda: TimeoutDetector(0.3)),
        ("phi 8 (default)", lambda: PhiAccrualDetector(INTERVAL)),
        ("phi 10", lambda: PhiAccrualDetector(INTERVAL, threshold=10.0)),
        ("phi 12", lambda: PhiAccrualDetector(INTERVAL, threshold=12.0)),
    ]
    print(
        f"{args.beats:,} heartbeats per row at {INTERVAL * 1000:.0f} ms; phi defaults: "
        "min_std_deviation 25 ms, max_sample_size 1000, acceptable pause 0"
    )
    header = (
        f"{'jitter':<22} {'detector':<16} {'false conv.':>11} "
        f"{'detect mean':>12} {'detect p99':>11} {'detect max':>11} {'us/beat':>8}"
    )
    print(header)
    print("-" * len(header))
    for jitter_name, jitter in (
        ("uniform 80-120 ms", uniform),
        ("gauss s=20ms clip", gaussian),
    ):
        for name, make in detectors:
            false_convictions, detection, per_beat = run(make(), jitter, args.beats, args.seed)
            print(
                f"{jitter_name:<22} {name:<16} {false_convictions:>11} "
                f"{statistics.fmean(detection) * 1000:>9.1f} ms "
                f"{p99(detection) * 1000:>8.1f} ms {max(detection) * 1000:>8.1f} ms "
                f"{per_beat * 1e6:>8.2f}"
            )
    print(
        "detection = deadline - last heartbeat, sampled every "
        f"{SAMPLE_EVERY} beats after the first 1000 (when the stream would stop there)"
    )


if __name__ == "__main__":
    main()
