"""The typed configuration: one YAML file validated into these models.

Every model forbids unknown keys: a misspelt `timout` must be an error, never a silently
ignored line that leaves a default in force. Secrets appear only as references (`*_env`,
`*_file`) resolved at load time into `SecretStr`, which never prints its value.
"""

from __future__ import annotations

import ipaddress
from functools import partial
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from paramedic.config.alerting import AlertingConfig
from paramedic.config.channels import Channels
from paramedic.config.chaos import ChaosConfig
from paramedic.config.probes import HealthReading, ProbeList
from paramedic.config.recovery_plan import RecoveryPlan
from paramedic.config.recovery_policy import RecoveryPolicy
from paramedic.config.resources import ResourcesConfig, Size
from paramedic.config.schedules import DrillSchedule, TestPageSchedule
from paramedic.config.selfwatch import SelfWatchConfig
from paramedic.config.types import (
    Argv,
    Duration,
    PositiveDuration,
    SecretRef,
    StrictModel,
    check_name,
    host_port,
    repeated,
)
from paramedic.core.text import duration

__all__ = [
    "ApiConfig",
    "ApiToken",
    "Config",
    "HeartbeatConfig",
    "HeartbeatListener",
    "LogConfig",
    "ProcessConfig",
    "Role",
    "ServiceConfig",
    "StoreConfig",
]

Role = Literal["viewer", "operator", "admin"]
ServiceName = Annotated[str, AfterValidator(partial(check_name, "service"))]


