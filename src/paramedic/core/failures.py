"""The failure kinds of the seed's section 1.4: the vocabulary every room shares."""

from __future__ import annotations

from typing import Literal, get_args

__all__ = ["FAILURE_KINDS", "FailureKind"]

FailureKind = Literal[
    "crash",
    "hang",
    "degradation",
    "network_partition",
    "memory_leak",
    "disk_full",
    "db_connection_loss",
]
FAILURE_KINDS: tuple[FailureKind, ...] = get_args(FailureKind)
