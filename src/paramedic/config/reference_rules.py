"""The prose of the configuration reference: cross-field rules, key notes, examples.

Each model validator is a rule a reader otherwise meets only as an error message; here each
gets one sentence, keyed `Model._validator`. A unit test walks every model under `Config` and
fails when a validator has no sentence (or a sentence names a validator that is gone), and
loads every example below as part of a real config, so none of this can drift silently.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

__all__ = ["DERIVED_DEFAULTS", "EXAMPLES", "INTRO", "KEY_NOTES", "RULES", "rule_for", "rules_for"]

INTRO = """
paramedic reads one YAML file (`paramedic run --config FILE`, checked without running by
`paramedic config check FILE`). Every section refuses unknown keys: a misspelt key is an
error with its line and column, never a silently ignored line.

Conventions used below:

- **duration**: a number with a unit, `us`, `ms`, `s`, `m`, `h` or `d` (`100ms`, `5s`, `2m`,
  `1h30m`). A bare number is refused: `timeout: 300` could mean milliseconds or seconds.
- **size**: bytes with a unit, `512MiB`, `2GiB` (1024-based) or `5GB` (1000-based).
- **secret references**: a secret is never written in the file. A key `X` that holds one is
  given as `X_env` (the name of an environment variable) or `X_file` (a file holding only the
  secret, relative to the config file's folder), exactly one of the two.
- **environment**: `${NAME}` and `${NAME:-default}` in a value are replaced from the
  environment when the file is read.
- Relative paths are relative to the folder of the config file.
- `paramedic config schema` prints the JSON Schema of this file, for editors that validate
  YAML (e.g. `# yaml-language-server: $schema=paramedic.schema.json` at the top of the file).
"""

_ONE_OF = "Exactly one of {choices} is given: the {what}."
_REFERENCE_RULE = (
    "`{ref}` is a secret: it is never written inline (`{ref}:` is refused); give `{ref}_env`"
    " or `{ref}_file`, exactly one."
)

RULES: dict[str, tuple[str, ...]] = {
    "Config._references": (
        "`services.<name>.depends_on` names other services of this file; a service cannot"
        " depend on itself.",
        "A service with a `heartbeat` section needs the top-level `heartbeat` section"
        " (where paramedic listens).",
        "A service's heartbeats need a key: its own `heartbeat.key_env`/`key_file`, or the"
        " top-level `heartbeat.key_env`/`key_file` (heartbeats are always authenticated).",
        "`recovery.approval.approvers`, when written, names contacts of"
        " `alerting.contacts` (`contact` or `contact:channel`, the channel one of the"
        " contact's); left at its default, the defaults the contacts lack are dropped.",
    ),
    "ApiConfig._unique_names": ("Token names are unique.",),
    "ApiToken._load": (
        "The token is given by `token_env` or `token_file` (exactly one) and is at least 16"
        " characters long.",
    ),
    "HeartbeatListener._load": (
        "The shared key, when given, comes from `key_env` or `key_file` (exactly one); its"
        " format is in docs/heartbeat-protocol.md.",
    ),
    "DeadMansSwitchConfig._timeout_below_interval": ("`timeout` is less than `interval`.",),
    "ChannelConfig._exactly_one": (
        "A channel names exactly one kind: webhook, slack, pagerduty, alertmanager, jira,"
        " email, apprise or log.",
    ),
    "AppriseConfig._is_url": ("The secret URL is an Apprise URL (`scheme://...`).",),
    "AlertingConfig._merge_defaults": (
        "Your contacts, routes and severity rules are added to the defaults (see"
        " docs/alerting.md); `replace_defaults` lists the parts you replace instead.",
        "Every receiver of a route and every contact of an escalation step is a contact of"
        " `contacts`, and a `contact:channel` receiver names one of that contact's channels.",
    ),
    "AlertingConfig._merge_updates": (
        "Every receiver of `updates` is a contact of `contacts` (or `contact:channel` naming one"
        " of its channels), listed under P0, P1 or P2: P3 incidents get no progress pushes. A"
        " severity you do not list keeps its default list.",
    ),
    "SilenceConfig._has_end": (
        "A silence has `ends` or `until_resolved: true` (silences never last forever);"
        " `starts` and `ends` carry a time zone.",
    ),
    "MaintenanceWindowConfig._one_kind": ("Exactly one of `weekly` or `once` is given.",),
    "ServiceConfig._owned_or_watched": (
        "A service is either started by paramedic (`process`) or watched by pid (`watch`),"
        " not both.",
    ),
    "WatchConfig._one": ("Exactly one of `pid_file` or `pid` is given.",),
    "HeartbeatConfig._timeout_above_interval": (
        "`timeout`, when set, is greater than `interval` (unset, it is 3 intervals).",
    ),
    "HeartbeatConfig._load": (
        "A per-service key, when given, comes from `key_env` or `key_file` (exactly one);"
        " it overrides the top-level key for this service.",
    ),
    "ProbeConfig._one_action": (
        "Exactly one of `http`, `tcp` or `command` is given; `name` defaults to `<role>-<action>`.",
    ),
    "ProbeConfig._timeout": (
        "`timeout` does not exceed `period` (a probe still running when the next is due"
        " would stretch detection time).",
    ),
    "ProbeConfig._success_threshold": (
        "`success_threshold` is 1 for liveness and startup probes.",
    ),
    "ProbeConfig._startup_grace": ("A startup probe has no `startup_grace`.",),
    "ResourcesConfig._consistent": (
        "`memory.window` holds at least `memory.min_samples` samples at `sample_every`.",
        "Disk paths and metric names are unique.",
    ),
    "MetricThreshold._one_bound": ("Exactly one of `above` or `below` is given.",),
    "Methods._automated_have_steps": (
        "`hot`, `warm` and `cold`, when given, have at least one step.",
    ),
    "MethodConfig._unique": ("Step names are unique within a method.",),
    "StepConfig._timeout": ("`timeout` is greater than 0.",),
    "MetricCheck._bound": ("At least one of `below` or `above` is given.",),
    "ResumptionConfig._shape": (
        "Phase names are unique; every phase but the last has a `duration`.",
    ),
    "ApprovalRequire._manual_always": (
        "`approval.require.market_open` and `market_closed` must include `manual`: a manual"
        " recovery always needs a human's approval.",
    ),
    "RestartConfig._max": ("`max_backoff` is at least `initial_backoff`.",),
    "GroupingConfig._never_hold_pages": (
        "`severities` lists only P2 and/or P3: P0 and P1 are never held back for grouping.",
    ),
    "EscalationPolicyConfig._unique": ("Step names are unique within a policy.",),
    "SessionConfig._no_repeats": ("A day is listed once.",),
    "CommandCheck._cwd_from_config_folder": (
        "The program runs in `cwd` (relative to the config file's folder), by default in"
        " that folder itself.",
    ),
}

EXTRA_RULES: dict[str, tuple[str, ...]] = {
    "ServiceConfig": (
        "`probes`: names are unique per service; at most one startup probe; a startup probe"
        " and a `startup_grace` on another probe are not given together.",
    ),
}

DERIVED_DEFAULTS: dict[str, str] = {
    "ProbeConfig.name": "`<role>-<action>`",
}
"""Keys a model requires but a before-validator fills in: optional in the file."""

KEY_NOTES: dict[str, str] = {
    "HeartbeatListener.key_id": "The key id a datagram names (docs/heartbeat-protocol.md).",
    "HeartbeatConfig.key_id": "The key id this service's datagrams name.",
    "StepConfig.command": (
        "The facts of the decision are in its environment and a JSON file (docs/recovery.md)."
    ),
}


def rule_for(model: type[BaseModel], validator: str) -> tuple[str, ...]:
    """The sentences for one validator of `model`; () when none is written."""
    written = RULES.get(f"{model.__name__}.{validator}")
    if written is not None:
        return written
    choices: tuple[str, ...] = getattr(model, "_choices", ())
    if validator == "_one" and choices:
        what: str = getattr(model, "_what", "section")
        listed = ", ".join(f"`{c}`" for c in choices)
        return (_ONE_OF.format(choices=listed, what=what),)
    ref: Any = getattr(model, "_ref", None)
    if validator in ("_no_inline_secret", "_load_secret") and isinstance(ref, str):
        return (
            (_REFERENCE_RULE.format(ref=ref),) if ref else ("This channel kind holds no secret.",)
        )
    return ()


def rules_for(model: type[BaseModel]) -> list[str]:
    """Every rule sentence of `model`, in the order its validators are declared."""
    decorators = model.__pydantic_decorators__
    names = [*decorators.model_validators, *decorators.field_validators]
    found = [s for name in names for s in rule_for(model, name) if s]
    return list(dict.fromkeys([*found, *EXTRA_RULES.get(model.__name__, ())]))


EXAMPLES: dict[str, str] = {
    "the API, store and log": """
api:
  listen: 127.0.0.1:9090
  tokens:
    - {name: ops, role: operator, token_env: PARAMEDIC_OPERATOR_TOKEN}
store: {path: var/paramedic.db, synchronous: full}
log: {format: json, level: info}
shutdown_timeout: 10s
""",
    "heartbeats and the dead man's switch": """
heartbeat:
  listen: 127.0.0.1:9999
  key_file: secrets/heartbeat.key
self_watch:
  dead_mans_switch: {url: "https://hc-ping.com/your-uuid", interval: 1m, timeout: 10s}
""",
    "recovery policy": """
recovery:
  decision: {checkpoint_max_age: 5m, failures_limit: 3, failures_window: 30m}
  approval:
    timeout: 5m
    require: {market_open: [warm, cold, manual], market_closed: [manual]}
  market:
    timezone: America/New_York
    sessions: [{days: [mon, tue, wed, thu, fri], open: '09:30', close: '16:00'}]
    holidays: [2026-12-25]
  target_rto: 30s
""",
    "channels and alerting": """
channels:
  oncall-hook: {webhook: {url: "https://hooks.example.com/paramedic", secret_env: HOOK_SECRET}}
alerting:
  contacts:
    oncall: {channels: [oncall-hook]}
""",
    "a service": """
heartbeat: {listen: 127.0.0.1:9999, key_file: secrets/heartbeat.key}
services:
  engine:
    tier: 1
    runbook: https://wiki.example.com/engine
    process:
      argv: [python3, engine.py, --port, "8081"]
      restart: {policy: always, initial_backoff: 100ms, max_backoff: 30s}
    heartbeat: {interval: 100ms, timeout: 300ms}
    probes:
      - {role: liveness, http: {url: "http://127.0.0.1:8081/livez"}, period: 500ms, timeout: 250ms}
    resources:
      memory: {limit: 1GiB, warn_within: 1h}
    health: {down_after: 1, up_after: 3, flap_changes: 6}
""",
    "a recovery plan": """
services:
  engine:
    process: {argv: [python3, engine.py]}
    recovery:
      methods:
        hot:
          steps:
            - {name: promote, timeout: 5s, promote_standby: {http: {url: "http://127.0.0.1:8091/promote"}}}
        warm:
          steps:
            - {name: restore, timeout: 30s, command: {argv: [restore-state]}}
            - {name: restart, timeout: 10s, restart_process: {}}
            - {name: healthy, timeout: 30s, wait_healthy: {}}
        manual: {runbook: https://wiki.example.com/engine-manual}
      checkpoint: {path: state/checkpoint.bin}
      standby: {check: {http: {url: "http://127.0.0.1:8091/standby"}}}
      validation:
        immediate:
          - {name: health, http: {url: "http://127.0.0.1:8081/health"}}
      resumption:
        phases:
          - {name: monitoring_only, size_multiplier: 0.0, duration: 2m}
          - {name: normal, size_multiplier: 1.0}
""",
}
