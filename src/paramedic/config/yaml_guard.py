"""Limits that make loading a hostile YAML file cheap and its refusal located.

YAML aliases let a few hundred bytes describe a tree of billions of nodes (the "billion
laughs"), and an alias inside its own anchor (`a: &a [*a]`) a tree that never ends; a
config file needs neither. The composed node graph is checked before anything walks it as
a tree: no alias may refer to a node that contains it, the tree it stands for (every alias
counted in full) has at most `MAX_NODES` nodes and `MAX_DEPTH` levels. The check visits each
distinct node once, so it costs what the file's size costs. Values that PyYAML cannot build
(`2001-13-45`, an integer of 5,000 digits) become a located YAML error, not a traceback.
"""

from __future__ import annotations

from typing import Any, Final

import yaml

__all__ = [
    "MAX_CONFIG_BYTES",
    "MAX_DEPTH",
    "MAX_NODES",
    "Refused",
    "check_graph",
    "decode_utf8",
    "guarded_loader",
]

MAX_CONFIG_BYTES: Final = 8 * 1024 * 1024
MAX_NODES: Final = 250_000
MAX_DEPTH: Final = 64


class Refused(Exception):
    """Why the file is refused, and where (1-based line and column)."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column

    @classmethod
    def at(cls, message: str, mark: Any) -> Refused:
        """At a YAML mark (0-based)."""
        return cls(message, mark.line + 1, mark.column + 1)


def decode_utf8(data: bytes) -> str:
    """The text of a config file, or Refused naming the offending byte and its place."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        column = exc.start - (before.rfind(b"\n") + 1) + 1
        msg = (
            f"not UTF-8 text: byte 0x{data[exc.start]:02x} at offset {exc.start};"
            " save the file as UTF-8"
        )
        raise Refused(msg, line, column) from None


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def check_graph(root: yaml.Node) -> None:
    """Refused if the document is recursive, too big once expanded, or too deep.

    Iterative post-order over the distinct nodes, memoising each node's expanded size and
    height, so a shared (aliased) node is walked once however often it is referenced.
    """
    size: dict[int, int] = {}
    height: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, list[yaml.Node]]] = [(root, _children(root))]
    on_path.add(id(root))
    while stack:
        node, pending = stack[-1]
        if pending:
            child = pending.pop()
            key = id(child)
            if key in on_path:
                msg = (
                    "recursive alias: this node contains an alias of itself; a config "
                    "cannot refer to itself (use a plain copy)"
                )
                raise Refused.at(msg, child.start_mark)
            if key not in size:
                on_path.add(key)
                stack.append((child, _children(child)))
            continue
        stack.pop()
        on_path.discard(id(node))
        kids = _children(node)
        total = 1 + sum(size[id(k)] for k in kids)
        levels = 1 + max((height[id(k)] for k in kids), default=0)
        if total > MAX_NODES:
            msg = (
                f"this value expands to more than {MAX_NODES:,} YAML nodes (aliases counted "
                "in full); a config that big is refused"
            )
            raise Refused.at(msg, node.start_mark)
        if levels > MAX_DEPTH:
            msg = f"nested more than {MAX_DEPTH} levels deep (aliases counted in full)"
            raise Refused.at(msg, node.start_mark)
        size[id(node)] = total
        height[id(node)] = levels


def guarded_loader(base: type[yaml.SafeLoader]) -> type[yaml.SafeLoader]:
    """`base` whose constructor reports a value it cannot build as a located YAML error."""

    class Guarded(base):  # type: ignore[valid-type,misc]
        def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
            try:
                return super().construct_object(node, deep)
            except yaml.YAMLError:
                raise
            except (ValueError, OverflowError, TypeError) as exc:
                msg = f"cannot read this value: {exc}"
                raise yaml.constructor.ConstructorError(None, None, msg, node.start_mark) from None

    return Guarded
