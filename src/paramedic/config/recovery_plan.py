"""A service's `recovery:` section: how to recover, what to keep, how to validate and resume.

Every step and check names exactly one action, chosen by which key is present, so a plan reads
like the runbook it replaces; `http`, `tcp` and `command` are the vocabulary probes share
(`config/checks.py`). Commands are argv lists exec'd without a shell: a recovery plan
runs as the supervisor's user in the worst minute of the day and must not be one quoting
mistake away from `rm -rf`.

    recovery:
      methods:
        hot:
          steps:
            - {name: restart, timeout: 10s, expected: 2s, restart_process: {}}
            - {name: healthy, timeout: 30s, wait_healthy: {}}
        manual: {runbook: "https://wiki/manual-recovery"}
      checkpoint: {path: /var/lib/trading/state/checkpoint.bin}
      standby: {check: {http: {url: "http://127.0.0.1:8091/standby"}}}
      preserve: {paths: [/var/log/trading]}   # + the service's captured output, always
      validation:
        immediate: [{name: positions, compare: {left: "http://...", right: "http://..."}}]
      resumption: {phases: [...]}   # default: the seed's 2 min / 5 min / normal
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from paramedic.config.checks import (
    CommandCheck,
    HttpCall,
    HttpCheck,
    TcpCheck,
    dotted_paths,
    http_url,
)
from paramedic.config.types import Duration, PositiveDuration, StrictModel, one_of, repeated

# fmt: off
__all__ = [
    "STEP_ACTIONS", "CheckSpec", "CheckpointSource", "CompareCheck", "CorruptionSource",
    "EmptyAction", "JsonSource", "MethodConfig", "MethodName", "Methods", "MetricCheck",
    "PhaseConfig", "PreserveConfig", "PromoteStandby", "PythonStep", "RecoveryPlan",
    "ResumptionConfig", "StandbySource", "StepConfig", "TestOrderCheck", "ValidationConfig",
    "VolatilitySource",
]
# fmt: on

MethodName = Literal["hot", "warm", "cold", "manual"]
STEP_ACTIONS: tuple[str, ...] = (
    "command",
    "http",
    "restart_process",
    "stop_process",
    "promote_standby",
    "wait_healthy",
    "wait_heartbeat",
    "python",
)
CHECK_KINDS: tuple[str, ...] = (
    "process",
    "http",
    "compare",
    "tcp",
    "command",
    "metric",
    "test_order",
)
_ENTRY_POINT = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
_NAME = re.compile(r"^[^\x00-\x1f\x7f]{1,64}$")  # read by people: "Restore orders"


def _check_name(value: str) -> str:
    if not _NAME.match(value):
        msg = f"name {value!r} must be 1-64 printable characters"
        raise ValueError(msg)
    return value


class _OneOf(StrictModel):
    """A section naming exactly one of `_choices`; the error lists what was given."""

    _choices: ClassVar[tuple[str, ...]] = ()
    _what: ClassVar[str] = "action"

    @model_validator(mode="before")
    @classmethod
    def _one(cls, data: Any) -> Any:
        return one_of(data, cls._choices, cls._what)


class EmptyAction(StrictModel):
    """An action whose behaviour the integrator supplies (`restart_process: {}`)."""


class PromoteStandby(_OneOf):
    """Promote the backup through its own API or a tool; the standby knows how, not paramedic."""

    http: HttpCall | None = None
    command: CommandCheck | None = None

    _choices = ("http", "command")
    _what = "promote action"


class PythonStep(StrictModel):
    """A custom step: `package.module:function`, an async callable taking a StepContext."""

    entry_point: str

    @field_validator("entry_point")
    @classmethod
    def _entry(cls, value: str) -> str:
        if not _ENTRY_POINT.match(value):
            msg = f"{value!r} is not an entry point; write e.g. mydesk.recovery:replay_orders"
            raise ValueError(msg)
        return value


class StepConfig(_OneOf):
    """One ordered step of a recovery method; `expected` feeds the ETA, `timeout` bounds it."""

    name: str
    timeout: Duration = 30.0
    expected: Duration | None = None
    command: CommandCheck | None = None
    http: HttpCall | None = None
    restart_process: EmptyAction | None = None
    stop_process: EmptyAction | None = None
    promote_standby: PromoteStandby | None = None
    wait_healthy: EmptyAction | None = None
    wait_heartbeat: EmptyAction | None = None
    python: PythonStep | None = None

    _choices = STEP_ACTIONS
    _what = "step action"

    _name = field_validator("name")(_check_name)

    @field_validator("timeout")
    @classmethod
    def _timeout(cls, value: float) -> float:
        if value <= 0:
            msg = "must be greater than 0: a recovery step without a bound can hang the recovery"
            raise ValueError(msg)
        return value

    @property
    def action_kind(self) -> str:
        """The one action key given; validation guarantees there is exactly one."""
        return next(key for key in STEP_ACTIONS if getattr(self, key) is not None)


class MethodConfig(StrictModel):
    """One recovery method: ordered steps, and for `manual` the runbook a human follows."""

    steps: list[StepConfig] = Field(default_factory=list)
    runbook: str | None = None

    @field_validator("steps")
    @classmethod
    def _unique(cls, value: list[StepConfig]) -> list[StepConfig]:
        if dupes := repeated(step.name for step in value):
            msg = f"step names must be unique within a method; repeated: {', '.join(dupes)}"
            raise ValueError(msg)
        return value


class Methods(StrictModel):
    """The ladder: hot, then warm, then cold, then a human."""

    hot: MethodConfig | None = None
    warm: MethodConfig | None = None
    cold: MethodConfig | None = None
    manual: MethodConfig = Field(default_factory=MethodConfig)

    @model_validator(mode="after")
    def _automated_have_steps(self) -> Methods:
        for name in ("hot", "warm", "cold"):
            method: MethodConfig | None = getattr(self, name)
            if method is not None and not method.steps:
                msg = f"{name}: an automated method needs at least one step (or leave it out)"
                raise ValueError(msg)
        return self


class JsonSource(_OneOf):
    """Where a fact comes from: an HTTP endpoint or a program printing JSON on stdout."""

    http: HttpCheck | None = None
    command: CommandCheck | None = None
    timeout: Duration = 5.0

    _choices = ("http", "command")
    _what = "source"


class CheckpointSource(_OneOf):
    """Checkpoint age: a file's mtime, or a program printing `{"age_seconds": n}`."""

    path: Path | None = None
    command: CommandCheck | None = None

    _choices = ("path", "command")
    _what = "checkpoint source"


