"""paramedic's own health, read from its live parts: the checks behind `/livez` and
`/readyz` (run by the API's `CheckRegistry`) and the figures in `/health`.

They are about paramedic itself: a dead service is an incident, not a reason to take its
supervisor out of rotation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from paramedic.core.errors import StoreError

if TYPE_CHECKING:
    from paramedic.runtime.build import Parts

__all__ = ["add_checks", "health_metrics"]


def health_metrics(p: Parts) -> dict[str, float]:
    services = p.services.values()
    return {
        "uptime_seconds": round(p.clock.monotonic() - p.started_mono, 3),
        "event_loop_lag_ms": round(p.loop_monitor.lag * 1000, 3),
        "event_loop_max_lag_ms": round(p.loop_monitor.max_lag * 1000, 3),
        "events_published": float(p.bus.published),
        "processes_running": float(sum(proc.running for proc in p.processes.values())),
        # Services' verdicts, beside paramedic's own: a down service is an incident, not
        # paramedic being unhealthy, so these never change `healthy`.
        "services_up": float(sum(s.health.state == "up" for s in services)),
        "services_down": float(sum(s.health.state == "down" for s in services)),
        "store_degraded": float(p.trouble.degraded),
        "store_events_not_recorded": float(p.trouble.unrecorded),
    }


def add_checks(p: Parts) -> None:
    async def event_loop() -> tuple[bool, str]:
        return p.loop_monitor.alive()

    async def started() -> tuple[bool, str]:
        return (True, "ok") if p.started.is_set() else (False, "still starting")

    async def store() -> tuple[bool, str]:
        if p.trouble.degraded:  # its probe is the trouble watcher's, every few s
            return p.trouble.readiness()
        try:
            await p.store.ping()
        except StoreError as exc:
            p.store_failed(exc)
            return p.trouble.readiness()
        return True, "ok"

    p.checks.add("live", "event_loop", event_loop)
    p.checks.add("ready", "started", started)
    p.checks.add("ready", "store", store)
