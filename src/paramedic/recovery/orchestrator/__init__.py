"""One service's recovery in stages: decide, run with fallback, validate and resume, rebuild.

`RecoveryOrchestrator` is the face the runtime and the API call; each stage is a module of
its own, handed the shared `Ledger` and narrow interfaces to the stages it calls, never the
orchestrator itself. `decode` reads stored rows back into events for any reader of the
timeline.
"""

from __future__ import annotations

from paramedic.recovery.orchestrator.face import RecoveryOrchestrator
from paramedic.recovery.orchestrator.ledger import VALIDATION_SOURCE

__all__ = ["VALIDATION_SOURCE", "RecoveryOrchestrator"]
