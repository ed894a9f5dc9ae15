"""The three parsers that read what strangers send, fuzzed: heartbeat datagrams, config files,
Alertmanager's webhook. Each gives a value or its documented rejection, never an exception.

Two drivers per target. Hypothesis (no example database, fixed seed) explores and shrinks a
failure to a small input; a plain seeded loop gives the volume (`make torture`: 10^6 inputs
per target, PARAMEDIC_FUZZ_INPUTS to change it; PARAMEDIC_FUZZ_SEED to change the seed). The
loop prints its count, rate and seed; docs/reliability.md ("Fuzzing") has the figures.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from random import Random
from typing import TypeVar

import httpx
import pytest
from fastapi import FastAPI, HTTPException
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from paramedic.alerting.reach import review
from paramedic.api.alertmanager import parse_webhook, router, to_signal
from paramedic.api.auth import TokenAuth
from paramedic.api.body_guard import MAX_JSON_DEPTH, _json_problem, install_body_guard
from paramedic.config import Config, InvalidConfig, parse_config, parse_config_bytes
from paramedic.detect.heartbeat import HeartbeatReceiver
from paramedic.detect.signals import Signal
from paramedic.store.sqlite import SQLiteStore
from paramedic.testing import FakeClock
from paramedic.wire import REJECT_REASONS, Heartbeat, KeyRing, Rejection, decode
from tests.torture import long_run
from tests.torture.fuzz_inputs import (
    CONFIG_ENV,
    KEY,
    NOW_NS,
    OWN_SERVICES,
    SHARED_KEY,
    SHARED_SERVICES,
    TOKEN_FILE,
    any_datagram,
    config_text,
    garbage_header,
    json_body,
    mutated_datagram,
    random_bytes,
    valid_datagram,
    yaml_soup,
)
from tests.torture.reference_decoder import reference_decode

# 10^6 inputs of the slowest target take about ten minutes on 2 vCPUs.
pytestmark = pytest.mark.timeout(3600 if long_run() else 120)

SEED = int(os.environ.get("PARAMEDIC_FUZZ_SEED", "20261206"))
REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def loop_inputs(short: int) -> int:
    """Inputs the plain loop runs per target: 10^6 under `make torture`, `short` otherwise."""
    if long_run():
        return int(os.environ.get("PARAMEDIC_FUZZ_INPUTS", "1000000"))
    return short


def fuzz_settings(short: int, long: int) -> settings:
    return settings(
        max_examples=long if long_run() else short,
        database=None,  # nothing written into the repository; the seed makes runs repeat
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


Mix = list[tuple[str, float, Callable[[Random], T]]]


def drive(name: str, count: int, mix: Mix[T], check: Callable[[T], None]) -> int:
    """Run `check` on `count` inputs, each from a generator of `mix` picked by weight; print
    the count and rate per generator; fail with the first few failing inputs (each printable
    as an `@example`)."""
    rng = Random(f"{SEED}:{name}")
    names = [n for n, _, _ in mix]
    weights = [w for _, w, _ in mix]
    makers = {n: make for n, _, make in mix}
    done = dict.fromkeys(names, 0)
    spent = dict.fromkeys(names, 0.0)
    failures: list[str] = []
    started = time.perf_counter()
    for index in range(count):
        kind = rng.choices(names, weights)[0]
        began = time.perf_counter()
        data = makers[kind](rng)
        try:
            check(data)
        except Exception as exc:  # every kind of failure is reported
            failures.append(f"input {index} ({kind}): {data!r}\n  -> {type(exc).__name__}: {exc}")
        done[kind] += 1
        spent[kind] += time.perf_counter() - began
        if len(failures) >= 5:
            break
    elapsed = time.perf_counter() - started
    total = sum(done.values())
    print(
        f"\nfuzz {name}: {total:,} inputs in {elapsed:.1f} s ({total / elapsed:,.0f}/s),"
        f" seed {SEED}, {len(failures)} failures"
    )
    for kind in names:
        rate = done[kind] / spent[kind] if spent[kind] else 0.0
        print(f"  {kind}: {done[kind]:,} inputs ({rate:,.0f}/s)")
    assert not failures, "\n".join(failures)
    return total


# -- heartbeat decoder ---------------------------------------------------------------------

RING = KeyRing(
    {service: {1: KEY} for service in OWN_SERVICES},
    shared={7: SHARED_KEY},
    shared_services=SHARED_SERVICES,
)
SKEW_NS = 2_000_000_000


def _key_for(service: str, key_id: int) -> bytes | None:
    if service in OWN_SERVICES:
        return KEY if key_id == 1 else None
    return SHARED_KEY if service in SHARED_SERVICES and key_id == 7 else None


def check_datagram(data: bytes) -> None:
    """The decoder's verdict is the one the protocol document gives, field for field (an
    exception swallowed inside `decode` would show as a wrong `malformed`)."""
    verdict = decode(data, RING, now_ns=NOW_NS, max_skew_ns=SKEW_NS)
    expected = reference_decode(data, _key_for, NOW_NS, SKEW_NS)
    if isinstance(expected, str):
        assert Rejection(expected) == verdict  # type: ignore[arg-type]
    else:
        assert isinstance(verdict, Heartbeat), verdict
        assert expected == asdict(verdict)


@seed(SEED)
@fuzz_settings(short=300, long=20_000)
@given(st.binary(max_size=1100))
def test_any_bytes_decode_to_a_heartbeat_or_a_documented_rejection(data: bytes) -> None:
    """Random bytes, shrinkable: the verdict the protocol document gives, never an exception."""
    check_datagram(data)


@seed(SEED)
@fuzz_settings(short=200, long=20_000)
@given(st.randoms(use_true_random=False))
def test_mutated_and_resigned_datagrams_get_the_documented_verdict(rng: Random) -> None:
    """Datagrams from the real encoder, then bytes, lengths, flags and extras changed, many
    signed again with the right key so the checks after the tag see garbage."""
    check_datagram(any_datagram(rng))


def test_decoder_loop() -> None:
    """Volume: the same property over 10^6 datagrams under `make torture`."""
    mix: Mix[bytes] = [
        ("random bytes", 0.15, random_bytes),
        ("valid", 0.2, valid_datagram),
        ("mutated", 0.5, mutated_datagram),
        ("garbage header, signed", 0.15, garbage_header),
    ]
    drive("heartbeat-decode", loop_inputs(3000), mix, check_datagram)


def _stream(rng: Random) -> list[bytes]:
    """A burst as a receiver sees it: fresh datagrams, repeats of earlier ones (replays), and
    garbage, from a few instances per service."""
    sent: list[bytes] = []
    for _ in range(200):
        roll = rng.random()
        if sent and roll < 0.25:
            sent.append(rng.choice(sent))
        elif roll < 0.7:
            sent.append(valid_datagram(rng))
        else:
            sent.append(any_datagram(rng))
    return sent


def check_receiver(stream: list[bytes]) -> None:
    """Through the receiver's real `handle` with a replay guard: every datagram is counted
    once, as accepted or by a documented reason; state stays bounded and only configured
    services are handed on."""
    heard: set[str] = set()
    receiver = HeartbeatReceiver(
        RING,
        host="127.0.0.1",
        port=0,
        wall_ns=lambda: NOW_NS,
        on_beat=lambda beat: heard.add(beat.service),
    )
    for data in stream:
        receiver.handle(data)
    assert len(stream) == receiver.accepted + sum(receiver.rejections.values())
    assert set(receiver.rejections) == set(REJECT_REASONS)
    assert 0 == receiver.hook_errors
    services = len(OWN_SERVICES) + len(SHARED_SERVICES)
    assert receiver.replay.size <= services * 9
    assert heard <= set(OWN_SERVICES) | set(SHARED_SERVICES)


def test_receiver_stream_loop() -> None:
    """Streams of 200 datagrams through one receiver each (replays and restarts included):
    10^6 datagrams under `make torture`."""
    drive(
        "heartbeat-receiver (streams of 200)",
        loop_inputs(2000) // 200,
        [("streams", 1, _stream)],
        check_receiver,
    )


# -- config loader -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def config_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("config")
    (folder / TOKEN_FILE).write_text(CONFIG_ENV["T"] + "\n")
    shutil.copytree(REPO / "examples" / "demo-secrets", folder / "demo-secrets")
    return folder


def config_checker(base_dir: Path) -> Callable[[bytes], None]:
    def check(data: bytes) -> None:
        """A Config, or InvalidConfig whose every issue is placed and says something."""
        try:
            config = parse_config_bytes(
                data, source="f.yaml", env=CONFIG_ENV, base_dir=base_dir, review=review
            )
        except InvalidConfig as exc:
            issues = exc.issues
        else:
            assert isinstance(config, Config)
            return
        assert issues
        for issue in issues:
            assert issue.line is not None, issue
            assert issue.column is not None, issue
            assert issue.message.strip(), issue

    return check


DEMO = (REPO / "examples" / "demo.yaml").read_bytes()


def mutated_demo(rng: Random) -> bytes:
    """The shipped demo config with a few bytes deleted, replaced or inserted."""
    data = bytearray(DEMO)
    for _ in range(rng.randrange(1, 5)):
        at = rng.randrange(len(data) + 1)
        size = rng.randrange(1, 4)
        roll = rng.random()
        if roll < 0.33:
            del data[at : at + size]
        elif roll < 0.66:
            data[at : at + size] = rng.randbytes(size)
        else:
            data[at:at] = rng.choice((rng.randbytes(size), b": ", b"\n  ", b"- ", b"&x ", b"*x"))
    return bytes(data)


@seed(SEED)
@fuzz_settings(short=60, long=2_000)
@given(st.randoms(use_true_random=False))
def test_structured_config_gives_a_config_or_a_located_error(config_dir: Path, rng: Random) -> None:
    """YAML built from the real config models' keys with good and bad values; same property
    as tests/unit/test_config_hostile.py (which covers random bytes and YAML tokens)."""
    config_checker(config_dir)(config_text(rng))


def test_config_loop(config_dir: Path) -> None:
    """Volume: structure-aware documents, the mutated demo and random bytes."""
    # A validated document costs the loader 3-13 ms (most of it building the alerting
    # defaults), a YAML-level refusal ~0.5 ms, a byte-level one ~50 us: the deep generators
    # get a small share so that 10^6 inputs take minutes, and their counts are reported.
    mix: Mix[bytes] = [
        ("structure-aware", 0.01, config_text),
        ("mutated demo", 0.005, mutated_demo),
        ("config-key soup", 0.30, yaml_soup),
        ("random bytes", 0.685, lambda rng: rng.randbytes(rng.randrange(300))),
    ]
    if not long_run():
        mix = [(name, 1.0, make) for name, _, make in mix]
    drive("config", loop_inputs(200), mix, config_checker(config_dir))


# -- Alertmanager webhook ----------------------------------------------------------------------


def check_webhook(body: bytes) -> None:
    """What the app does with a body: the guard refuses it (400) or the route parses it into
    a payload or an HTTPException 400/422 with a sentence; every alert becomes a signal."""
    if _json_problem(body, MAX_JSON_DEPTH) is not None:
        return
    try:
        payload = parse_webhook(body)
    except HTTPException as exc:
        refused = exc
    else:
        refused = None
    if refused is not None:
        assert refused.status_code in (400, 422), refused
        assert isinstance(refused.detail, str), refused
        assert refused.detail.strip(), refused
        return
    for alert in payload.alerts:
        notes: list[str] = []
        signal, kind = to_signal(alert, alert.labels.get("service") or "engine", 1.0, notes)
        assert isinstance(signal, Signal)
        assert signal.ok == (alert.status == "resolved") == (kind is None)
        assert signal.reason


@seed(SEED)
@fuzz_settings(short=100, long=20_000)
@given(st.randoms(use_true_random=False))
def test_webhook_payloads_give_signals_or_a_4xx(rng: Random) -> None:
    """Alertmanager v4 payloads, well formed or not, and other JSON: a payload or a 4xx."""
    check_webhook(json_body(rng))


@seed(SEED)
@fuzz_settings(short=200, long=20_000)
@given(st.binary(max_size=300) | st.text(max_size=200).map(str.encode))
def test_any_body_gives_signals_or_a_4xx(body: bytes) -> None:
    """Not even JSON: the same property."""
    check_webhook(body)


def test_webhook_loop() -> None:
    """Volume: 10^6 bodies under `make torture`."""
    mix: Mix[bytes] = [
        ("payloads", 0.9, json_body),
        ("random bytes", 0.1, lambda rng: rng.randbytes(rng.randrange(200))),
    ]
    drive("alertmanager-parse", loop_inputs(3000), mix, check_webhook)


OPERATOR_TOKEN = "operator-token-0123456789"


class _Context:
    """What the route reads: auth, clock, known services, a sink, durability, the store."""

    def __init__(self, store: SQLiteStore) -> None:
        config = parse_config(
            "api:\n  tokens: [{name: olga, role: operator, token_env: T}]\n",
            env={"T": OPERATOR_TOKEN},
        )
        self.auth = TokenAuth(config.api.tokens)
        self.clock = FakeClock(wall=1_767_225_600.0)
        self.known_services = frozenset({"engine", "db"})
        self.store = store
        self.signals = 0

    def signal_sink(self, service: str, signal: Signal) -> bool:
        self.signals += 1
        return service in self.known_services

    async def inputs_durable(self) -> None:
        return None


def _asgi_batch(folder: Path, bodies: list[bytes]) -> Iterator[tuple[bytes, int, str]]:
    async def post_all() -> list[tuple[bytes, int, str]]:
        store = SQLiteStore(folder / "p.db")
        await store.open()
        app = FastAPI()
        app.state.context = _Context(store)
        install_body_guard(app)
        app.include_router(router)
        headers = {"content-type": "application/json", "Authorization": f"Bearer {OPERATOR_TOKEN}"}
        out = []
        try:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                for body in bodies:
                    answer = await client.post(
                        "/api/v1/alertmanager", content=body, headers=headers
                    )
                    out.append((body, answer.status_code, answer.text))
        finally:
            await store.close()
        return out

    return iter(asyncio.run(post_all()))


def test_webhook_through_the_app(tmp_path: Path) -> None:
    """A fraction of the bodies through the ASGI app (guard, auth, route, audit): never a
    5xx, and 2xx exactly when the direct parse accepts the body."""
    rng = Random(f"{SEED}:alertmanager-asgi")
    count = loop_inputs(100) // 50 if long_run() else 100
    bodies = [json_body(rng) for _ in range(count)]
    started = time.perf_counter()
    answers = list(_asgi_batch(tmp_path, bodies))
    elapsed = time.perf_counter() - started
    print(f"\nfuzz alertmanager-asgi: {len(answers)} requests in {elapsed:.1f} s, seed {SEED}")
    for body, status, text in answers:
        assert status < 500, (body, text)
        parsed = _json_problem(body, MAX_JSON_DEPTH) is None and _parses(body)
        assert (200 == status) == parsed, (body, status, text)


def _parses(body: bytes) -> bool:
    try:
        parse_webhook(body)
    except HTTPException:
        return False
    return True
