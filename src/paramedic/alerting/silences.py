"""Muting without losing: silences, inhibition and maintenance windows.

A muted alert is still recorded (the caller stores it with the `MuteDecision` reason); only
the notification is withheld. A resolve is never muted: whoever saw the alert elsewhere (the
dashboard, a colleague) must learn it is over. Silences and maintenance windows are calendar
things set by people ("until 18:00 New York time"), so they are checked against wall time,
passed in; nothing here sets a timer, so a wall-clock step cannot fire anything.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from paramedic.alerting.model import Alert
from paramedic.config.alerting import (
    InhibitRuleConfig,
    MaintenanceWindowConfig,
    SilenceConfig,
)
from paramedic.core.labels import Matcher, matches_all
from paramedic.core.severity import severity_rank

__all__ = ["InhibitRule", "MaintenanceWindow", "MuteDecision", "Muter", "Silence"]

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _parse(matchers: Iterable[str]) -> tuple[Matcher, ...]:
    return tuple(Matcher.parse(m) for m in matchers)


@dataclass(frozen=True, slots=True, kw_only=True)
class Silence:
    """`ends_wall=None` with `until_resolved` lasts until a matched alert resolves."""

    id: str
    matchers: tuple[Matcher, ...]
    author: str
    comment: str
    starts_wall: float = 0.0
    ends_wall: float | None = None
    until_resolved: bool = False

    @classmethod
    def from_config(cls, cfg: SilenceConfig, index: int) -> Silence:
        return cls(
            id=cfg.id or f"static-{index}",
            matchers=_parse(cfg.matchers),
            author=cfg.author,
            comment=cfg.comment,
            starts_wall=cfg.starts.timestamp() if cfg.starts else 0.0,
            ends_wall=cfg.ends.timestamp() if cfg.ends else None,
            until_resolved=cfg.until_resolved,
        )

    def active(self, now_wall: float) -> bool:
        return self.starts_wall <= now_wall and (
            self.ends_wall is None or now_wall < self.ends_wall
        )


@dataclass(frozen=True, slots=True)
class InhibitRule:
    """A firing source alert mutes matching targets that share the `equal` labels' values.
    `note` says why in the held reason (a dependency's rule names the dependency)."""

    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...] = ()
    note: str = ""
    as_loud: bool = False  # only a source at least as severe as the target holds it

    @classmethod
    def from_config(cls, cfg: InhibitRuleConfig) -> InhibitRule:
        return cls(_parse(cfg.source), _parse(cfg.target), tuple(cfg.equal))

    @classmethod
    def dependency(cls, service: str, depends_on: str) -> InhibitRule:
        """A service's `depends_on`: while the dependency has an alert open, the dependent's
        alerts are recorded and held, since the dependency's own page says what is wrong.
        Only by a dependency's alert at least as severe: a P3 warning on a venue must not
        keep an engine's P0 from anyone."""
        return cls(
            (Matcher("service", "=", depends_on),),
            (Matcher("service", "=", service),),
            note=f"{service} depends on {depends_on}, which is down",
            as_loud=True,
        )

    def inhibits(self, target: Mapping[str, str], source: Mapping[str, str]) -> bool:
        return (
            matches_all(self.target, target)
            and matches_all(self.source, source)
            and self.shared(target) == self.shared(source)
        )

    def shared(self, labels: Mapping[str, str]) -> tuple[str, ...]:
        """The values a source and a target must have in common (missing counts as "")."""
        return tuple(labels.get(k, "") for k in self.equal)


@dataclass(frozen=True, slots=True, kw_only=True)
class MaintenanceWindow:
    """Weekly (days + local start + duration, in `tz`) or once (start/end, wall seconds)."""

    name: str
    matchers: tuple[Matcher, ...] = ()
    tz: str = "UTC"
    days: frozenset[int] = frozenset()
    start: time | None = None
    duration: float = 0.0
    once: tuple[float, float] | None = None

    @classmethod
    def from_config(cls, cfg: MaintenanceWindowConfig) -> MaintenanceWindow:
        base = cls(name=cfg.name, matchers=_parse(cfg.matchers), tz=cfg.timezone)
        if cfg.once is not None:
            return cls(
                name=base.name,
                matchers=base.matchers,
                tz=base.tz,
                once=(cfg.once.start.timestamp(), cfg.once.end.timestamp()),
            )
        assert cfg.weekly is not None
        return cls(
            name=base.name,
            matchers=base.matchers,
            tz=base.tz,
            days=frozenset(_DAYS.index(d) for d in cfg.weekly.days),
            start=cfg.weekly.start,
            duration=cfg.weekly.duration,
        )

    def active(self, now_wall: float) -> bool:
        if self.once is not None:
            return self.once[0] <= now_wall < self.once[1]
        if self.start is None:
            return False
        zone = ZoneInfo(self.tz)
        today = datetime.fromtimestamp(now_wall, zone).date()
        # a window may have started on an earlier day (Saturday 22:00 for 30 h)
        for back in range(math.ceil(self.duration / 86400) + 1):
            day = today - timedelta(days=back)
            if day.weekday() in self.days:
                begins = datetime.combine(day, self.start, tzinfo=zone).timestamp()
                if begins <= now_wall < begins + self.duration:
                    return True
        return False


