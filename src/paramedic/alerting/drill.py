"""Drill pages: labelled DRILL, and only for the people the drill names.

A drill's alerts carry the labels `drill=<id>` and `drill_to=<contact,contact>` (the runtime
adds them to the service's labels while the drill runs). Dispatch asks this module, in one
place, what such an alert looks like and who hears it: its title starts with `[DRILL]`, the
route tree is replaced by the named contacts (all their channels), and a ladder rung pages
only those of its contacts the drill names, so an executive level is never woken by a game
day unless the drill asked for them. An alert without the label passes unchanged.

Every other page of an incident (its escalations, its approval request, its progress notices
and all-clear) takes its drill labels from the incident's failure alert (`incident_labels`):
a page of a drill's incident is the drill's even once the drill is over or paramedic has
restarted, and a page of an incident that was not a drill's never becomes one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

from paramedic.alerting.model import Alert
from paramedic.alerting.routing import Delivery
from paramedic.config.alerting import ContactConfig

__all__ = [
    "DRILL_LABEL",
    "DRILL_LABELS",
    "DRILL_TO_LABEL",
    "drill_alert",
    "drill_contacts",
    "drill_deliveries",
    "drill_labels",
    "incident_labels",
]

DRILL_LABEL = "drill"
DRILL_TO_LABEL = "drill_to"
DRILL_LABELS = (DRILL_LABEL, DRILL_TO_LABEL)
TITLE_MARK = "[DRILL] "


def drill_contacts(alert: Alert) -> tuple[str, ...] | None:
    """The contacts a drill's alert may page; None when the alert is not a drill's."""
    if DRILL_LABEL not in alert.labels:
        return None
    named = alert.labels.get(DRILL_TO_LABEL, "")
    return tuple(c for c in named.split(",") if c)


def incident_labels(service: Mapping[str, str], failure: Alert | None) -> dict[str, str]:
    """The labels of a page of an incident: the service's, with the drill's labels those of
    the incident's failure alert when it has one (a drill's or not, as it was raised)."""
    labels = dict(service)
    if failure is None:
        return labels
    for key in (DRILL_LABEL, DRILL_TO_LABEL):
        labels.pop(key, None)
        if key in failure.labels:
            labels[key] = failure.labels[key]
    return labels


def drill_labels(alerts: Iterable[Alert]) -> dict[str, str]:
    """The drill labels a summary of `alerts` carries: those of their drill when every one
    of them is that drill's (a summary is a drill's page only then), else none."""
    found = {tuple(a.labels.get(k, "") for k in DRILL_LABELS) for a in alerts}
    if len(found) != 1:
        return {}
    [values] = found
    return dict(zip(DRILL_LABELS, values, strict=True)) if values[0] else {}


def drill_alert(alert: Alert) -> Alert:
    """The alert as a drill's page reads: `[DRILL]` first in its title."""
    if DRILL_LABEL not in alert.labels or alert.title.startswith(TITLE_MARK):
        return alert
    return dataclasses.replace(alert, title=TITLE_MARK + alert.title)


def drill_deliveries(
    alert: Alert, routed: list[Delivery], contacts: Mapping[str, ContactConfig]
) -> list[Delivery]:
    """Who hears the alert: the route's deliveries, or, for a drill, only the contacts it
    names (those the config knows), on all their channels."""
    named = drill_contacts(alert)
    if named is None:
        return routed
    return [Delivery(c, tuple(contacts[c].channels)) for c in named if c in contacts]


def drill_rung(alert: Alert, rung: tuple[str, ...]) -> tuple[str, ...]:
    """A ladder rung's contacts, less those a drill did not name."""
    named = drill_contacts(alert)
    if named is None:
        return rung
    return tuple(c for c in rung if c in named)