class CorruptionSource(StrictModel):
    """A check answering `{"corrupt": bool, "detail": str}`: corrupt state rules out hot/warm."""

    check: JsonSource


class StandbySource(StrictModel):
    """A check answering `{available, synced, lag_seconds}` about the backup.

    After a hot recovery the same check is asked again: while it answers no synced standby,
    the service carries a "running without a standby" failure, re-checked every
    `recheck_every` (add a `restart_process` step after the promotion to bring the old
    primary back as the standby)."""

    check: JsonSource
    recheck_every: PositiveDuration = 30.0


class VolatilitySource(StrictModel):
    """A check answering `{current, average}`: a hot market argues for the fastest method."""

    check: JsonSource


class PreserveConfig(StrictModel):
    """What to keep when a recovery method fails: the service's own output that
    paramedic captured (always), the configured `paths` (state, other logs), optionally a
    core dump. `snapshot_dir` defaults to `snapshots/` beside the store's database."""

    enabled: bool = True
    paths: list[Path] = Field(default_factory=list)
    snapshot_dir: Path | None = None
    gcore: bool = False
    gcore_timeout: Duration = 60.0
    max_bytes: int = Field(default=1 << 30, ge=0)


class CompareCheck(StrictModel):
    """Two documents that must agree, e.g. our positions against the exchange's."""

    left: str
    right: str
    paths: list[str] | None = None
    tolerance: float = Field(default=0.0, ge=0)

    _urls = field_validator("left", "right")(http_url)
    _paths = field_validator("paths")(dotted_paths)