class ApiToken(SecretRef):
    """A bearer token and the role it grants. The value comes from the environment or a file."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.@-]{1,64}$")
    role: Role
    token_env: str | None = None
    token_file: Path | None = None

    @model_validator(mode="after")
    def _load(self, info: ValidationInfo) -> ApiToken:
        self._resolve("token", self.token_env, self.token_file, info)
        if len(self.secret.get_secret_value()) < 16:
            msg = "token is shorter than 16 characters; use a long random value"
            raise ValueError(msg)
        return self


class ApiConfig(StrictModel):
    """The HTTP API: where it listens and who may do what."""

    listen: str = "127.0.0.1:9090"
    tokens: list[ApiToken] = Field(default_factory=list)
    read_requires_token: bool = False
    # Every request body is refused with 413 past this size, before it is read in full.
    max_body_size: Annotated[Size, Field(ge=1024)] = 1024 * 1024

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        host, _port = host_port(value)
        if host != "localhost":
            try:
                ipaddress.ip_address(host)
            except ValueError:
                msg = f"{host!r} is not an IP address (or localhost)"
                raise ValueError(msg) from None
        return value

    @property
    def host(self) -> str:
        return host_port(self.listen)[0]

    @property
    def port(self) -> int:
        return host_port(self.listen)[1]

    @model_validator(mode="after")
    def _unique_names(self) -> ApiConfig:
        if dupes := repeated(t.name for t in self.tokens):
            msg = f"token names must be unique; repeated: {', '.join(dupes)}"
            raise ValueError(msg)
        return self


class StoreConfig(StrictModel):
    """Where durable state lives. Only the embedded SQLite backend exists today."""

    backend: Literal["sqlite"] = "sqlite"
    path: Path = Path("var/paramedic.db")
    synchronous: Literal["full", "normal"] = "full"
    # While the store refuses writes (disk full, read-only), events wait in memory for a late
    # write; beyond this many the newest are dropped (counted), keeping the trouble's start.
    degraded_backlog: int = Field(default=10_000, ge=100, le=1_000_000)


class LogConfig(StrictModel):
    format: Literal["console", "json"] = "console"
    level: Literal["debug", "info", "warning", "error"] = "info"


class HeartbeatListener(SecretRef):
    """The UDP endpoint services send heartbeats to, and the key shared by all services."""

    listen: str = "127.0.0.1:9999"
    multicast_group: str | None = None
    key_env: str | None = None
    key_file: Path | None = None
    key_id: int = Field(default=0, ge=0, le=255)
    max_skew: Duration = 2.0
    self_pause_bound: Duration = 0.1

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        host_port(value)
        return value

    @field_validator("multicast_group")
    @classmethod
    def _group(cls, value: str | None) -> str | None:
        if value is not None and not ipaddress.ip_address(value).is_multicast:
            msg = f"{value} is not a multicast address (224.0.0.0/4)"
            raise ValueError(msg)
        return value

    @model_validator(mode="after")
    def _load(self, info: ValidationInfo) -> HeartbeatListener:
        if self.key_env is not None or self.key_file is not None:
            self._resolve("key", self.key_env, self.key_file, info)
        return self

    @property
    def shared_key(self) -> SecretStr | None:
        return self._secret

    @property
    def host(self) -> str:
        return host_port(self.listen)[0]

    @property
    def port(self) -> int:
        return host_port(self.listen)[1]


TIMEOUT_PER_INTERVAL = 3
"""A heartbeat timeout left unset is this many intervals (100 ms beats, 300 ms timeout)."""


class HeartbeatConfig(SecretRef):
    """How a service heartbeats, and when its silence counts as a failure."""

    interval: PositiveDuration = 0.1
    # Unset means TIMEOUT_PER_INTERVAL intervals: a fixed default would convict a service
    # that beats slower than it between every two beats. Read it as `silence_timeout`.
    timeout: Duration | None = None
    detector: Literal["timeout", "phi"] = "timeout"
    phi_threshold: float = Field(default=8.0, gt=0, le=50)
    min_std_deviation: Duration = 0.025
    acceptable_pause: Duration = 0.0
    startup_grace: Duration | None = None
    key_env: str | None = None
    key_file: Path | None = None
    key_id: int = Field(default=0, ge=0, le=255)

    @model_validator(mode="after")
    def _timeout_above_interval(self) -> HeartbeatConfig:
        # On the whole model: a field validator would not see a timeout written before interval.
        if self.timeout is not None and self.timeout <= self.interval:
            msg = (
                f"timeout: must be greater than interval ({duration(self.interval)});"
                f" got {duration(self.timeout)}"
            )
            raise ValueError(msg)
        return self

    @property
    def silence_timeout(self) -> float:
        """Seconds of silence that convict: `timeout`, or TIMEOUT_PER_INTERVAL intervals."""
        return TIMEOUT_PER_INTERVAL * self.interval if self.timeout is None else self.timeout

    @model_validator(mode="after")
    def _load(self, info: ValidationInfo) -> HeartbeatConfig:
        if self.key_env is not None or self.key_file is not None:
            self._resolve("key", self.key_env, self.key_file, info)
        return self

    @property
    def key(self) -> SecretStr | None:
        return self._secret


class RestartConfig(StrictModel):
    """What the watchdog does when the process ends."""

    policy: Literal["always", "on-failure", "never"] = "on-failure"
    initial_backoff: Duration = 0.1
    max_backoff: Duration = 30.0
    backoff_factor: float = Field(default=2.0, ge=1.0, le=10.0)
    jitter: float = Field(default=0.2, ge=0.0, lt=1.0)
    stable_after: Duration = 60.0
    burst: int = Field(default=5, ge=1, le=1000)
    window: Duration = 300.0

    @field_validator("max_backoff")
    @classmethod
    def _max(cls, value: float, info: ValidationInfo) -> float:
        initial = info.data.get("initial_backoff")
        if initial is not None and value < initial:
            msg = f"must be at least initial_backoff ({duration(initial)}); got {duration(value)}"
            raise ValueError(msg)
        return value


class ProcessConfig(StrictModel):
    """A process paramedic starts and owns. argv is exec'd directly: never through a shell."""

    argv: Argv
    env: dict[str, str] = Field(default_factory=dict)
    inherit_env: bool = True
    cwd: Path | None = None
    stop_signal: Literal["SIGTERM", "SIGINT", "SIGQUIT", "SIGHUP", "SIGUSR1", "SIGUSR2"] = "SIGTERM"
    stop_timeout: Duration = 5.0
    log_file: Path | None = None
    restart: RestartConfig = Field(default_factory=RestartConfig)
    # A planned stop of paramedic (SIGTERM: an upgrade during market hours) leaves this
    # process running for the next start to re-adopt. A crash of paramedic never stops a
    # child, whatever this says.
    keep_running_on_stop: bool = False


class WatchConfig(StrictModel):
    """A process paramedic did not start, watched by pid (a pidfd: exit noticed at once)."""

    pid_file: Path | None = None
    pid: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _one(self) -> WatchConfig:
        if (self.pid_file is None) == (self.pid is None):
            msg = "give exactly one of pid_file or pid"
            raise ValueError(msg)
        return self


class HealthConfig(HealthReading):
    """The service's overall verdict: hysteresis, flap detection, and what each component
    named in its /health means when it turns false (the map comes from `HealthReading`)."""

    down_after: int = Field(default=1, ge=1, le=100)
    up_after: int = Field(default=3, ge=1, le=100)
    evaluate_every: PositiveDuration = 1.0
    flap_window: Duration = 120.0
    flap_changes: int = Field(default=6, ge=2, le=100)


