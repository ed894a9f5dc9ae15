"""`${VAR}` and `${VAR:-default}` expansion on the parsed YAML tree.

Expansion happens after parsing, in string values only, so an environment variable can
never inject YAML structure. `$$` stands for a literal `$`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["ExpansionError", "expand"]

_REF = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{[^}]*\}?")

Path = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class ExpansionError:
    """A reference that could not be expanded, and where it was."""

    path: Path
    message: str


def expand(tree: Any, env: Mapping[str, str]) -> tuple[Any, list[ExpansionError]]:
    """A copy of `tree` with references replaced, and every failure found (not just the first)."""
    errors: list[ExpansionError] = []
    return _walk(tree, env, (), errors), errors


def _walk(node: Any, env: Mapping[str, str], path: Path, errors: list[ExpansionError]) -> Any:
    if isinstance(node, dict):
        return {k: _walk(v, env, (*path, str(k)), errors) for k, v in node.items()}
    if isinstance(node, list):
        return [_walk(v, env, (*path, i), errors) for i, v in enumerate(node)]
    if isinstance(node, str) and "$" in node:
        return _expand_string(node, env, path, errors)
    return node


def _expand_string(
    text: str, env: Mapping[str, str], path: Path, errors: list[ExpansionError]
) -> str:
    def replace(match: re.Match[str]) -> str:
        if match[0] == "$$":
            return "$"
        name, default = match[1], match[2]
        if name is None:
            errors.append(
                ExpansionError(
                    path,
                    f"malformed reference {match[0]!r}; write ${{NAME}} or ${{NAME:-default}}"
                    " (and $$ for a literal $)",
                )
            )
            return match[0]
        if name in env:
            return env[name]
        if default is not None:
            return default
        errors.append(
            ExpansionError(
                path,
                f"environment variable {name} is not set; export it, or give a default"
                f" with ${{{name}:-value}}",
            )
        )
        return match[0]

    return _REF.sub(replace, text)
