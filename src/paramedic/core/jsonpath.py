"""Dotted paths into JSON documents (`positions.AAPL`, `orders.0.id`), and how two differ.

Probes, recovery steps and validation checks all compare what an endpoint answered with
what was expected; they share this one reading of a path and one wording of a mismatch.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["MISSING", "first_difference", "is_number", "json_mismatch", "lookup", "show"]

MISSING: Any = object()
"""What `lookup` returns for a path that is not there (None is a legitimate JSON value)."""


def lookup(doc: Any, path: str) -> Any:
    """The value at a dotted path (`positions.AAPL`, `orders.0.id`), or MISSING."""
    for part in path.split("."):
        if isinstance(doc, dict) and part in doc:
            doc = doc[part]
        elif isinstance(doc, list) and part.isdigit() and int(part) < len(doc):
            doc = doc[int(part)]
        else:
            return MISSING
    return doc


def json_mismatch(doc: Any, expect: Mapping[str, Any]) -> str | None:
    """None if every dotted path holds its expected value, else the first difference."""
    for path, want in expect.items():
        got = lookup(doc, path)
        if got is MISSING:
            return f"{path} is missing, expected {json.dumps(want)}"
        # bool is an int in Python: `true` must not satisfy an expected `1`.
        if got != want or isinstance(got, bool) != isinstance(want, bool):
            return f"{path} is {json.dumps(got)}, expected {json.dumps(want)}"
    return None


def first_difference(
    left: Any, right: Any, tolerance: float = 0.0, path: str = ""
) -> tuple[str, Any, Any] | None:
    """The first (path, left, right) where two JSON documents differ; numbers within tolerance."""
    if isinstance(left, dict) and isinstance(right, dict):
        for key in sorted(set(left) | set(right), key=str):
            sub = f"{path}.{key}" if path else str(key)
            found = first_difference(
                left.get(key, MISSING), right.get(key, MISSING), tolerance, sub
            )
            if found is not None:
                return found
        return None
    if isinstance(left, list) and isinstance(right, list):
        for i in range(max(len(left), len(right))):
            a = left[i] if i < len(left) else MISSING
            b = right[i] if i < len(right) else MISSING
            found = first_difference(a, b, tolerance, f"{path}.{i}" if path else str(i))
            if found is not None:
                return found
        return None
    if is_number(left) and is_number(right):
        return None if abs(left - right) <= tolerance else (path, left, right)
    if left == right and type(left) is type(right):
        return None
    return (path, left, right)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def show(value: Any) -> str:
    return "missing" if value is MISSING else json.dumps(value)
