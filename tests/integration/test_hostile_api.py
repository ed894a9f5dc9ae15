"""Hostile request bodies against a real `paramedic run` (issue 10 defect 6, issue 11 defect 8).

Every POST endpoint is taken from the app's own OpenAPI document, so a new endpoint is covered
without editing this file. Each gets NaN, Infinity, -Infinity, a too-deep body, a too-big body
(with and without Content-Length), wrong types and unknown ids: never a 5xx, a 4xx that names
the problem, and nothing recorded (the timeline and the alerts are unchanged).
"""

from __future__ import annotations

import json
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import free_port
from tests.integration.runner import RunningParamedic, wait_until

pytestmark = pytest.mark.integration

TOKEN = "operator-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
LIMIT = 1024 * 1024  # api.max_body_size by default
UNKNOWN = "nope-unknown"


def write_config(tmp_path: Path) -> Path:
    config = tmp_path / "paramedic.yaml"
    config.write_text(
        f"""
api:
  listen: 127.0.0.1:{free_port()}
  tokens: [{{name: olga, role: operator, token_env: OPS}}]
store: {{path: var/p.db}}
services:
  engine:
    process:
      argv: [{sys.executable!r}, "-c", "import signal; signal.pause()"]
    recovery:
      methods:
        cold:
          steps:
            - {{name: Restart engine, restart_process: {{}}, timeout: 10s}}
"""
    )
    return config


@pytest.fixture(scope="module")
def paramedic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningParamedic]:
    p = RunningParamedic(write_config(tmp_path_factory.mktemp("hostile")), env={"OPS": TOKEN})
    try:
        p.wait_started()
        # The engine's own start (spawned, then up) is recorded first, so that a test's
        # before/after snapshots see only what the hostile requests did.
        wait_until(
            "the engine to come up",
            lambda: any(
                e["kind"] == "service.up"
                for e in p.get("/api/timeline", params={"limit": 1000}).json()["events"]
            ),
            60,
        )
        yield p
    finally:
        p.ensure_dead()


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref", "")
    if ref.startswith("#/components/schemas/"):
        resolved: dict[str, Any] = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
        return resolved
    return schema


