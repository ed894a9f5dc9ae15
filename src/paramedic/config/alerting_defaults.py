"""The policy an empty `alerting: {}` pages with, as plain data (validated by `alerting.py`).

One reconciliation is made here, and docs/alerting.md states it: the seed's 2.2 lists
everyone who hears about a P0, its 2.5 says WHEN each is called. Paging all of 2.2 at once
(what 2.4's sketch does) would wake the CTO for an incident the on-call acknowledges in 30 s,
and contradicts 2.5 and the README ("backup at 2 min, team lead at 5, CTO at 10"). So at
t=0 only the on-call is paged; the team (Slack) and compliance (email) are informed at once
because they are channels, not pagers; everyone else is a rung of the 2.5 ladder. The risk
manager, in 2.2 but not in 2.5, is called with the team lead at +5 min: 2.1's "escalate to
management within 5 minutes". 7.2's outage ladder (15/30/60/120 min) runs beside it and
fires whether or not someone acknowledged.

docs/alerting.md carries these tables, and tests/unit/test_alerting_doc.py checks the doc
against this module, so the two cannot drift apart.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "default_backup_channels",
    "default_contacts",
    "default_policies",
    "default_routes",
    "default_severity_rules",
    "default_updates",
]


def default_contacts() -> dict[str, dict[str, Any]]:
    raw = {  # seed 2.2 and 7.3
        "oncall": ("On-call engineer", ["pagerduty"]),
        "backup-oncall": ("Backup on-call engineer", ["pagerduty"]),
        "team-lead": ("Team lead", ["phone", "slack"]),
        "engineering-manager": ("Engineering manager", ["pagerduty", "phone"]),
        "cto": ("CTO", ["phone", "sms"]),
        "ceo": ("CEO", ["phone", "sms"]),
        "risk-manager": ("Risk manager", ["phone"]),
        "compliance": ("Compliance officer", ["email"]),
        "team": ("All team members", ["slack"]),
        "jira": ("Jira ticket", ["jira"]),
        "log": ("Alert log", ["log"]),
        "weekly-summary": ("Weekly summary email", ["weekly-summary"]),
    }
    return {k: {"display": d, "channels": c} for k, (d, c) in raw.items()}


def default_routes() -> dict[str, Any]:
    """Who hears at once (seed 2.2 with 2.5's timing); each child is named by its severity,
    so a user route of the same name replaces it."""
    return {
        "routes": [
            {
                "name": "P0",
                "matchers": ["severity=P0"],
                "receivers": ["oncall:pagerduty", "team:slack", "compliance:email"],
            },
            {
                "name": "P1",
                "matchers": ["severity=P1"],
                "receivers": ["oncall:pagerduty", "team-lead:slack", "team:slack"],
            },
            {"name": "P2", "matchers": ["severity=P2"], "receivers": ["team:slack", "jira"]},
            {"name": "P3", "matchers": ["severity=P3"], "receivers": ["log", "weekly-summary"]},
        ]
    }


def _step(name: str, minutes: float, contacts: list[str], level: int, **kw: object) -> object:
    return {"name": name, "after": f"{minutes:g}m", "contacts": contacts, "level": level, **kw}


_OUTAGE = [  # seed 7.2: escalation by outage length, whether or not someone acknowledged
    _step("outage-team-lead", 15, ["team-lead"], 2, until="resolve"),
    _step("outage-manager", 30, ["engineering-manager"], 3, until="resolve"),
    _step("outage-cto", 60, ["cto"], 4, until="resolve"),
    _step("outage-ceo", 120, ["ceo"], 5, until="resolve"),
]


def default_policies() -> dict[str, Any]:
    """Seed 2.5 (until acknowledged) and 7.2 (until resolved); steps merge by name."""
    return {
        "P0": {
            "ack_bound": "20m",
            "steps": [
                _step("oncall", 0, ["oncall"], 1),
                _step("backup-oncall", 2, ["backup-oncall"], 1),
                _step("team-lead", 5, ["team-lead", "risk-manager"], 2, channels=["phone"]),
                _step("cto", 10, ["cto"], 4, channels=["phone"]),
                _step("ceo", 15, ["ceo"], 5, channels=["phone"]),
                *_OUTAGE,
            ],
        },
        "P1": {
            "ack_bound": "30m",
            "steps": [
                _step("oncall", 0, ["oncall"], 1),
                _step("backup-oncall", 5, ["backup-oncall"], 1),
                _step("team-lead", 15, ["team-lead"], 2),
            ],
        },
        "P2": {
            "steps": [
                _step("team", 0, ["team"], 1, channels=["slack"]),
                _step("team-lead", 60, ["team-lead"], 2, until="resolve"),
            ]
        },
        "P3": {"steps": [_step("log", 0, ["log"], 1)]},
    }


def default_backup_channels() -> dict[str, str]:
    return {"pagerduty": "phone", "slack": "email", "phone": "sms"}


def default_severity_rules() -> list[dict[str, Any]]:
    """Seed 2.1 and 7.1; first match wins, after any rules of the user's."""
    return [
        {
            "severity": "P0",
            "needs_human": True,
            "reason": "automatic recovery gave up; a human must act",
        },
        {"severity": "P0", "kinds": ["data_corruption"], "reason": "data corruption detected"},
        {
            "severity": "P0",
            "kinds": ["recovery_failed", "repeated_recovery_failures"],
            "reason": "automated recovery failed",
        },
        {
            "severity": "P0",
            "kinds": ["validation_failed"],
            "reason": "critical validation failed after recovery",
        },
        {
            "severity": "P0",
            "kinds": ["crash", "hang"],
            "tiers": [1],
            "reason": "all trading halted",
        },
        {
            "severity": "P0",
            "kinds": ["network_partition"],
            "min_upstream_down": 2,
            "reason": "multiple exchange connections lost",
        },
        {
            "severity": "P1",
            "kinds": ["approval_timeout"],
            "reason": "no human answered the approval request",
        },
        {
            "severity": "P1",
            "kinds": ["rto_exceeded"],
            "reason": "recovery is taking longer than its RTO",
        },
        {
            "severity": "P1",
            "kinds": ["position_discrepancy"],
            "reason": "position discrepancy detected",
        },
        {
            "severity": "P1",
            "kinds": ["network_partition"],
            "reason": "single exchange connection lost",
        },
        {"severity": "P1", "kinds": ["disk_full"], "reason": "disk full: writes will fail"},
        {"severity": "P1", "kinds": ["db_connection_loss"], "reason": "database connection lost"},
        {"severity": "P1", "kinds": ["crash", "hang"], "reason": "major functionality impaired"},
        {"severity": "P1", "states": ["recovering"], "reason": "recovery in progress"},
        {
            "severity": "P2",
            "kinds": ["degradation"],
            "reason": "degraded: running but not fit to trade",
        },
        {"severity": "P2", "kinds": ["memory_leak"], "reason": "memory usage climbing"},
        {"severity": "P3", "reason": "informational"},
    ]


def default_updates() -> dict[str, list[str]]:
    """Seed 5.4's progress pushes and the all-clear: the team's channel and the on-call, for
    P0-P2 incidents (P3 ones get none). Channels that open incidents (PagerDuty, Alertmanager,
    Jira) are skipped for these notices: give the on-call a push channel (ntfy, Pushover)."""
    both = ["team:slack", "oncall"]
    return {"P0": list(both), "P1": list(both), "P2": list(both)}
