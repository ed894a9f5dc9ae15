"""The torture suite: short versions run in `make test`, long ones in `make torture`.

`PARAMEDIC_TORTURE=long` (set by `make torture`) selects the long runs whose figures are in
docs/reliability.md.
"""

from __future__ import annotations

import os


def long_run() -> bool:
    """True under `make torture`."""
    return os.environ.get("PARAMEDIC_TORTURE") == "long"


def examples_per_operation() -> int:
    """Generated requests per API operation and phase for the fuzzers."""
    return 1000 if long_run() else 10
