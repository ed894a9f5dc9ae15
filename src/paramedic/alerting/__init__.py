"""Alerting: who hears about an incident, through which channel, and proof that they did.

The public face is `AlertingService` (built from `AlertingConfig`, started, run, answered)
and `SilenceAdmin` (silences set at run time). They are loaded on first use: the config
package still imports `alerting.model`, and loading the whole pipeline here would import
the config back while it is half loaded.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from paramedic.alerting.service import AlertingService, ServiceFacts
    from paramedic.alerting.silence_admin import SilenceAdmin

__all__ = ["AlertingService", "ServiceFacts", "SilenceAdmin"]

_HOMES = {
    "AlertingService": "paramedic.alerting.service",
    "ServiceFacts": "paramedic.alerting.service",
    "SilenceAdmin": "paramedic.alerting.silence_admin",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    return getattr(importlib.import_module(home), name)