class ServiceConfig(StrictModel):
    """One monitored service: what runs, how it signals life, what it depends on."""

    description: str = ""
    tier: int | None = Field(default=None, ge=1, le=5)
    labels: dict[str, str] = Field(default_factory=dict)
    runbook: str = ""
    process: ProcessConfig | None = None
    watch: WatchConfig | None = None
    heartbeat: HeartbeatConfig | None = None
    probes: ProbeList = Field(default_factory=list)
    resources: ResourcesConfig | None = None
    recovery: RecoveryPlan | None = None
    health: HealthConfig = Field(default_factory=HealthConfig)
    depends_on: list[str] = Field(default_factory=list)
    chaos: ChaosConfig = Field(default_factory=ChaosConfig)

    @model_validator(mode="after")
    def _owned_or_watched(self) -> ServiceConfig:
        if self.process is not None and self.watch is not None:
            msg = "watch: a service is either started by paramedic (process) or watched by pid"
            raise ValueError(msg)
        return self


class Config(StrictModel):
    """The whole file."""

    version: Literal[1] = 1
    api: ApiConfig = Field(default_factory=ApiConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    log: LogConfig = Field(default_factory=LogConfig)
    shutdown_timeout: Duration = 10.0
    heartbeat: HeartbeatListener | None = None
    self_watch: SelfWatchConfig = Field(default_factory=SelfWatchConfig)
    recovery: RecoveryPolicy = Field(default_factory=RecoveryPolicy)
    channels: Channels = Field(default_factory=dict)
    alerting: AlertingConfig = Field(default_factory=AlertingConfig)
    # The link every page gives; `{incident}` is replaced by the incident's id. Empty: the
    # console paramedic serves, at the incident's page (`<api>/#incident=<id>`).
    dashboard_url: str = ""
    services: dict[ServiceName, ServiceConfig] = Field(default_factory=dict)
    test_pages: TestPageSchedule | None = None
    drills: list[DrillSchedule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references(self) -> Config:
        for name, svc in self.services.items():
            for dep in svc.depends_on:
                if dep == name:
                    msg = f"services.{name}.depends_on: a service cannot depend on itself"
                    raise ValueError(msg)
                if dep not in self.services:
                    known = ", ".join(sorted(self.services)) or "none"
                    msg = f"services.{name}.depends_on: unknown service {dep!r} (known: {known})"
                    raise ValueError(msg)
            if svc.heartbeat is not None and self.heartbeat is None:
                msg = (
                    f"services.{name}.heartbeat: needs a top-level `heartbeat:` section"
                    " saying where paramedic listens"
                )
                raise ValueError(msg)
            if (
                svc.heartbeat is not None
                and svc.heartbeat.key is None
                and self.heartbeat is not None
                and self.heartbeat.shared_key is None
            ):
                msg = (
                    f"services.{name}.heartbeat: no key; set key_env/key_file here or on the"
                    " top-level heartbeat section (heartbeats are always authenticated)"
                )
                raise ValueError(msg)
        self._approvers()
        if self.test_pages is not None:
            unknown = [c for c in self.test_pages.contacts if c not in self.alerting.contacts]
            if unknown:
                msg = f"test_pages.contacts: unknown contact {', '.join(unknown)}"
                raise ValueError(msg)
        for n, drill in enumerate(self.drills):
            self._scheduled_drill(f"drills[{n}]", drill)
        return self

    def _scheduled_drill(self, where: str, drill: DrillSchedule) -> None:
        svc = self.services.get(drill.service)
        if svc is None:
            msg = f"{where}.service: unknown service {drill.service!r}"
            raise ValueError(msg)
        if drill.kind not in ("crash", "hang") and svc.chaos.hook(drill.kind) is None:
            key = drill.kind.replace("-", "_")
            msg = f"{where}.kind: {drill.service} has no chaos hook for {drill.kind}"
            msg += f" (services.{drill.service}.chaos.{key})"
            raise ValueError(msg)
        unknown = [c for c in drill.contacts or () if c not in self.alerting.contacts]
        if unknown:
            msg = f"{where}.contacts: unknown contact {', '.join(unknown)}"
            raise ValueError(msg)

    def _approvers(self) -> None:
        """The approvers are receivers of the alerting config. Written by the user, each must
        name a contact (and one of its channels); left at the default, those the contacts
        lack are dropped (with `replace_defaults: [contacts]` there may be no `team-lead`),
        and none left means the approval page follows the alerting routes."""
        approval = self.recovery.approval
        contacts = self.alerting.contacts
        if "approvers" not in approval.model_fields_set:
            approval.approvers = [a for a in approval.approvers if a in contacts]
            return
        problems = []
        for i, receiver in enumerate(approval.approvers):
            contact, _, channel = receiver.partition(":")
            known = contacts.get(contact)
            where = f"recovery.approval.approvers.{i}"
            if known is None:
                names = ", ".join(sorted(contacts)) or "none"
                problems.append(f"{where}: unknown contact {contact!r}; contacts are {names}")
            elif channel and channel not in known.channels:
                problems.append(
                    f"{where}: contact {contact!r} has no channel {channel!r}"
                    f" (its channels: {', '.join(known.channels)})"
                )
        if problems:
            raise ValueError("\n".join(problems))
