"""Heartbeats at run time: the UDP receiver, the per-service detectors, and their wiring.

The receiver decodes and authenticates each datagram and calls the monitor inline (no queue,
no log line, no store write per heartbeat). The monitor turns silence into signals for each
service's ServiceHealth. paramedic's own loop lag feeds the self-pause guard, so a stall of
paramedic itself convicts no one.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

from paramedic.config.model import Config, HeartbeatConfig
from paramedic.core.clock import Clock
from paramedic.core.errors import DetectionError, LifecycleError
from paramedic.detect.events import DetectionHeld, HeartbeatRestartSeen
from paramedic.detect.failure_detector import FailureDetector, PhiAccrualDetector, TimeoutDetector
from paramedic.detect.heartbeat import HeartbeatReceiver
from paramedic.detect.heartbeat_monitor import HeartbeatMonitor
from paramedic.detect.self_pause import SelfPauseGuard
from paramedic.detect.signals import Signal
from paramedic.runtime.loop_monitor import LoopMonitor
from paramedic.runtime.recorder import OrderedRecorder
from paramedic.runtime.services import ServiceRuntime
from paramedic.wire import KeyRing

__all__ = ["Heartbeats", "build_detector"]


def build_detector(cfg: HeartbeatConfig) -> FailureDetector:
    if cfg.detector == "phi":
        return PhiAccrualDetector(
            cfg.interval,
            threshold=cfg.phi_threshold,
            min_std_deviation=cfg.min_std_deviation,
            acceptable_heartbeat_pause=cfg.acceptable_pause,
        )
    return TimeoutDetector(cfg.silence_timeout)


class Heartbeats:
    """Receiver + monitor for every service that heartbeats."""

    def __init__(
        self,
        config: Config,
        *,
        clock: Clock,
        services: Mapping[str, ServiceRuntime],
        recorder: OrderedRecorder,
        loop_monitor: LoopMonitor,
    ) -> None:
        listener = config.heartbeat
        assert listener is not None
        self._clock = clock
        self._services = services
        self._recorder = recorder
        self.guard = SelfPauseGuard(listener.self_pause_bound)
        loop_monitor.listeners.append(self.guard.note_lag)
        self.monitor = HeartbeatMonitor(
            clock,
            self._signal,
            guard=self.guard,
            on_held=self._held,
            on_restart=self._restarted,
        )
        per_service: dict[str, dict[int, bytes]] = {}
        heartbeating: list[str] = []
        for name, svc in config.services.items():
            hb = svc.heartbeat
            if hb is None:
                continue
            heartbeating.append(name)
            if hb.key is not None:
                per_service[name] = {hb.key_id: hb.key.get_secret_value().encode()}
            self.monitor.add_service(
                name, build_detector(hb), hb.interval, startup_grace=hb.startup_grace
            )
            services[name].health.expect("heartbeat")
            services[name].on_restart.append(functools.partial(self._process_started, name, hb))
        shared = listener.shared_key
        self.receiver = HeartbeatReceiver(
            KeyRing(
                per_service=per_service,
                shared={listener.key_id: shared.get_secret_value().encode()} if shared else None,
                # Only configured heartbeat services: any other id is unknown_service.
                shared_services=heartbeating,
            ),
            host=listener.host,
            port=listener.port,
            multicast_group=listener.multicast_group,
            max_skew_ns=int(listener.max_skew * 1e9),
            wall_ns=lambda: int(clock.wall() * 1e9),
            on_beat=self.monitor.on_beat,
        )

    def _process_started(self, name: str, hb: HeartbeatConfig, _pid: int) -> None:
        self.monitor.process_started(name, build_detector(hb))

    def _signal(self, signal: Signal) -> None:
        service = self._services.get(signal.service)
        if service is not None:
            service.signal(signal)

    def _held(self, reason: str) -> None:
        self._recorder.submit([DetectionHeld(at=self._clock.now(), reason=reason)])

    def _restarted(self, service: str, old: str, new: str, last_seq: int) -> None:
        self._recorder.submit(
            [
                HeartbeatRestartSeen(
                    at=self._clock.now(),
                    service=service,
                    old_instance=old[:8],
                    new_instance=new[:8],
                    last_seq=last_seq,
                )
            ]
        )

    async def start(self) -> None:
        try:
            await self.receiver.start()
        except (DetectionError, OSError) as exc:
            msg = f"cannot receive heartbeats (heartbeat.listen): {exc}"
            raise LifecycleError(msg) from exc

    async def stop(self) -> None:
        self.monitor.close()
        await self.receiver.stop()
