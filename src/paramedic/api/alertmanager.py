"""Alertmanager in: an existing Prometheus rule can open (and close) a paramedic incident.

Alertmanager's `webhook_config` POSTs its notification payload, version 4
(https://prometheus.io/docs/alerting/latest/configuration/#webhook_config)::

    {"version": "4", "groupKey", "truncatedAlerts", "status": "firing|resolved", "receiver",
     "groupLabels", "commonLabels", "commonAnnotations", "externalURL",
     "alerts": [{"status", "labels", "annotations", "startsAt", "endsAt", "generatorURL",
                 "fingerprint"}, ...]}

Each alert becomes one `Signal` for the service its `service` label names, from the source
`alertmanager:<alertname>`, so ServiceHealth treats the rule like any other detector: firing
is a bad verdict, resolved is a good one. Alertmanager re-sends a group's alerts on every
group_interval/repeat_interval, and ServiceHealth ignores a repeated identical verdict, so
redelivery is harmless. Labels read (documented in README's API table):

- `kind` (or `paramedic_kind`): one of the failure kinds; missing means `degradation`, an
  unknown value too, with a note in the answer and in the alert's sentence.
- `severity`: P0-P3, or Alertmanager's usual words mapped as paramedic's own Alertmanager and
  PagerDuty channels send them (`SEVERITY_WORDS`); missing, the severity rules decide, as
  for any failure; an unknown value too, with a note.
- annotations `summary`, else `description`: the sentence (the page's "What").

The answer is sent only once the signals (and any failure they opened) are durable: a 2xx
tells Alertmanager not to resend, so a crash after it must not lose the alert.

The body is parsed here, not by FastAPI, so that a malformed payload gets one sentence naming
the field (`alerts[0].status: must be firing or resolved`) that an operator reading
Alertmanager's "notify retry" log can act on. Alertmanager retries 5xx and not 4xx, so a payload
we will never accept is a 4xx, and an alert for a service we do not supervise is skipped and
reported, not an error: the rest of the group still counts.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any, Literal, Protocol

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError

from paramedic.api.auth import Principal, require
from paramedic.core.failures import FAILURE_KINDS, FailureKind
from paramedic.core.severity import Severity
from paramedic.detect.signals import Signal

__all__ = [
    "KIND_LABEL",
    "KIND_LABELS",
    "SERVICE_LABEL",
    "SEVERITY_LABEL",
    "SEVERITY_WORDS",
    "AlertmanagerAlert",
    "AlertmanagerWebhook",
    "build_router",
    "parse_webhook",
    "router",
    "to_signal",
]

SERVICE_LABEL = "service"
KIND_LABEL = "paramedic_kind"
KIND_LABELS = (KIND_LABEL, "kind")  # paramedic's own name first: it is the unambiguous one
SEVERITY_LABEL = "severity"
# Alertmanager's common severity words -> paramedic's P0-P3, the inverse of what paramedic's
# own Alertmanager and PagerDuty channels send (P0 critical, P1 error, P2 warning, P3 info),
# plus the seed's names (high, medium, low), `page` and `none` (Alertmanager's Watchdog).
SEVERITY_WORDS: dict[str, Severity] = {
    "p0": "P0",
    "p1": "P1",
    "p2": "P2",
    "p3": "P3",
    "critical": "P0",
    "page": "P0",
    "error": "P1",
    "high": "P1",
    "warning": "P2",
    "medium": "P2",
    "info": "P3",
    "low": "P3",
    "none": "P3",
}
SUPPORTED_VERSION = "4"


# Prometheus and Alertmanager bound none of these; generous limits keep one payload from
# becoming a 10 MB alert (and the body itself is capped by api.max_body_size).
MAX_LABELS = 128
MAX_ALERTS = 1000
_Name = Annotated[str, StringConstraints(max_length=256)]
_Value = Annotated[str, StringConstraints(max_length=4096)]
_Annotation = Annotated[str, StringConstraints(max_length=16384)]
_Text = Annotated[str, StringConstraints(max_length=4096)]
_Labels = Annotated[dict[_Name, _Value], Field(max_length=MAX_LABELS)]
_Annotations = Annotated[dict[_Name, _Annotation], Field(max_length=MAX_LABELS)]


class AlertmanagerAlert(BaseModel):
    """One alert of a webhook notification. Times stay strings: we do not act on them, and
    Go's RFC 3339 with nanoseconds (and the zero time `0001-01-01T00:00:00Z` Alertmanager
    sends as a firing alert's endsAt) should not be a reason to refuse a page."""

    model_config = ConfigDict(extra="ignore")

    status: Literal["firing", "resolved"]
    labels: _Labels
    annotations: _Annotations = {}
    startsAt: _Text = ""  # Alertmanager's field names, camelCase
    endsAt: _Text = ""
    generatorURL: _Text = ""
    fingerprint: _Text = ""


class AlertmanagerWebhook(BaseModel):
    """Alertmanager's webhook payload, version 4."""

    model_config = ConfigDict(extra="ignore")

    version: _Text
    groupKey: Annotated[str, StringConstraints(max_length=16384)] = ""
    truncatedAlerts: int = Field(default=0, ge=0)
    status: Literal["firing", "resolved"]
    receiver: _Text = ""
    groupLabels: _Labels = {}
    commonLabels: _Labels = {}
    commonAnnotations: _Annotations = {}
    externalURL: _Text = ""
    alerts: Annotated[list[AlertmanagerAlert], Field(max_length=MAX_ALERTS)]


_PAYLOAD = TypeAdapter(AlertmanagerWebhook)


class _Context(Protocol):
    """What the route reads from `app.state.context` (the runtime's `ApiContext`)."""

    @property
    def known_services(self) -> frozenset[str]: ...

    @property
    def signal_sink(self) -> Callable[[str, Signal], bool]: ...

    @property
    def clock(self) -> Any: ...

    @property
    def inputs_durable(self) -> Callable[[], Awaitable[None]]: ...


