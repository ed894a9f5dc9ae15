"""Input generators for the parser fuzzers (tests/torture/test_fuzz_parsers.py).

Every generator takes a `random.Random`: the plain seeded loop passes its own (volume, a
million inputs), hypothesis passes `st.randoms()` (its draws are recorded, so a failure
shrinks). Structure-aware inputs are built with the real parts: heartbeats with the real
`encode` and keys, configs from the real config models' keys, Alertmanager payloads from the
v4 fields the route reads; then some are mutated, so the inputs reach the deep checks rather
than dying at the first byte.
"""

from __future__ import annotations

import hmac
import json
import types
import typing
from pathlib import Path
from random import Random
from typing import Any

import yaml
from pydantic import BaseModel

from paramedic.config.model import Config
from paramedic.core.failures import FAILURE_KINDS
from paramedic.wire import HEADER_SIZE, MAX_DATAGRAM, TAG_SIZE, encode

# -- heartbeats ---------------------------------------------------------------------------

KEY = bytes(range(32))
SHARED_KEY = b"paramedic-shared-fuzz-key-000007"
OWN_SERVICES = ("engine", "md-feed.nyse-1")
SHARED_SERVICES = ("r", "order-gw_02")
NOW_NS = 1_764_412_800_000_000_000
_OTHER_SERVICES = ("nobody", "ghost-1", "a" * 64, "x.y_z-0")


def heartbeat_fields(rng: Random) -> dict[str, Any]:
    """Fields for `encode`: any in-range value, edges weighted up; key matches the service
    except now and then (so bad_signature and unknown_service stay in the mix)."""
    roll = rng.random()
    if roll < 0.45:
        service, key, key_id = rng.choice(OWN_SERVICES), KEY, 1
    elif roll < 0.8:
        service, key, key_id = rng.choice(SHARED_SERVICES), SHARED_KEY, 7
    else:
        service = rng.choice(_OTHER_SERVICES)
        key, key_id = rng.choice((KEY, SHARED_KEY, b"k")), rng.randrange(256)
    extras = [
        (_edge(rng, 16), rng.randbytes(rng.choice((0, 1, 4, 4, 8, rng.randrange(60)))))
        for _ in range(rng.choice((0, 0, 1, 2, rng.randrange(8))))
    ]
    return {
        "service": service,
        "key": key,
        "key_id": key_id,
        "instance": rng.randbytes(16),
        "seq": _edge(rng, 64),
        "sent_ns": NOW_NS + rng.choice((0, rng.randrange(-3 * 10**9, 3 * 10**9)))
        if rng.random() < 0.8
        else _edge(rng, 64) - 2**63,
        "flags": rng.randrange(4),
        "load_avg_milli": _edge(rng, 32),
        "rss_bytes": _edge(rng, 64),
        "threads": _edge(rng, 32),
        "extras": extras,
    }


def _edge(rng: Random, bits: int) -> int:
    """An unsigned `bits`-bit value, often 0, 1 or the maximum."""
    roll = rng.random()
    if roll < 0.15:
        return 0
    if roll < 0.25:
        return 2**bits - 1
    if roll < 0.3:
        return 1
    return rng.getrandbits(bits)


def valid_datagram(rng: Random) -> bytes:
    """A datagram the real encoder signs (shrinking the extras until it fits 1024 bytes)."""
    fields = heartbeat_fields(rng)
    while True:
        size = HEADER_SIZE + len(fields["service"]) + TAG_SIZE
        size += sum(4 + len(v) for _, v in fields["extras"])
        if size <= MAX_DATAGRAM:
            return encode(**fields)
        fields["extras"].pop()


def resign(body: bytes, key: bytes) -> bytes:
    """`body` (without a tag) followed by a correct HMAC-SHA256 tag under `key`."""
    return body + hmac.digest(key, body, "sha256")