def post_endpoints(spec: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(path with unknown ids filled in, request body schema) for every POST in the spec."""
    out = []
    for path, methods in sorted(spec["paths"].items()):
        operation = methods.get("post")
        if operation is None:
            continue
        body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
        schema = _resolve(spec, body.get("schema", {}))
        filled = path
        for param in operation.get("parameters", []):
            if param["in"] == "path":
                filled = filled.replace("{" + param["name"] + "}", UNKNOWN)
        out.append((filled, schema))
    return out


def minimal(spec: dict[str, Any], schema: dict[str, Any]) -> Any:
    """A small body the schema accepts, with unknown ids wherever a string is free."""
    schema = _resolve(spec, schema)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            return minimal(spec, schema[key][0])
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        return {name: minimal(spec, value) for name, value in props.items()}
    if kind == "array":
        return [minimal(spec, schema["items"]) for _ in range(schema.get("minItems", 0))]
    if kind in ("integer", "number"):
        return schema.get("minimum", 0)
    if kind == "boolean":
        return False
    return UNKNOWN


def fields_of(spec: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    return list(_resolve(spec, schema).get("properties", {})) or ["x"]


class Recorded:
    """What paramedic has recorded: the timeline's last seq and the alerts it holds."""

    def __init__(self, p: RunningParamedic) -> None:
        self.p = p

    def snapshot(self) -> tuple[list[tuple[str, str]], int]:
        events = self.p.get("/api/timeline", params={"limit": 1000}, headers=AUTH).json()["events"]
        alerts = self.p.get("/api/alerts", headers=AUTH).json()["alerts"]
        return [(e["kind"], e["summary"]) for e in events], len(alerts)


@pytest.fixture(scope="module")
def spec(paramedic: RunningParamedic) -> dict[str, Any]:
    document: dict[str, Any] = paramedic.get("/openapi.json").json()
    return document


def hostile_bodies(spec: dict[str, Any], schema: dict[str, Any]) -> list[tuple[str, bytes, int]]:
    """(name, raw body, expected status) for one endpoint's schema."""
    names = fields_of(spec, schema)
    base = minimal(spec, schema)
    base = base if isinstance(base, dict) else {}

    def with_raw(token: str) -> bytes:
        text = json.dumps({**base, **dict.fromkeys(names, "@@")})
        return text.replace('"@@"', token).encode()

    nested = b"[" * 65 + b"]" * 65
    cases = [
        ("NaN", with_raw("NaN"), 400),
        ("Infinity", with_raw("Infinity"), 400),
        ("-Infinity", with_raw("-Infinity"), 400),
        ("1e400", with_raw("1e400"), 400),
        ("deep-unterminated", b"[" * 100_000, 400),
        ("deep-65", nested, 400),
        ("deep-in-field", with_raw(nested.decode()), 400),
        ("not-json", b"{'reason': 'x'}", 400),
        ("bad-utf8", b'{"reason": "\xff"}', 400),
    ]
    for wrong in ("[1, 2]", '{"a": 1}', "12345", "true", "null"):
        cases.append((f"wrong-type {wrong}", with_raw(wrong), 0))  # any 4xx: 400 or 422
    for top in (b"[]", b'"text"', b"42", b"null"):
        cases.append((f"top-level {top.decode()}", top, 0))
    return cases


def test_every_post_endpoint_refuses_hostile_bodies_with_a_4xx_and_records_nothing(
    paramedic: RunningParamedic, spec: dict[str, Any]
) -> None:
    """NaN, Infinity, 1e400, too deep, not JSON, wrong types, wrong top level: on every POST
    endpoint a 4xx whose detail names the problem (400 for the JSON itself), never a 5xx, and
    the timeline and alerts are exactly as before."""
    endpoints = post_endpoints(spec)
    assert len(endpoints) >= 7, endpoints
    before = Recorded(paramedic).snapshot()
    answers: dict[str, int] = {}
    with httpx.Client(base_url=paramedic.url, headers=AUTH, timeout=10) as client:
        for path, schema in endpoints:
            for name, body, expected in hostile_bodies(spec, schema):
                response = client.post(
                    path, content=body, headers={"content-type": "application/json"}
                )
                answers[f"{path} {name}"] = response.status_code
                assert 400 <= response.status_code < 500, (path, name, response.text)
                if expected:
                    assert expected == response.status_code, (path, name, response.text)
                detail = response.json()["detail"]
                assert detail, (path, name)
                if name in ("NaN", "Infinity", "-Infinity"):
                    assert f"{name} at char" in detail, detail
                if name.startswith("deep"):
                    assert "nested deeper than 64 levels" in detail, detail
    assert before == Recorded(paramedic).snapshot()


def test_unknown_ids_are_refused_and_record_nothing(
    paramedic: RunningParamedic, spec: dict[str, Any]
) -> None:
    """A well-formed body naming ids paramedic does not know (alert, incident, channel,
    service) in the path and in every free string: a 4xx on every endpoint (Alertmanager's
    webhook answers 200 and reports the alert skipped, as documented), nothing recorded."""
    before = Recorded(paramedic).snapshot()
    with httpx.Client(base_url=paramedic.url, headers=AUTH, timeout=10) as client:
        for path, schema in post_endpoints(spec):
            response = client.post(path, json=minimal(spec, schema))
            assert 400 <= response.status_code < 500, (path, response.text)
        hook = {
            "version": "4",
            "status": "firing",
            "alerts": [{"status": "firing", "labels": {"service": UNKNOWN, "alertname": "x"}}],
        }
        response = client.post("/api/v1/alertmanager", json=hook)
        assert 200 == response.status_code
        assert (0, 1) == (response.json()["accepted"], len(response.json()["skipped"]))
    assert before == Recorded(paramedic).snapshot()


def test_alertmanager_fields_are_bounded(paramedic: RunningParamedic) -> None:
    """A groupKey or an annotation of 200 KB fits in the body limit but not in the field's
    bound: 422 naming the field; nothing recorded."""
    before = Recorded(paramedic).snapshot()
    alert = {"status": "firing", "labels": {"service": "engine", "alertname": "Big"}}
    big = "x" * 200_000
    payloads = {
        "groupKey": {"version": "4", "status": "firing", "groupKey": big, "alerts": [alert]},
        "alerts[0].annotations.description": {
            "version": "4",
            "status": "firing",
            "alerts": [{**alert, "annotations": {"description": big}}],
        },
        "alerts[0].labels.alertname": {
            "version": "4",
            "status": "firing",
            "alerts": [{**alert, "labels": {**alert["labels"], "alertname": big}}],
        },
    }
    with httpx.Client(base_url=paramedic.url, headers=AUTH, timeout=10) as client:
        for field, payload in payloads.items():
            response = client.post("/api/v1/alertmanager", json=payload)
            assert 422 == response.status_code, response.text
            assert response.json()["detail"].startswith(f"{field}: string should have at most")
    assert before == Recorded(paramedic).snapshot()


def raw_post(url: str, path: str, head: list[str], chunks: list[bytes]) -> str:
    """Send a request by hand (headers, then body pieces, never finishing a chunked body);
    return the status line the server answers with, or "" if it waits for more."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        lines = [f"POST {path} HTTP/1.1", f"Host: {host}", f"Authorization: Bearer {TOKEN}"]
        sock.sendall(("\r\n".join([*lines, *head]) + "\r\n\r\n").encode())
        try:
            for chunk in chunks:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed while we were still sending
        try:
            answer = sock.recv(4096)
        except TimeoutError:
            return ""
        return answer.split(b"\r\n", 1)[0].decode()


def chunked(total: int, piece: int = 64 * 1024) -> list[bytes]:
    """`total` bytes of a JSON string as HTTP/1.1 chunks, without the closing 0-chunk."""
    data = b'{"reason": "' + b"x" * total
    return [
        f"{len(data[i : i + piece]):x}\r\n".encode() + data[i : i + piece] + b"\r\n"
        for i in range(0, len(data), piece)
    ]


def test_too_big_bodies_are_413_before_they_are_read(
    paramedic: RunningParamedic, spec: dict[str, Any]
) -> None:
    """On every POST endpoint: a Content-Length over 1 MiB is answered 413 at once (with no
    byte of body sent), and a chunked body without length is answered 413 as soon as 1 MiB has
    streamed, though the body never ends. Nothing recorded."""
    before = Recorded(paramedic).snapshot()
    for path, _ in post_endpoints(spec):
        declared = raw_post(
            paramedic.url,
            path,
            ["Content-Type: application/json", f"Content-Length: {10 * 2**30}"],
            [],
        )
        assert "HTTP/1.1 413 Request Entity Too Large" == declared, path
        streamed = raw_post(
            paramedic.url,
            path,
            ["Content-Type: application/json", "Transfer-Encoding: chunked"],
            chunked(LIMIT + 128 * 1024),
        )
        assert "HTTP/1.1 413 Request Entity Too Large" == streamed, path
    with httpx.Client(base_url=paramedic.url, headers=AUTH, timeout=10) as client:
        fits = client.post("/api/timeline/notes", json={"text": "x" * 1000, "service": UNKNOWN})
        assert 422 == fits.status_code  # under the limit: reaches the route, which names it
        over = client.post("/api/timeline/notes", content=b" " * (LIMIT + 1))
        assert 413 == over.status_code
        assert over.json()["detail"].startswith(f"body: larger than the limit of {LIMIT} bytes")
    assert before == Recorded(paramedic).snapshot()
