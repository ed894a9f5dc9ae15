"""Label matchers in Alertmanager's syntax, the language every alerting rule is written in.

`a=b`, `a!=b`, `a=~re`, `a!~re`, regexes anchored, a missing label reads as "": that is what
on-call people already know. Config parses them (a bad matcher is a located config error),
alerting and the API evaluate them, so they live in core.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["MatchOp", "Matcher", "matches_all"]

MatchOp = Literal["=", "!=", "=~", "!~"]

_MATCHER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$")


@dataclass(frozen=True, slots=True)
class Matcher:
    """One label condition; regexes are anchored so `venue=~X` cannot match `XY` by accident."""

    label: str
    op: MatchOp
    value: str
    _regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.op in ("=~", "!~"):
            try:
                object.__setattr__(self, "_regex", re.compile(self.value))
            except re.error as exc:
                msg = f"bad regex in matcher {self}: {exc}"
                raise ValueError(msg) from None

    @classmethod
    def parse(cls, text: str) -> Matcher:
        """`service=engine-1`, `kind!=crash`, `venue=~"NYSE|CME"`; ValueError says what's wrong."""
        found = _MATCHER.match(text)
        if found is None:
            msg = (
                f"{text!r} is not a matcher;"
                " write label=value, label!=value, label=~regex or label!~regex"
            )
            raise ValueError(msg)
        label, op, value = found.groups()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        return cls(label, op, value)  # type: ignore[arg-type]

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.label, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        assert self._regex is not None
        hit = self._regex.fullmatch(actual) is not None
        return hit if self.op == "=~" else not hit

    def __str__(self) -> str:
        return f"{self.label}{self.op}{self.value}"


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    """True when every matcher holds; no matchers means "everything", as in Alertmanager."""
    return all(m.matches(labels) for m in matchers)