class MetricCheck(StrictModel):
    """A number in a JSON document (e.g. `metrics.order_latency_p99_us`) against a bound."""

    url: str
    path: str
    above: float | None = None
    below: float | None = None

    _url = field_validator("url")(http_url)

    @model_validator(mode="after")
    def _bound(self) -> MetricCheck:
        if self.above is None and self.below is None:
            msg = "give a bound: below (must stay under) and/or above (must stay over)"
            raise ValueError(msg)
        return self


class TestOrderCheck(StrictModel):
    """A test order through the real path, acknowledged within `deadline`."""

    __test__ = False  # not a pytest class, whatever its name says

    url: str
    body: Any = None
    expect_json: dict[str, Any] = Field(default_factory=lambda: {"acknowledged": True})
    deadline: Duration = 1.0

    _url = field_validator("url")(http_url)
    _paths = field_validator("expect_json")(dotted_paths)


class CheckSpec(_OneOf):
    """One validation check or gate condition; exactly one kind.

    `critical` (default true): its failure fails the recovery (immediate window), or halts
    trading and hands the incident to a human (short/medium windows), or holds a resumption
    phase (gates). A non-critical failure is recorded as a warning and changes nothing.
    """

    name: str
    timeout: Duration = 5.0
    critical: bool = True
    process: EmptyAction | None = None
    http: HttpCheck | None = None
    compare: CompareCheck | None = None
    tcp: TcpCheck | None = None
    command: CommandCheck | None = None
    metric: MetricCheck | None = None
    test_order: TestOrderCheck | None = None

    _choices = CHECK_KINDS
    _what = "check kind"

    _name = field_validator("name")(_check_name)

    @property
    def kind(self) -> str:
        return next(key for key in CHECK_KINDS if getattr(self, key) is not None)


class ValidationConfig(StrictModel):
    """The three windows: immediate failures fail the recovery, later ones escalate."""

    immediate: list[CheckSpec] = Field(default_factory=list)
    short: list[CheckSpec] = Field(default_factory=list)
    medium: list[CheckSpec] = Field(default_factory=list)
    immediate_window: Duration = 60.0
    short_window: Duration = 300.0
    medium_window: Duration = 1800.0
    short_every: Duration = 30.0
    medium_every: Duration = 300.0


class PhaseConfig(StrictModel):
    """One resumption phase; `gate` must pass at its end before the next phase begins."""

    name: str
    size_multiplier: float = Field(ge=0.0, le=1.0)
    duration: Duration | None = None
    gate: list[CheckSpec] = Field(default_factory=list)

    _name = field_validator("name")(_check_name)


def _default_phases() -> list[PhaseConfig]:
    # Validated like user input, so the defaults obey the same rules (durations with units).
    return [
        PhaseConfig.model_validate(
            {"name": "monitoring_only", "size_multiplier": 0.0, "duration": "2m"}
        ),
        PhaseConfig.model_validate({"name": "reduced", "size_multiplier": 0.1, "duration": "5m"}),
        PhaseConfig.model_validate({"name": "normal", "size_multiplier": 1.0}),
    ]


class ResumptionConfig(StrictModel):
    """Gradual resumption; only the last phase may last forever."""

    phases: list[PhaseConfig] = Field(default_factory=_default_phases, min_length=1)
    retry_gate_every: Duration = 30.0

    @field_validator("phases")
    @classmethod
    def _shape(cls, value: list[PhaseConfig]) -> list[PhaseConfig]:
        if dupes := repeated(p.name for p in value):
            msg = f"phase names must be unique; repeated: {', '.join(dupes)}"
            raise ValueError(msg)
        for phase in value[:-1]:
            if phase.duration is None:
                msg = f"phase {phase.name}: every phase but the last needs a duration"
                raise ValueError(msg)
        return value


class RecoveryPlan(StrictModel):
    """Everything one service's recovery needs, validated before the first incident."""

    methods: Methods = Field(default_factory=Methods)
    checkpoint: CheckpointSource | None = None
    standby: StandbySource | None = None
    volatility: VolatilitySource | None = None
    corruption: CorruptionSource | None = None
    preserve: PreserveConfig = Field(default_factory=PreserveConfig)
    validation: ValidationConfig = Field(default_factory=ValidationConfig)
    resumption: ResumptionConfig = Field(default_factory=ResumptionConfig)
