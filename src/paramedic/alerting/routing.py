"""Who hears: an Alertmanager-like route tree from alert labels to contacts and channels.

The semantics are Alertmanager's because on-call people already read those trees: a node
matches when all its matchers hold; its children are tried in order and the first match wins
unless that child says `continue`; a node whose children all missed uses its own receivers.
A receiver is a contact (all its channels) or `contact:channel` (just that one), so the seed's
"team lead by phone for P0, by Slack for P1" is two receivers of the same person.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from paramedic.config.alerting import ContactConfig, RouteConfig
from paramedic.core.errors import AlertingError
from paramedic.core.labels import Matcher, matches_all

__all__ = ["Delivery", "Route", "Router"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Route:
    matchers: tuple[Matcher, ...] = ()
    receivers: tuple[str, ...] = ()
    continue_: bool = False
    routes: tuple[Route, ...] = ()

    @classmethod
    def from_config(cls, route: RouteConfig) -> Route:
        return cls(
            matchers=tuple(Matcher.parse(m) for m in route.matchers),
            receivers=tuple(route.receivers),
            continue_=route.continue_,
            routes=tuple(cls.from_config(r) for r in route.routes),
        )


@dataclass(frozen=True, slots=True)
class Delivery:
    """One contact and the channels to reach them on, in config order."""

    receiver: str
    channels: tuple[str, ...]


class Router:
    """Resolve alert labels to deliveries; a contact reached twice is merged, not paged twice."""

    def __init__(self, root: Route, contacts: Mapping[str, Iterable[str]]) -> None:
        self._root = root
        self._contacts = {name: tuple(channels) for name, channels in contacts.items()}

    @classmethod
    def from_config(cls, root: RouteConfig, contacts: Mapping[str, ContactConfig]) -> Router:
        return cls(Route.from_config(root), {k: c.channels for k, c in contacts.items()})

    def receivers(self, labels: Mapping[str, str]) -> list[str]:
        """The receiver strings the tree selects, in tree order, without duplicates."""
        found: list[str] = []
        self._walk(self._root, labels, found)
        return list(dict.fromkeys(found))

    def route(self, labels: Mapping[str, str]) -> list[Delivery]:
        merged: dict[str, list[str]] = {}
        for receiver in self.receivers(labels):
            contact, _, channel = receiver.partition(":")
            known = self._contacts.get(contact)
            if known is None:
                msg = f"route names unknown contact {contact!r}"
                raise AlertingError(msg)
            wanted = (channel,) if channel else known
            chans = merged.setdefault(contact, [])
            chans.extend(c for c in wanted if c not in chans)
        return [Delivery(name, tuple(chans)) for name, chans in merged.items()]

    def _walk(self, node: Route, labels: Mapping[str, str], out: list[str]) -> bool:
        if not matches_all(node.matchers, labels):
            return False
        child_matched = False
        for child in node.routes:
            if self._walk(child, labels, out):
                child_matched = True
                if not child.continue_:
                    break
        if not child_matched:
            out.extend(node.receivers)
        return True
