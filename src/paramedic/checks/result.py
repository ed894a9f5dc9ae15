"""The one result of every check: a probe attempt, a recovery step, a validation check.

Each ends in one plain sentence an on-call engineer can act on (`GET http://127.0.0.1:8081/health
-> 503 in 4.1 ms`, `connect 127.0.0.1:7001 refused`), because that sentence is what reaches
the timeline, the page and the dashboard. The fields beyond `ok` and `sentence` are set by the
few who know them: a recovery step whether its outcome is known, a validation check its name
and weight, a probe the `/health` body it read.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import KW_ONLY, dataclass, field

from paramedic.checks.health import HealthReport

__all__ = ["CheckAction", "CheckResult"]


@dataclass(frozen=True, slots=True)
class CheckResult:
    """How one check ended.

    `duration` is measured with `time.perf_counter` (real I/O, which an injected fake clock
    must not distort) and left out of equality: two results are equal when they say the same.
    `outcome_known=False`: an action cut short (a step's timeout, a request sent but never
    answered) may have half-happened, and a human must look. `critical=False`: a validation
    check whose failure is a warning, not a verdict.
    """

    ok: bool
    sentence: str
    duration: float = field(default=0.0, compare=False)
    outcome_known: bool = True
    _: KW_ONLY
    name: str = ""
    critical: bool = True
    health: HealthReport | None = None
    health_error: str | None = None

    @property
    def blocking(self) -> bool:
        """A failure that counts: a critical check that did not pass."""
        return not self.ok and self.critical


CheckAction = Callable[[], Awaitable[CheckResult]]
"""One attempt, ready to run: what a probe runner or a validator calls (a fake in tests)."""
