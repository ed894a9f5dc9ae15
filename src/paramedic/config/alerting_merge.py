"""Merge the alerting defaults with the user's entries, and check what the user wrote.

Two kinds of outcome, kept apart on purpose:

- a `problem` is a mistake in what the USER wrote (a route naming a contact that exists
  nowhere, a step asking a contact for a channel it lacks): one line each, `path: message`,
  the path pointing into the user's file, all of them reported in one run;
- a `note` is a DEFAULT adapted to the user's entries (the default P0 route pages
  `team:slack`, the user's `team` has only email): never an error, since the user did not
  write it; `paramedic config check` prints it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from paramedic.config import alerting_defaults as defaults
from paramedic.config.alerting import (
    REPLACEABLE,
    ContactConfig,
    EscalationConfig,
    EscalationPolicyConfig,
    EscalationStepConfig,
    RouteConfig,
    SeverityRuleConfig,
    default_contact_models,
    default_policy_models,
    default_route_model,
    default_rule_models,
)
from paramedic.core.severity import Severity

if TYPE_CHECKING:
    from paramedic.config.alerting import AlertingConfig

__all__ = ["Merged", "merge"]


@dataclass
class Merged:
    contacts: dict[str, ContactConfig]
    severity_rules: list[SeverityRuleConfig]
    routes: RouteConfig
    escalation: EscalationConfig
    user_contacts: frozenset[str]
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def merge(cfg: AlertingConfig) -> Merged:
    """The effective policy of `cfg` (validated, not yet merged). What the user wrote is told
    apart from the field defaults by `model_fields_set`: a key never written is the default."""
    replace = set(REPLACEABLE) if cfg.replace_defaults is True else set(cfg.replace_defaults or ())
    given = cfg.model_fields_set
    esc = cfg.escalation
    esc_given = esc.model_fields_set
    problems: list[str] = []
    notes: list[str] = []

    user_contacts = cfg.contacts if "contacts" in given else {}
    contacts = {} if "contacts" in replace else dict(default_contact_models())
    contacts.update(user_contacts)

    user_rules = cfg.severity_rules if "severity_rules" in given else []
    rules = list(user_rules)
    if "severity_rules" not in replace:
        rules += default_rule_models()

    user_root = cfg.routes if "routes" in given else None
    if user_root is not None:
        _check_route(user_root, "routes", contacts, problems)
    routes = _merge_routes(user_root, "routes" in replace, contacts, notes)

    user_policies = esc.policies if "policies" in esc_given else {}
    for sev, policy in user_policies.items():
        for i, step in enumerate(policy.steps):
            _check_step(step, f"escalation.policies.{sev}.steps.{i}", contacts, problems)
    policies = _merge_policies(user_policies, "escalation.policies" in replace, contacts, notes)

    backup = {} if "escalation.backup_channels" in replace else defaults.default_backup_channels()
    backup.update(esc.backup_channels if "backup_channels" in esc_given else {})

    return Merged(
        contacts=contacts,
        severity_rules=rules,
        routes=routes,
        escalation=esc.model_copy(update={"policies": policies, "backup_channels": backup}),
        user_contacts=frozenset(user_contacts),
        problems=problems,
        notes=notes,
    )


def _receiver_problem(receiver: str, contacts: Mapping[str, ContactConfig]) -> str | None:
    contact, _, channel = receiver.partition(":")
    known = contacts.get(contact)
    if known is None:
        return f"unknown contact {contact!r}; contacts are {', '.join(sorted(contacts))}"
    if channel and channel not in known.channels:
        return (
            f"contact {contact!r} has no channel {channel!r}"
            f" (its channels: {', '.join(known.channels)})"
        )
    return None


def _check_route(
    route: RouteConfig, where: str, contacts: Mapping[str, ContactConfig], out: list[str]
) -> None:
    for i, receiver in enumerate(route.receivers):
        if (problem := _receiver_problem(receiver, contacts)) is not None:
            out.append(f"{where}.receivers.{i}: {problem}")
    for i, child in enumerate(route.routes):
        _check_route(child, f"{where}.routes.{i}", contacts, out)


def _check_step(
    step: EscalationStepConfig, where: str, contacts: Mapping[str, ContactConfig], out: list[str]
) -> None:
    for j, contact in enumerate(step.contacts):
        if ":" in contact:
            problem: str | None = "a step names contacts; pick their channels with `channels:`"
        else:
            problem = _receiver_problem(contact, contacts)
        if problem is not None:
            out.append(f"{where}.contacts.{j}: {problem}")
    for k, channel in enumerate(step.channels):
        lacking = [
            c for c in step.contacts if c in contacts and channel not in contacts[c].channels
        ]
        if lacking:
            out.append(
                f"{where}.channels.{k}: contact {lacking[0]!r} has no channel {channel!r}"
                f" (its channels: {', '.join(contacts[lacking[0]].channels)})"
            )


def _merge_routes(
    user: RouteConfig | None, replace: bool, contacts: Mapping[str, ContactConfig], notes: list[str]
) -> RouteConfig:
    if replace:
        return user or RouteConfig()
    base = default_route_model()
    kept = [_adapt_route(child, contacts, notes) for child in base.routes]
    if user is None:
        return base.model_copy(update={"routes": kept})
    # The user's tree goes first and always lets the defaults apply too (`continue`), so an
    # added route adds receivers and never takes the default pages away; a top-level user
    # route named like a default one replaces it.
    named = {child.name for child in user.routes if child.name}
    defaults_left = [child for child in kept if child.name not in named]
    return RouteConfig(routes=[user.model_copy(update={"continue_": True}), *defaults_left])


def _adapt_route(
    route: RouteConfig, contacts: Mapping[str, ContactConfig], notes: list[str]
) -> RouteConfig:
    receivers: list[str] = []
    for receiver in route.receivers:
        contact, _, channel = receiver.partition(":")
        known = contacts.get(contact)
        if known is None:
            notes.append(
                f"default route {route.name} skips contact {contact!r}: your contacts do not"
                " define it"
            )
        elif channel and channel not in known.channels:
            notes.append(
                f"default route {route.name} reaches {contact!r} on its own channels"
                f" ({', '.join(known.channels)}), not {channel!r}"
            )
            receivers.append(contact)
        else:
            receivers.append(receiver)
    return route.model_copy(update={"receivers": receivers})


def _merge_policies(
    user: Mapping[Severity, EscalationPolicyConfig],
    replace: bool,
    contacts: Mapping[str, ContactConfig],
    notes: list[str],
) -> dict[Severity, EscalationPolicyConfig]:
    if replace:
        return dict(user)
    out: dict[Severity, EscalationPolicyConfig] = {}
    base = default_policy_models()
    for sev in [*base, *(s for s in user if s not in base)]:
        mine = user.get(sev)
        theirs = base.get(sev)
        overridden = {s.name for s in mine.steps} if mine is not None else set()
        steps = (
            []
            if theirs is None
            else [
                adapted
                for step in theirs.steps
                if step.name not in overridden
                and (adapted := _adapt_step(sev, step, contacts, notes)) is not None
            ]
        )
        if mine is not None:
            steps = [*mine.steps, *steps]
        if not steps:
            notes.append(f"no escalation for {sev}: none of its default contacts is defined")
            continue
        bound = theirs.ack_bound if theirs is not None else None
        if mine is not None and ("ack_bound" in mine.model_fields_set or theirs is None):
            bound = mine.ack_bound
        # Parts already validated (a Duration refuses the bare seconds it was turned into).
        out[sev] = EscalationPolicyConfig.model_construct(steps=steps, ack_bound=bound)
    return out


def _adapt_step(
    sev: str, step: EscalationStepConfig, contacts: Mapping[str, ContactConfig], notes: list[str]
) -> EscalationStepConfig | None:
    where = f"default {sev} step {step.name!r}"
    present = [c for c in step.contacts if c in contacts]
    for missing in (c for c in step.contacts if c not in contacts):
        notes.append(f"{where} skips contact {missing!r}: your contacts do not define it")
    if not present:
        return None
    channels = step.channels
    lacking = [c for c in present if any(ch not in contacts[c].channels for ch in channels)]
    if lacking:
        notes.append(
            f"{where} reaches {', '.join(map(repr, lacking))} on their own channels,"
            f" not {', '.join(channels)}"
        )
        channels = []
    return step.model_copy(update={"contacts": present, "channels": channels})
