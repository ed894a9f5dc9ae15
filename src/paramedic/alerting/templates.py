"""What the message says: Jinja2 templates per channel kind, user overrides first.

The sandboxed environment means a template from the config directory cannot reach into
Python internals; StrictUndefined turns a typo (`alert.runbok`) into an error at render
time in tests instead of a silently blank line in a 3 a.m. page. Autoescape is off because
these are text, Slack mrkdwn and plain email, not HTML.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from jinja2 import ChoiceLoader, FileSystemLoader, StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from paramedic.alerting.model import Alert
from paramedic.core.errors import AlertingError

__all__ = ["DEFAULT_TEMPLATE_DIR", "AlertRenderer", "TemplateKind"]

TemplateKind = Literal["text", "slack", "pagerduty_summary", "email_subject", "email_body"]
DEFAULT_TEMPLATE_DIR = Path(__file__).with_name("default_templates")
_PD_SUMMARY_MAX = 1024  # PagerDuty Events v2 rejects longer summaries


class AlertRenderer:
    """Renders an alert for one channel kind; `override_dir` templates win by file name."""

    def __init__(self, override_dir: Path | None = None, *, tz: str = "UTC") -> None:
        loaders = [FileSystemLoader(str(DEFAULT_TEMPLATE_DIR))]
        if override_dir is not None:
            if not override_dir.is_dir():
                msg = f"template_dir {override_dir} is not a directory"
                raise AlertingError(msg)
            loaders.insert(0, FileSystemLoader(str(override_dir)))
        self._zone = ZoneInfo(tz)
        self._env = SandboxedEnvironment(
            loader=ChoiceLoader(loaders),
            auto_reload=False,  # templates are read once; a stat per render adds up in a burst
            autoescape=False,
            undefined=StrictUndefined,
            keep_trailing_newline=False,
            trim_blocks=False,
        )
        self._env.filters["wall"] = self._wall

    def _wall(self, seconds: float) -> str:
        when = datetime.fromtimestamp(seconds, UTC).astimezone(self._zone)
        return when.strftime("%Y-%m-%d %H:%M:%S %Z")

    def render(self, alert: Alert, kind: TemplateKind = "text", **extra: Any) -> str:
        try:
            text = self._env.get_template(f"{kind}.j2").render(alert=alert, **extra)
        except TemplateError as exc:
            msg = f"template {kind}.j2 failed for alert {alert.id}: {exc}"
            raise AlertingError(msg) from exc
        if kind == "pagerduty_summary" and len(text) > _PD_SUMMARY_MAX:
            text = text[: _PD_SUMMARY_MAX - 3] + "..."
        return text.strip("\n") + ("\n" if kind in ("text", "email_body", "slack") else "")