def mutated_datagram(rng: Random) -> bytes:
    """A valid datagram with bytes, lengths or flags changed; half of them signed again with
    the right key, so the checks after the tag see garbage too."""
    data = bytearray(valid_datagram(rng))
    for _ in range(rng.choice((1, 1, 2, 3, rng.randrange(1, 12)))):
        op = rng.randrange(9)
        at = rng.randrange(len(data) + 1)
        if op == 0 and data:
            data[min(at, len(data) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1 and data:
            data[min(at, len(data) - 1)] = rng.randrange(256)
        elif op == 2:
            data[at:at] = rng.randbytes(rng.choice((1, 2, 4, rng.randrange(1, 40))))
        elif op == 3:
            del data[at : at + rng.choice((1, 2, 4, rng.randrange(1, 40)))]
        elif op == 4:
            del data[rng.randrange(len(data) + 1) :]
        elif op == 5 and len(data) > 7:
            data[7] = rng.choice((0, 1, 64, 65, 255, rng.randrange(256)))  # service_len
        elif op == 6 and len(data) > 57:
            data[56:58] = _edge(rng, 16).to_bytes(2, "big")  # extras_len
        elif op == 7 and len(data) > 5:
            data[5] = rng.randrange(256)  # flags, reserved bits included
        elif op == 8:
            data += rng.randbytes(rng.randrange(1, 1100))
    if rng.random() < 0.5 and len(data) > TAG_SIZE:
        key = KEY if data[58:].startswith(OWN_SERVICES[0].encode()) else SHARED_KEY
        if rng.random() < 0.5:
            key = KEY
        return resign(bytes(data[:-TAG_SIZE]), key)
    return bytes(data)


def garbage_header(rng: Random) -> bytes:
    """Right magic and version, every other header byte random, lengths made to add up
    about half the time, signed with a configured key: the tag passes over garbage fields."""
    head = bytearray(b"PMHB\x01" + rng.randbytes(HEADER_SIZE - 5))
    service = rng.choice((*OWN_SERVICES, *SHARED_SERVICES)).encode()
    if rng.random() < 0.3:
        service = rng.randbytes(rng.randrange(1, 70))
    extras = rng.randbytes(rng.choice((0, 0, 4, rng.randrange(80))))
    if rng.random() < 0.6:
        head[7] = len(service) & 0xFF
        head[56:58] = len(extras).to_bytes(2, "big")
    if rng.random() < 0.5:
        head[6] = rng.choice((1, 7))
    key = KEY if service in (b"engine", b"md-feed.nyse-1") else SHARED_KEY
    return resign(bytes(head) + service + extras, key)


def random_bytes(rng: Random) -> bytes:
    """Anything: empty, short, around the minimum, near and past the 1024-byte limit."""
    size = rng.choice((0, 1, 4, 5, 90, 91, 92, rng.randrange(200), 1024, 1025, rng.randrange(1400)))
    prefix = rng.choice((b"", b"", b"PMHB", b"PMHB\x01", b"PMHB\x02", b"PMH"))
    return (prefix + rng.randbytes(size))[: max(size, len(prefix))]


def any_datagram(rng: Random) -> bytes:
    """One input for the decoder, from every generator above."""
    roll = rng.random()
    if roll < 0.15:
        return random_bytes(rng)
    if roll < 0.35:
        return valid_datagram(rng)
    if roll < 0.85:
        return mutated_datagram(rng)
    return garbage_header(rng)


# -- config files ---------------------------------------------------------------------------

CONFIG_ENV = {"T": "fuzz-token-0123456789abcdef", "K": "heartbeat-key", "E": "", "H": "h:1"}
TOKEN_FILE = "token.txt"  # written by the test into its base_dir
_WORDS = (
    "",
    " ",
    "engine",
    "Engine!",
    "a" * 65,
    "${T}",
    "${MISSING}",
    "${E:-fallback}",
    "$${T}",
    "${",
    "\u00e9",
    "\x00",
    "0",
    "-1",
    "1e400",
    "true",
    "null",
    "*",
    "P0",
    "critical",
    "market_open",
    "Europe/London",
    "Not/AZone",
)
_DURATIONS = ("100ms", "1s", "5s", "0s", "2m", "1h", "-1s", "10", "1.5s", "1d", "xs", "0.0001ms")
_DURATIONS += ("9" * 400 + "s", "3651d", "\u0661s", "1e3s")
_SIZES = ("1KiB", "64KiB", "1MiB", "2GiB", "10%", "1%", "100B", "0", "10MiB/min", "-5MiB")
_SIZES += ("9" * 400 + "MiB", "9000000TiB", "\u0661MiB", "1e3%")
_URLS = ("http://127.0.0.1:8081/health", "https://x.invalid/", "ftp://x", "not a url", "http://")
_PATHS = (TOKEN_FILE, "missing.token", ".", "/", "var/x.db", "../x", "/tmp", "a\x00b")
_PATHS += ("/dev/zero", "/dev/null", "/proc/self/status")
_LISTEN = ("127.0.0.1:0", "127.0.0.1:9090", ":9999", "[::1]:80", "host:1", "1:2:3", "x", "70000")
_DURATION_HINTS = ("timeout", "interval", "period", "after", "window", "backoff", "grace")
_DURATION_HINTS += ("every", "pause", "skew", "expected", "within", "ttl", "delay", "for")


def config_text(rng: Random) -> bytes:
    """A YAML document built from the real config models' keys, mostly well-typed values,
    sometimes wrong ones; emitted in block or flow style, now and then mutated."""
    tree = _model_value(rng, Config, "", 0)
    if isinstance(tree, dict) and rng.random() < 0.5:
        tree = {"services": {"engine": {"process": {"argv": ["x"]}}}, **tree}
    text = yaml.safe_dump(tree, default_flow_style=rng.random() < 0.3, sort_keys=False)
    data = bytearray(text.encode("utf-8", "surrogatepass"))
    if rng.random() < 0.25:
        for _ in range(rng.randrange(1, 4)):
            at = rng.randrange(len(data) + 1)
            piece = rng.choice((b":", b"-", b" ", b"\n", b"&a ", b"*a", b"[", b"{", b"'"))
            if rng.random() < 0.5:
                data[at:at] = piece
            else:
                del data[at : at + rng.randrange(1, 6)]
    return bytes(data)


def _model_value(rng: Random, annotation: Any, name: str, depth: int) -> Any:
    if rng.random() < 0.04:
        return _wrong(rng)
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _model_value(rng, typing.get_args(annotation)[0], name, depth)
    if origin in (typing.Union, types.UnionType):
        return _model_value(rng, rng.choice(typing.get_args(annotation)), name, depth)
    if origin is typing.Literal:
        return rng.choice((*typing.get_args(annotation), "other"))
    if origin is list:
        if depth > 6:
            return []
        (item,) = typing.get_args(annotation) or (Any,)
        return [_model_value(rng, item, name, depth + 1) for _ in range(rng.randrange(3))]
    if origin is dict:
        if depth > 6:
            return {}
        _key, value = typing.get_args(annotation) or (str, Any)
        keys = {
            rng.choice(("engine", "db", "p0", "Bad Name", "x")) for _ in range(rng.randrange(3))
        }
        return {k: _model_value(rng, value, name, depth + 1) for k in keys}
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if depth > 7:
            return {}
        out: dict[str, Any] = {}
        for field_name, field in annotation.model_fields.items():
            if rng.random() < 0.45:
                key = field.alias or field_name
                out[key] = _model_value(rng, field.annotation, key, depth + 1)
        if rng.random() < 0.05:
            out[rng.choice(("timout", "extra", "servics"))] = 1
        return out
    return _scalar(rng, annotation, name)


def _scalar(rng: Random, annotation: Any, name: str) -> Any:
    if annotation is bool:
        return rng.random() < 0.5
    if annotation is int:
        return rng.choice((0, 1, 2, 3, 5, 255, 256, -1, 2**63, rng.randrange(-10, 1000)))
    if annotation is float:
        return rng.choice((0.0, 0.5, 1.0, 8.0, -1.0, 1e308, float("inf"), float("nan")))
    if annotation is Path:
        return rng.choice(_PATHS)
    if name.endswith("_env"):
        return rng.choice((*CONFIG_ENV, "MISSING"))
    if name.endswith("_file"):
        return rng.choice(_PATHS)
    if name == "listen":
        return rng.choice(_LISTEN)
    if "url" in name.lower():
        return rng.choice(_URLS)
    if any(hint in name for hint in _DURATION_HINTS):
        return rng.choice(_DURATIONS)
    if any(hint in name for hint in ("size", "limit", "free", "slope")):
        return rng.choice(_SIZES)
    if annotation is str or rng.random() < 0.5:
        return rng.choice(_WORDS)
    return _wrong(rng)


def _wrong(rng: Random) -> Any:
    """A value of some other type than the field wants."""
    return rng.choice((None, 7, -3.5, True, "?", [], {}, ["a", 1], {"k": "v"}, "9" * 30))


# -- Alertmanager webhook ----------------------------------------------------------------------

_LABEL_VALUES = ("engine", "db", "", "x" * 300, "P0", "critical", "Warning ", "bogus")
_KINDS = (*FAILURE_KINDS, "", "nonsense", "crash ")


def alertmanager_payload(rng: Random) -> Any:
    """A version-4 webhook payload, mostly well formed, with some fields dropped, retyped or
    stretched past their limits."""
    alerts = [_alert(rng) for _ in range(rng.choice((0, 1, 1, 2, 3, rng.randrange(12))))]
    payload: dict[str, Any] = {
        "version": rng.choice(("4", "4", "4", 4, "3", None)),
        "groupKey": rng.choice(('{}:{alertname="x"}', "", "g" * rng.choice((1, 16385)))),
        "truncatedAlerts": rng.choice((0, 0, 1, -1, 2**70, "3")),
        "status": rng.choice(("firing", "resolved", "Firing", "")),
        "receiver": "paramedic",
        "groupLabels": {"alertname": "EngineDown"},
        "commonLabels": _labels(rng),
        "commonAnnotations": {"summary": "s"},
        "externalURL": "http://alertmanager:9093",
        "alerts": alerts,
    }
    for key in list(payload):
        roll = rng.random()
        if roll < 0.05:
            del payload[key]
        elif roll < 0.09:
            payload[key] = _json_value(rng, 2)
    if rng.random() < 0.05:
        payload["extra"] = _json_value(rng, 3)
    return payload


def _alert(rng: Random) -> Any:
    if rng.random() < 0.05:
        return _json_value(rng, 2)
    alert: dict[str, Any] = {
        "status": rng.choice(("firing", "firing", "resolved", "pending")),
        "labels": _labels(rng),
        "annotations": rng.choice(({}, {"summary": "latency high"}, {"description": "d" * 20})),
        "startsAt": "2026-12-06T07:00:00.123456789Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph",
        "fingerprint": "a1b2c3d4e5f60718",
    }
    for key in list(alert):
        if rng.random() < 0.05:
            alert[key] = _json_value(rng, 1) if rng.random() < 0.5 else alert.pop(key)
    return alert


def _labels(rng: Random) -> Any:
    labels: dict[str, Any] = {"alertname": rng.choice(("EngineDown", "", "x" * 257))}
    if rng.random() < 0.85:
        labels["service"] = rng.choice(_LABEL_VALUES)
    if rng.random() < 0.5:
        labels[rng.choice(("kind", "paramedic_kind"))] = rng.choice(_KINDS)
    if rng.random() < 0.5:
        labels["severity"] = rng.choice(_LABEL_VALUES)
    if rng.random() < 0.3:
        labels["instance"] = "10.0.0.1:9100"
    if rng.random() < 0.05:
        labels.update({f"l{i}": "v" for i in range(rng.choice((127, 129)))})
    if rng.random() < 0.05:
        labels[rng.choice(("service", "severity", "kind"))] = _json_value(rng, 1)
    return labels


def _json_value(rng: Random, depth: int) -> Any:
    """Any JSON value (strict JSON: finite numbers, valid strings), a few levels deep."""
    roll = rng.randrange(8 if depth > 0 else 6)
    if roll == 0:
        return None
    if roll == 1:
        return rng.random() < 0.5
    if roll == 2:
        return rng.choice((0, -1, 2**53, 2**64 - 1, rng.randrange(-(10**6), 10**6)))
    if roll == 3:
        return rng.choice((0.5, -0.0, 1e308, -1e-308))
    if roll in (4, 5):
        return rng.choice(("", "firing", "4", "\u00e9\u4e2d", "\\u0000", "x" * rng.randrange(40)))
    if roll == 6:
        return [_json_value(rng, depth - 1) for _ in range(rng.randrange(4))]
    keys = ("version", "status", "alerts", "labels", "service", "x", "")
    return {rng.choice(keys): _json_value(rng, depth - 1) for _ in range(rng.randrange(4))}


def json_body(rng: Random) -> bytes:
    """A request body: a payload as JSON, or some other JSON value, now and then cut short."""
    value = alertmanager_payload(rng) if rng.random() < 0.85 else _json_value(rng, 4)
    body = json.dumps(value).encode()
    if rng.random() < 0.05:
        body = body[: rng.randrange(len(body) + 1)]
    return body


def _config_keys(model: type[BaseModel], out: set[str], depth: int = 0) -> set[str]:
    """Every key the config models know, at any depth."""
    for name, field in model.model_fields.items():
        out.add(field.alias or name)
        for inner in _types_in(field.annotation):
            if isinstance(inner, type) and issubclass(inner, BaseModel) and depth < 8:
                _config_keys(inner, out, depth + 1)
    return out


def _types_in(annotation: Any) -> list[Any]:
    args = typing.get_args(annotation)
    return [annotation, *(t for arg in args for t in _types_in(arg))]


CONFIG_KEYS = sorted(_config_keys(Config, set()))
_SYNTAX = (": ", "\n", "\n  ", "\n    ", "- ", "[", "]", "{", "}", ", ", "&a ", "*a", "<<: *a")
_SYNTAX += ("'", '"', "# c", "---\n", "? ", "!!str ", "!!binary ", "%YAML 1.1\n", "~", "\t")


def yaml_soup(rng: Random) -> bytes:
    """Config keys, values and YAML syntax strung together at random: cheap to parse, and it
    reaches the YAML layer and often validation."""
    parts = []
    for _ in range(rng.randrange(1, 40)):
        roll = rng.random()
        if roll < 0.35:
            parts.append(rng.choice(CONFIG_KEYS))
        elif roll < 0.75:
            parts.append(rng.choice(_SYNTAX))
        else:
            parts.append(str(rng.choice((*_WORDS, *_DURATIONS, *_SIZES, *_LISTEN))))
    return "".join(parts).encode("utf-8", "surrogatepass")