def to_signal(
    alert: AlertmanagerAlert, service: str, at: float, notes: list[str] | None = None
) -> tuple[Signal, FailureKind | None]:
    """The signal for one alert, and the failure kind it was given (None when resolved).
    A label that could not be honoured adds a sentence to `notes` (and to the signal's
    reason, so the person paged reads it too)."""
    labels = alert.labels
    name = labels.get("alertname") or "unnamed"
    instance = labels.get("instance")
    said = alert.annotations.get("summary") or alert.annotations.get("description")
    if alert.status == "resolved":
        reason = f"{name} resolved in Alertmanager" + (f": {said}" if said else "")
        return Signal(service, f"alertmanager:{name}", True, reason, at), None
    found: list[str] = []
    kind: FailureKind = "degradation"
    label, asked = next(((k, labels[k]) for k in KIND_LABELS if k in labels), ("kind", ""))
    if asked in FAILURE_KINDS:
        kind = asked
    elif asked:
        known = ", ".join(FAILURE_KINDS)
        found.append(f"{label} {asked!r} is not a failure kind ({known}); taken as degradation")
    severity: Severity | None = None
    word = labels.get(SEVERITY_LABEL, "")
    if word:
        severity = SEVERITY_WORDS.get(word.strip().lower())
        if severity is None:
            words = ", ".join(SEVERITY_WORDS)
            found.append(f"severity {word!r} is not one of {words}; the severity rules decide")
    reason = said or (f"{name} firing on {instance}" if instance else f"{name} firing")
    if found:
        reason += f" ({'; '.join(found)})"
        if notes is not None:
            notes += found
    return Signal(service, f"alertmanager:{name}", False, reason, at, kind, severity), kind


def _where(loc: Sequence[int | str]) -> str:
    """Pydantic's ('alerts', 0, 'status') as the JSON path a person reads: alerts[0].status."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "body"


_SAYS: dict[str, str] = {
    "missing": "required",
    "dict_type": "must be an object",
    "list_type": "must be a list",
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
}


def _explain(error: ValidationError) -> str:
    sentences = []
    for e in error.errors(include_url=False):
        if e["type"] == "literal_error":
            says = "must be " + str(e.get("ctx", {}).get("expected", "")).replace("'", "")
        else:
            says = _SAYS.get(e["type"], str(e["msg"]).lower())
        sentences.append(f"{_where(e['loc'])}: {says}")
    return "; ".join(sentences)


async def _payload(request: Request) -> AlertmanagerWebhook:
    return parse_webhook(await request.body())


def parse_webhook(raw: bytes) -> AlertmanagerWebhook:
    """The payload of one webhook call, or HTTPException 400/422 naming what is wrong.

    Synchronous and free of the request, so the fuzzers call it directly."""
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        detail = f"body: not JSON ({exc}); expected Alertmanager's webhook payload version 4"
        raise HTTPException(400, detail=detail) from None
    if not isinstance(data, dict):
        detail = "body: must be a JSON object (Alertmanager's webhook payload version 4)"
        raise HTTPException(400, detail=detail)
    version = data.get("version")
    if version is not None and version != SUPPORTED_VERSION:
        detail = (
            f"version: {version!r} is not supported; this endpoint accepts Alertmanager's "
            f"webhook payload version {SUPPORTED_VERSION!r}"
        )
        raise HTTPException(400, detail=detail)
    try:
        return _PAYLOAD.validate_python(data)
    except ValidationError as exc:
        raise HTTPException(422, detail=_explain(exc)) from None


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """The request schema with its `$defs` inlined, so it stands alone in the OpenAPI spec."""
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    result: dict[str, Any] = resolve(schema)
    return result


def build_router(service_label: str = SERVICE_LABEL) -> APIRouter:
    """The webhook route; `service_label` names the label that says which service an alert
    is about."""
    api = APIRouter(tags=["alertmanager"])
    schema = _inline(AlertmanagerWebhook.model_json_schema())

    @api.post(
        "/api/v1/alertmanager",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": schema}},
            }
        },
        responses={
            400: {"description": "not JSON, not an object, or a version other than 4"},
            422: {"description": "a field is missing or wrong; the detail names it"},
        },
    )
    async def alertmanager_webhook(
        request: Request,
        _who: Annotated[Principal, Depends(require("operator"))],
    ) -> dict[str, Any]:
        """Alertmanager's webhook (payload version 4): each alert becomes a signal for the
        service named by its `service` label; alerts for unknown services are skipped."""
        payload = await _payload(request)
        context: _Context = request.app.state.context
        known = context.known_services
        at = context.clock.monotonic()
        accepted = 0
        skipped: list[dict[str, Any]] = []
        notes: list[dict[str, Any]] = []
        for index, alert in enumerate(payload.alerts):
            service = alert.labels.get(service_label)
            if not service:
                skipped.append({"index": index, "reason": f"no {service_label!r} label"})
                continue
            if service not in known:
                reason = f"unknown service {service!r} (label {service_label!r})"
                skipped.append({"index": index, "reason": reason})
                continue
            said: list[str] = []
            signal, _ = to_signal(alert, service, at, said)
            if not context.signal_sink(service, signal):
                skipped.append({"index": index, "reason": f"unknown service {service!r}"})
                continue
            notes += [{"index": index, "note": note} for note in said]
            accepted += 1
        # 2xx means durable: Alertmanager will not send this again.
        await context.inputs_durable()
        answer: dict[str, Any] = {"accepted": accepted, "skipped": skipped}
        if notes:
            answer["notes"] = notes
        return answer

    return api


router = build_router()
