"""Who a configuration reaches, computed by the pipeline's own parts before anything runs.

`paramedic config check` and `run` hand `review` to the config loader (config imports only
core, so it cannot call it itself), which refuses a file under which a tier-1 crash would page
no human and warns about every default receiver whose channel is not configured and would
fall back to the log. The answer comes from the same severity rules, route tree and ladders
the running service uses (`SeverityPolicy`, `Router`, `EscalationPolicy`), fed the alert a
crash would raise, so the check cannot disagree with what happens at 3 a.m.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from paramedic.alerting.ladder import EscalationPolicy
from paramedic.alerting.model import alert_from_failure
from paramedic.alerting.routing import Router
from paramedic.alerting.severity import SeverityFacts, SeverityPolicy
from paramedic.config.alerting import RouteConfig
from paramedic.config.model import Config
from paramedic.core.clock import Instant
from paramedic.core.failure_events import FailureDetected
from paramedic.core.text import duration

__all__ = ["Page", "Reach", "Review", "crash_reach", "review"]

Loc = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Page:
    """One notification a ladder or the route sends: when, to whom, on which channel."""

    after: float
    contact: str
    channel: str
    by: str  # "route" or the ladder step's name


@dataclass(frozen=True, slots=True)
class Reach:
    severity: str
    reason: str
    pages: tuple[Page, ...]


@dataclass
class Review:
    errors: list[tuple[Loc, str]] = field(default_factory=list)
    warnings: list[tuple[Loc, str]] = field(default_factory=list)


def crash_reach(config: Config, service: str) -> Reach:
    """Everything a crash of `service` pages if nobody answers: the route at t=0, then
    every rung, in time order (the route's and the first rung's pages are merged by the
    service, as `AlertingService._escalate` does)."""
    svc = config.services[service]
    alerting = config.alerting
    labels = dict(svc.labels)
    decision = SeverityPolicy.from_config(alerting.severity_rules).decide(
        SeverityFacts(kind="crash", service=service, tier=svc.tier, labels=labels)
    )
    event = FailureDetected(
        at=Instant(mono=0.0, wall=0.0),
        service=service,
        incident="config-check",
        failure_kind="crash",
        reason="config check",
        source="process",
    )
    alert = alert_from_failure(event, decision.severity, decision.reason, labels=labels)
    router = Router.from_config(alerting.routes, alerting.contacts)
    pages: list[Page] = []
    routed: set[str] = set()
    for delivery in router.route(alert.all_labels()):
        routed.add(delivery.receiver)
        pages += [Page(0.0, delivery.receiver, ch, "route") for ch in delivery.channels]
    policy_cfg = alerting.escalation.policies.get(decision.severity)
    if policy_cfg is not None:
        for step in EscalationPolicy.from_config(policy_cfg).steps:
            for contact in step.contacts:
                if step.after == 0 and contact in routed:
                    continue
                channels = step.channels or tuple(alerting.contacts[contact].channels)
                pages += [Page(step.after, contact, ch, step.name) for ch in channels]
    pages.sort(key=lambda p: p.after)
    return Reach(decision.severity, decision.reason, tuple(pages))


def review(config: Config) -> Review:
    """Errors (the file is refused) and warnings (it runs, but a page would go to the log)."""
    out = Review()
    channels = config.channels
    alerting = config.alerting
    pagers = {name for name, ch in channels.items() if ch.kind != "log"}
    for contact in sorted(alerting.user_contacts):
        for i, name in enumerate(alerting.contacts[contact].channels):
            if name != "log" and name not in channels:
                known = ", ".join(sorted(channels)) or "none"
                out.errors.append(
                    (
                        ("alerting", "contacts", contact, "channels", i),
                        f"unknown channel {name!r}: declare it under `channels:` (declared:"
                        f" {known}), or use `log`",
                    )
                )
    for i, name in enumerate(alerting.store_failure_channels):
        if name != "log" and name not in channels:
            known = ", ".join(sorted(channels)) or "none"
            out.errors.append(
                (
                    ("alerting", "store_failure_channels", i),
                    f"unknown channel {name!r}: declare it under `channels:` (declared: {known})",
                )
            )
    for note in alerting.notes:
        out.warnings.append((("alerting",), note))
    tier1 = [name for name, svc in config.services.items() if svc.tier == 1]
    if not pagers:
        # A log-only setup (a demo, a first try): one line rather than one per receiver.
        crash = f", and a crash of {', '.join(tier1)} pages no one" if tier1 else ""
        out.warnings.append(
            (
                ("channels",),
                "no channel other than the log is configured: every notification goes to"
                f" the log{crash}",
            )
        )
        return out
    for (contact, name), where in _unconfigured(config).items():
        out.warnings.append(
            (
                ("alerting",),
                f"contact {contact!r} is reached on channel {name!r} ({', '.join(where)}),"
                " which is not configured: those notifications go to the log",
            )
        )
    for failing, backup in alerting.escalation.backup_channels.items():
        if failing in channels and backup != "log" and backup not in channels:
            out.warnings.append(
                (
                    ("alerting",),
                    f"the backup of channel {failing!r} is {backup!r}, which is not configured:"
                    f" when {failing!r} keeps failing, the retry goes to the log",
                )
            )
    if out.errors:
        return out  # reach is computed on a consistent config only
    if (warning := _approvers_unreached(config, pagers)) is not None:
        out.warnings.append((("recovery", "approval", "approvers"), warning))
    for name in tier1:
        reach = crash_reach(config, name)
        human = [p for p in reach.pages if p.channel in pagers]
        if not human:
            sent = ", ".join(sorted({f"{p.contact} on {p.channel}" for p in reach.pages}))
            out.errors.append(
                (
                    ("services", name, "tier"),
                    f"a crash of tier-1 service {name!r} would page no one: it is"
                    f" {reach.reason}; it goes to {sent or 'nobody'}, and none of that is a"
                    f" configured channel other than the log ({', '.join(sorted(pagers))})."
                    " Your severity rules come before the defaults, and routes add to them:"
                    " check alerting.severity_rules, alerting.routes and replace_defaults",
                )
            )
        elif human[0].after > 0:
            first = human[0]
            out.warnings.append(
                (
                    ("services", name, "tier"),
                    f"a crash of tier-1 service {name!r} pages no one at once: the first"
                    f" page is {first.contact} on {first.channel} after {duration(first.after)}",
                )
            )
    return out


def _approvers_unreached(config: Config, pagers: set[str]) -> str | None:
    """A sentence when a plan's approval request would reach nobody on a configured channel
    other than the log (the approvers' channels all fall back to it)."""
    approvers = config.recovery.approval.approvers
    if not approvers or not any(s.recovery for s in config.services.values()):
        return None  # no approvers: the page follows the routes, checked above
    contacts = config.alerting.contacts
    reached = [
        channel
        for receiver in approvers
        for channel in (
            [receiver.partition(":")[2]]
            if ":" in receiver
            else contacts[receiver.partition(":")[0]].channels
        )
    ]
    if any(c in pagers for c in reached):
        return None
    return (
        f"an approval request would page no one: the approvers ({', '.join(approvers)}) are"
        f" reached on {', '.join(dict.fromkeys(reached))}, and none of that is a configured"
        " channel other than the log"
    )


def _unconfigured(config: Config) -> dict[tuple[str, str], list[str]]:
    """(contact, channel) pairs the effective routes and ladders use on a channel that is
    not configured (and so would fall back to the log), with where each is used."""
    alerting = config.alerting
    found: dict[tuple[str, str], list[str]] = defaultdict(list)

    def use(contact: str, channels: Sequence[str], where: str) -> None:
        if contact in alerting.user_contacts:
            return  # the user's own contacts: an unknown channel there is an error instead
        known = alerting.contacts.get(contact)
        for name in channels or (known.channels if known else ()):
            used = found[(contact, name)] if name not in ("log", *config.channels) else None
            if used is not None and where not in used:
                used.append(where)

    def walk(route: RouteConfig, where: str) -> None:
        where = f"{route.name} route" if route.name else where
        for receiver in route.receivers:
            contact, _, channel = receiver.partition(":")
            use(contact, [channel] if channel else [], where)
        for child in route.routes:
            walk(child, where)

    walk(alerting.routes, "route")
    for sev, policy in alerting.escalation.policies.items():
        for step in policy.steps:
            for contact in step.contacts:
                use(contact, step.channels, f"{sev} ladder")
    return dict(sorted(found.items()))