@dataclass(frozen=True, slots=True)
class MuteDecision:
    muted: bool
    reason: str
    by: str | None = None


class Muter:
    """Answers "should this alert's notification be withheld, and by what?"."""

    def __init__(
        self,
        silences: Iterable[Silence] = (),
        inhibit_rules: Iterable[InhibitRule] = (),
        windows: Iterable[MaintenanceWindow] = (),
    ) -> None:
        self._silences = {s.id: s for s in silences}
        self._rules = tuple(inhibit_rules)
        self._windows = tuple(windows)
        # Per rule, the open alerts that can inhibit, by the values of its `equal` labels:
        # a check is one lookup per rule, not a scan of every open alert.
        self._sources: tuple[dict[tuple[str, ...], dict[str, Alert]], ...] = tuple(
            {} for _ in self._rules
        )

    @classmethod
    def from_config(
        cls,
        silences: Iterable[SilenceConfig],
        inhibit_rules: Iterable[InhibitRuleConfig],
        windows: Iterable[MaintenanceWindowConfig],
        depends_on: Mapping[str, Iterable[str]] | None = None,
    ) -> Muter:
        rules = [InhibitRule.from_config(r) for r in inhibit_rules]
        for service, dependencies in (depends_on or {}).items():
            rules += [InhibitRule.dependency(service, d) for d in dependencies]
        return cls(
            (Silence.from_config(s, i) for i, s in enumerate(silences)),
            rules,
            (MaintenanceWindow.from_config(w) for w in windows),
        )

    def add_silence(self, silence: Silence) -> None:
        self._silences[silence.id] = silence

    def expire_silence(self, silence_id: str) -> bool:
        return self._silences.pop(silence_id, None) is not None

    def drop_ended(self, now_wall: float) -> list[str]:
        """Forget the silences whose end has passed; returns their ids."""
        ended = [
            s.id
            for s in self._silences.values()
            if s.ends_wall is not None and s.ends_wall <= now_wall
        ]
        for sid in ended:
            del self._silences[sid]
        return ended

    @property
    def silences(self) -> tuple[Silence, ...]:
        return tuple(self._silences.values())

    def opened(self, alert: Alert) -> None:
        """An alert is open: it may inhibit others from now until it resolves."""
        if not self._rules or alert.state == "resolved":
            return
        labels = alert.all_labels()
        for rule, sources in zip(self._rules, self._sources, strict=True):
            if matches_all(rule.source, labels):
                sources.setdefault(rule.shared(labels), {})[alert.id] = alert

    def check(self, alert: Alert, now_wall: float) -> MuteDecision:
        """Withhold the alert's notification? Inhibiting sources are the `opened` alerts."""
        if alert.state == "resolved":
            return MuteDecision(False, "a resolve is always sent, even for a muted alert")
        labels = alert.all_labels()
        for s in self._silences.values():
            if s.active(now_wall) and matches_all(s.matchers, labels):
                reason = f"silenced by silence {s.id} ({s.author}: {s.comment})"
                return MuteDecision(True, reason, s.id)
        for rule, sources in zip(self._rules, self._sources, strict=True):
            if not matches_all(rule.target, labels):
                continue
            for source in sources.get(rule.shared(labels), {}).values():
                if source.id == alert.id:
                    continue
                if rule.as_loud and severity_rank(source.severity) > severity_rank(alert.severity):
                    continue
                if rule.note:
                    reason = f"{rule.note}: {source.title} ({source.id})"
                    return MuteDecision(True, reason, source.id)
                pairs = zip(rule.equal, rule.shared(labels), strict=True)
                shared = ", ".join(f"{k}={v}" for k, v in pairs)
                reason = f"inhibited by {source.title} ({source.id})"
                return MuteDecision(True, reason + (f" on {shared}" if shared else ""), source.id)
        for w in self._windows:
            if w.active(now_wall) and matches_all(w.matchers, labels):
                return MuteDecision(True, f"maintenance window {w.name}", w.name)
        return MuteDecision(False, "not muted")

    def resolved(self, alert: Alert) -> list[str]:
        """The alert stops inhibiting; end the until-resolved silences that matched it.
        Returns the ids of the silences ended."""
        labels = alert.all_labels() | {"state": "firing"}
        for rule, sources in zip(self._rules, self._sources, strict=True):
            key = rule.shared(labels)
            by_id = sources.get(key)
            if by_id is not None and by_id.pop(alert.id, None) is not None and not by_id:
                del sources[key]
        ended = [
            s.id
            for s in self._silences.values()
            if s.until_resolved and s.ends_wall is None and matches_all(s.matchers, labels)
        ]
        for sid in ended:
            del self._silences[sid]
        return ended
