"""What the message says: Jinja2 templates per channel kind, user overrides first.

A template from the config directory renders in Jinja's sandbox, so it cannot reach into
Python internals; the shipped templates are paramedic's own code and render without it (the
sandbox's check on every attribute doubles the cost of a page on the alert hot path; see
docs/benchmarks.md). StrictUndefined turns a typo (`alert.runbok`) into an error at render
time in tests instead of a silently blank line in a 3 a.m. page. Autoescape is off because
these are text, Slack mrkdwn and plain email, not HTML.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, TemplateError
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
        if override_dir is not None and not override_dir.is_dir():
            msg = f"template_dir {override_dir} is not a directory"
            raise AlertingError(msg)
        self._zone = ZoneInfo(tz)
        self._utc = tz == "UTC"
        options: dict[str, Any] = {
            "auto_reload": False,  # read once; a stat per render adds up in a burst
            "autoescape": False,
            "undefined": StrictUndefined,
            "keep_trailing_newline": False,
            "trim_blocks": False,
        }
        loader = FileSystemLoader(str(DEFAULT_TEMPLATE_DIR))
        self._shipped = Environment(loader=loader, **options)  # noqa: S701 (text, not HTML)
        # The shipped templates use no globals (range, dict, lipsum...): without them Jinja
        # builds each render's context from an empty map, which halves a short template's cost.
        self._shipped.globals.clear()
        self._user = SandboxedEnvironment(
            loader=FileSystemLoader(str(override_dir or DEFAULT_TEMPLATE_DIR)), **options
        )
        for env in (self._shipped, self._user):
            env.filters["wall"] = self._wall
        self._override_dir = override_dir
        self._templates: dict[str, Template] = {}
        self._last_wall: tuple[int, str] = (-1, "")

    def _template(self, kind: str) -> Template:
        template = self._templates.get(kind)
        if template is None:
            name = f"{kind}.j2"
            overridden = self._override_dir is not None and (self._override_dir / name).is_file()
            template = (self._user if overridden else self._shipped).get_template(name)
            self._templates[kind] = template
        return template

    def _wall(self, seconds: float) -> str:
        # A burst of alerts shares its second: format each second once.
        whole = int(seconds)
        if whole == self._last_wall[0]:
            return self._last_wall[1]
        if self._utc:  # the common case, at a third of the cost of a zone conversion
            text = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(whole))
        else:
            when = datetime.fromtimestamp(whole, UTC).astimezone(self._zone)
            text = when.strftime("%Y-%m-%d %H:%M:%S %Z")
        self._last_wall = (whole, text)
        return text

    def render(self, alert: Alert, kind: TemplateKind = "text", **extra: Any) -> str:
        try:
            text = self._template(kind).render(alert=alert, **extra)
        except TemplateError as exc:
            msg = f"template {kind}.j2 failed for alert {alert.id}: {exc}"
            raise AlertingError(msg) from exc
        if kind == "pagerduty_summary" and len(text) > _PD_SUMMARY_MAX:
            text = text[: _PD_SUMMARY_MAX - 3] + "..."
        return text.strip("\n") + ("\n" if kind in ("text", "email_body", "slack") else "")
