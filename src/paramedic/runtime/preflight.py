"""Preflight: the "before recovery" checklist, checked for real against this paramedic.

Five items, each a verdict and one sentence that says what is wrong and where:

- `monitoring`: every service has detectors, and each expected one has reported.
- `alerts`: every severity routes to a channel that can deliver: P0 and P1 to a configured
  channel that reaches a person (the log does not), P2 and P3 to any existing channel; with
  `send_test`, a channel whose test page was not delivered fails the item (named, with why),
  even where the severity still reaches another channel.
- `dashboards`: `dashboard_url` answers (and the API's `/`, where something is served there).
- `on_call`: each on-call contact (the first rung of the P0 and P1 ladders) got a test page
  delivered within `reach_days` on a channel that reaches a person (one written only to the
  log reached nobody); `send_test` sends one first, through the test-page path.
- `escalation`: each tier-1 service had a successful drill within `drill_days`.

Checks run here, in the server, because most need its live state; the last verdicts are
the metric `paramedic_preflight_ok{item}`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import aiohttp

from paramedic.alerting.routing import Router
from paramedic.alerting.service import AlertingService
from paramedic.alerting.views import iso
from paramedic.config.model import Config
from paramedic.core.clock import Clock
from paramedic.core.severity import SEVERITIES, Severity
from paramedic.runtime.services import ServiceRuntime
from paramedic.store.outbox import NotificationRow
from paramedic.store.protocol import Store

__all__ = ["ITEMS", "Item", "Preflight"]

ITEMS = ("monitoring", "alerts", "dashboards", "on_call", "escalation")
DAY = 86400.0
PERSON: tuple[Severity, ...] = ("P0", "P1")  # must reach a person, not only the log
SETTLE_POLL_S = 0.1  # how often a sent test page's outcome is read back
FETCH_TIMEOUT_S = 3.0


@dataclass(frozen=True, slots=True)
class Item:
    name: str
    ok: bool
    sentence: str


class Preflight:
    """Runs the checklist; `ok` holds the last verdict per item (the metric)."""

    def __init__(
        self,
        config: Config,
        *,
        clock: Clock,
        store: Store,
        alerting: AlertingService,
        services: Mapping[str, ServiceRuntime],
        last_drill: Mapping[str, float],
        session: Callable[[], aiohttp.ClientSession | None],
        api_url: Callable[[], str],
    ) -> None:
        self._config = config
        self._clock = clock
        self._store = store
        self._alerting = alerting
        self._services = services
        self._last_drill = last_drill
        self._session = session
        self._api_url = api_url
        self._router = Router.from_config(config.alerting.routes, config.alerting.contacts)
        self.ok: dict[str, bool] = {}

    async def run(
        self,
        *,
        by: str,
        send_test: bool = False,
        reach_days: float = 31.0,
        drill_days: float = 90.0,
        settle_s: float = 5.0,
    ) -> list[Item]:
        failed: dict[str, str] = {}  # channel -> why its test page failed
        if send_test:
            failed = await self._send_tests(by, settle_s)
        items = [
            self._monitoring(),
            self._alerts(failed),
            await self._dashboards(),
            await self._on_call(reach_days),
            self._escalation(drill_days),
        ]
        self.ok = {i.name: i.ok for i in items}
        return items

    @staticmethod
    def as_json(items: list[Item]) -> dict[str, Any]:
        return {"ok": all(i.ok for i in items), "items": [asdict(i) for i in items]}

    # -- the items --------------------------------------------------------------------------

    def _monitoring(self) -> Item:
        problems = []
        for name, service in self._services.items():
            expected = service.health.expected
            if not expected:
                problems.append(f"{name}: no detector watches it")
            elif pending := service.health.pending:
                problems.append(f"{name}: {', '.join(pending)} not reporting yet")
        if problems:
            return Item("monitoring", False, "; ".join(problems))
        detail = ", ".join(
            f"{n} ({', '.join(sorted(s.health.expected))})" for n, s in self._services.items()
        )
        return Item("monitoring", True, f"every expected detector is reporting: {detail}")

    def _alerts(self, failed: Mapping[str, str]) -> Item:
        configured = set(self._config.channels)
        problems = []
        reached = []
        for severity in SEVERITIES:
            channels = [c for d in self._router.route({"severity": severity}) for c in d.channels]
            usable = [c for c in channels if c in configured or c == "log"]
            if severity in PERSON:
                usable = [c for c in usable if c != "log"]
            working = [c for c in usable if c not in failed]
            if working:
                reached.append(f"{severity} -> {', '.join(dict.fromkeys(working))}")
                continue
            if not usable:
                problems.append(
                    f"{severity} routes to no configured channel that reaches a person"
                    f" (routed: {', '.join(dict.fromkeys(channels)) or 'nothing'})"
                    if severity in PERSON
                    else f"{severity} routes to no existing channel"
                )
            else:
                why = "; ".join(f"{c}: {failed[c]}" for c in dict.fromkeys(usable))
                problems.append(f"{severity}: every channel's test page failed ({why})")
        for channel, why in failed.items():  # misconfigured even where another reaches
            problems.append(f"channel {channel} did not deliver its test page: {why}")
        if problems:
            return Item("alerts", False, "; ".join(dict.fromkeys(problems)))
        return Item("alerts", True, "; ".join(reached))

    async def _dashboards(self) -> Item:
        targets = []
        if self._config.dashboard_url:
            targets.append((self._config.dashboard_url, False))
        targets.append((self._api_url() + "/", True))  # the console, if one is served there
        answered = []
        problems = []
        # At once, each bounded: the whole checklist answers within the CLI's patience.
        results = await asyncio.gather(*(self._fetch(url) for url, _ in targets))
        for (url, optional), (status, error) in zip(targets, results, strict=True):
            if status is not None and status < 400:
                answered.append(f"{url} answered {status}")
            elif optional and status == 404:
                continue  # nothing is served at / in this paramedic
            else:
                problems.append(f"{url} {error or f'answered {status}'}")
        if problems:
            return Item("dashboards", False, "; ".join(problems))
        if not answered:
            msg = "no dashboard to check: set dashboard_url to the dashboard people open"
            return Item("dashboards", False, msg)
        return Item("dashboards", True, "; ".join(answered))

    async def _on_call(self, reach_days: float) -> Item:
        contacts = self._on_call_contacts()
        if not contacts:
            return Item("on_call", False, "no on-call contact: no P0 or P1 ladder has a rung")
        since = self._clock.wall() - reach_days * DAY
        last = await self._last_delivered_tests(contacts, since)
        missing = [c for c in contacts if c not in last]
        if missing:
            within = _days(reach_days)
            return Item(
                "on_call",
                False,
                f"no test page delivered to {', '.join(missing)} within {within}"
                " (paramedic preflight --send-test, or paramedic test-alert)",
            )
        parts = [f"{c} at {_utc(last[c])}" for c in contacts]
        return Item("on_call", True, "last test page delivered: " + "; ".join(parts))

    def _escalation(self, drill_days: float) -> Item:
        tier1 = [n for n, s in self._config.services.items() if s.tier == 1]
        if not tier1:
            return Item("escalation", True, "no tier-1 service to drill")
        since = self._clock.wall() - drill_days * DAY
        stale = [n for n in tier1 if self._last_drill.get(n, 0.0) < since]
        if stale:
            within = _days(drill_days)
            return Item(
                "escalation",
                False,
                f"no successful drill of {', '.join(stale)} within {within}"
                " (paramedic drill SERVICE --kind crash)",
            )
        parts = [f"{n} at {_utc(self._last_drill[n])}" for n in tier1]
        return Item("escalation", True, "last successful drill: " + "; ".join(parts))

    # -- helpers ----------------------------------------------------------------------------

    def _on_call_contacts(self) -> list[str]:
        """The people the first rung of the P0 and P1 ladders pages."""
        found: list[str] = []
        for severity in PERSON:
            policy = self._config.alerting.escalation.policies.get(severity)
            if policy is None:
                continue
            first = min(step.after for step in policy.steps)
            for step in policy.steps:
                if step.after == first:
                    found += step.contacts
        return list(dict.fromkeys(found))

    async def _send_tests(self, by: str, settle_s: float) -> dict[str, str]:
        """Test pages through the routes of P1 (and P0 if it reaches an on-call contact P1
        does not); returns the channels whose page was not delivered, with why."""
        sent: list[str] = []
        covered: set[str] = set()
        order: tuple[Severity, ...] = ("P1", "P0")
        for severity in order:
            receivers = {d.receiver for d in self._router.route({"severity": severity})}
            if sent and set(self._on_call_contacts()) <= covered:
                break
            covered |= receivers
            alert = await self._alerting.test_page(severity, channel=None, by=by)
            sent.append(alert.id)
        failed: dict[str, str] = {}
        deadline = self._clock.monotonic() + settle_s
        for alert_id in sent:
            rows = await self._store.notifications_for(alert_id)
            while any(_unsettled(r) for r in rows) and self._clock.monotonic() < deadline:
                await self._clock.sleep(SETTLE_POLL_S)
                rows = await self._store.notifications_for(alert_id)
            for row in rows:
                if row.status != "delivered":
                    failed.setdefault(row.channel, row.last_detail or row.status)
        return failed

    async def _last_delivered_tests(self, contacts: list[str], since: float) -> dict[str, float]:
        """Per contact, when its newest delivered test page (since `since`) was sent: test
        pages routed to it (`paramedic test-alert`, `preflight --send-test`) and scheduled
        test pages that reached one of its channels (`test_page.delivered`)."""
        last: dict[str, float] = {}

        def saw(contact: str, wall: float) -> None:
            if contact in contacts and wall >= since:
                last[contact] = max(last.get(contact, 0.0), wall)

        kinds = ("alert.raised", "test_page.delivered")
        after = 0
        while True:
            rows = await self._store.timeline(
                after_seq=after, limit=1000, service="paramedic", kinds=kinds
            )
            for row in rows:
                if row.wall < since:
                    continue
                if row.kind == "test_page.delivered":
                    if self._reaches_person(row.payload["channel"]):
                        saw(row.payload["contact"], row.wall)
                    continue
                alert_id = row.payload["alert_id"]
                if not alert_id.startswith("test:") or not set(row.payload["receivers"]) & set(
                    contacts
                ):
                    continue
                for n in await self._store.notifications_for(alert_id):
                    if n.status == "delivered" and self._reaches_person(n.channel):
                        saw(n.payload.get("labels", {}).get("receiver", ""), row.wall)
            if len(rows) < 1000:
                return last
            after = rows[-1].seq

    def _reaches_person(self, channel: str) -> bool:
        """Not the log (nor a channel of kind log): a page written there reached nobody, and
        a page to a channel that is not configured is written there."""
        configured = self._config.channels.get(channel)
        return channel != "log" and (configured is None or configured.kind != "log")

    async def _fetch(self, url: str) -> tuple[int | None, str]:
        session = self._session()
        own = session is None
        if session is None:
            session = aiohttp.ClientSession()
        try:
            timeout = aiohttp.ClientTimeout(total=FETCH_TIMEOUT_S)
            async with session.get(url, timeout=timeout, allow_redirects=False) as response:
                return response.status, ""
        except (aiohttp.ClientError, TimeoutError) as exc:
            return None, f"did not answer: {exc or type(exc).__name__}"
        finally:
            if own:
                await session.close()


def _unsettled(row: NotificationRow) -> bool:
    """Not delivered and not yet tried: a first failed attempt is enough to call the channel
    failing (P0 and P1 pages are retried without end)."""
    return row.status == "pending" and row.attempts == 0


def _days(days: float) -> str:
    return f"{days:g} day" if days == 1 else f"{days:g} days"


def _utc(wall: float) -> str:
    return iso(wall) or ""
