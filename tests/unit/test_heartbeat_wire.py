"""Heartbeat wire format v1: codec, rejections, doc test vectors, robustness."""

from __future__ import annotations

import dataclasses
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paramedic.detect.heartbeat import ReplayGuard
from paramedic.wire import (
    FLAG_SHUTTING_DOWN,
    FLAG_STALLED,
    Heartbeat,
    HmacKey,
    KeyRing,
    Rejection,
    WireError,
    decode,
    encode,
)
from tests.heartbeat_vectors import (
    KEY,
    LONG_KEY,
    LONG_SERVICE,
    SHARED_KEY,
    VECTOR_FIELDS,
    doc_vectors,
)

NOW = 1_764_412_800_000_000_000
INSTANCE = bytes.fromhex("00112233445566778899aabbccddeeff")
RING = KeyRing(
    {"md-feed.nyse-1": {1: KEY}, "order-gw_02": {1: KEY}},
    shared={7: SHARED_KEY},
    shared_services=["r", "any.svc", "md-feed.nyse-1"],
)

# Copies of the doc's vectors: the doc, this file and the encoder must all agree.
VECTOR_1 = (
    "504d4842 01 00 01 0e 00112233445566778899aabbccddeeff 0000000000000000"
    " 187c7417e5270000 000004e2 0000000020000000 00000018 0000 6d642d666565642e6e7973652d31"
    " 39f75feff9b730a7256ee4bd6b1c31794234e20f0d3abc0fb907feba24e64b74"
)
VECTOR_2 = (
    "504d4842 01 01 01 0b f0e1d2c3b4a5968778695a4b3c2d1e0f 000000000012d687"
    " 187c7417ec82cd15 00000f23 0000000080000000 00000039 000e 6f726465722d67775f3032"
    " 0001 0004 000005fe 8001 0002 6869"
    " b76661111c8322311bcf7859028b8ed174a61d08d669d3db2c6af66982fdcd3d"
)
VECTOR_3 = (
    "504d4842 01 02 07 01 a0a1a2a3a4a5a6a7a8a9aaabacadaeaf ffffffffffffffff"
    " 187c741820c1ca00 00000000 0000000000000000 00000001 0000 72"
    " 87f7dfe6fb4f8fc583f4a05154f46fc263d1132029fe8dddb21d1096af57034c"
)


def _hex(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


VECTOR_4 = (
    "504d4842 01 03 ff 40 fffefdfcfbfaf9f8f7f6f5f4f3f2f1f0 0000000000000001"
    " ffffffffffffffff ffffffff ffffffffffffffff ffffffff 0008"
    " 7269736b2d656e67696e652e65752d776573742d312e7072696d6172795f412d"
    "303132333435363738392e6162636465666768696a6b6c6d6e6f707172737475"
    " 0001 0004 ffffffff"
    " e96c635ae842fbea930848d439e3479c076951b300488f4092526e0c9ee633e1"
)


def _independent_encode(
    *,
    key: bytes,
    key_id: int,
    service: str,
    instance: bytes,
    seq: int,
    sent_ns: int,
    flags: int = 0,
    load_milli: int = 0,
    rss: int = 0,
    threads: int = 0,
    extras: bytes = b"",
) -> bytes:
    """A sender written from section 2 and 4 of the document only, without paramedic's code."""
    sid = service.encode("utf-8")
    body = (
        b"PMHB"
        + bytes([1, flags, key_id, len(sid)])
        + instance
        + seq.to_bytes(8, "big")
        + sent_ns.to_bytes(8, "big", signed=True)
        + load_milli.to_bytes(4, "big")
        + rss.to_bytes(8, "big")
        + threads.to_bytes(4, "big")
        + len(extras).to_bytes(2, "big")
        + sid
        + extras
    )
    return body + hmac.new(key, body, "sha256").digest()


def _valid(**overrides: object) -> bytes:
    fields: dict[str, object] = {
        "key": KEY,
        "key_id": 1,
        "service": "md-feed.nyse-1",
        "instance": INSTANCE,
        "seq": 5,
        "sent_ns": NOW,
    }
    fields.update(overrides)
    return _independent_encode(**fields)  # type: ignore[arg-type]


def test_round_trip_keeps_every_field() -> None:
    """What encode writes, decode returns unchanged, extras and flags included."""
    datagram = encode(
        service="md-feed.nyse-1",
        key=KEY,
        key_id=1,
        instance=INSTANCE,
        seq=42,
        sent_ns=NOW,
        flags=FLAG_STALLED | FLAG_SHUTTING_DOWN,
        load_avg_milli=999,
        rss_bytes=123_456_789,
        threads=8,
        extras=[(0x0001, (77).to_bytes(4, "big"))],
    )
    expected = Heartbeat(
        service="md-feed.nyse-1",
        instance=INSTANCE,
        seq=42,
        sent_ns=NOW,
        flags=FLAG_STALLED | FLAG_SHUTTING_DOWN,
        key_id=1,
        load_avg_milli=999,
        rss_bytes=123_456_789,
        threads=8,
        extras=((0x0001, (77).to_bytes(4, "big")),),
    )
    actual = decode(datagram, RING, now_ns=NOW)
    assert expected == actual
    assert isinstance(actual, Heartbeat)
    assert (True, True, 0.999, 77) == (
        actual.stalled,
        actual.shutting_down,
        actual.load_avg,
        actual.beat_age_ms,
    )


def test_heartbeat_is_frozen() -> None:
    """A decoded heartbeat cannot be altered by a consumer further down the pipeline."""
    beat = decode(_valid(), RING)
    assert isinstance(beat, Heartbeat)
    with pytest.raises(dataclasses.FrozenInstanceError):
        beat.seq = 6  # type: ignore[misc]


def test_doc_holds_four_vectors_including_ones_with_extras() -> None:
    """The document ships the promised vectors, and the copies in this file match them."""
    vectors = doc_vectors()
    assert [1, 2, 3, 4] == sorted(vectors)
    assert {
        1: _hex(VECTOR_1),
        2: _hex(VECTOR_2),
        3: _hex(VECTOR_3),
        4: _hex(VECTOR_4),
    } == vectors
    assert 0 < int.from_bytes(vectors[2][56:58], "big")


@pytest.mark.parametrize("number", [1, 2, 3, 4])
def test_encoder_reproduces_doc_vector_byte_exact(number: int) -> None:
    """The encoder emits exactly the bytes the document specifies for each vector."""
    assert doc_vectors()[number] == encode(**VECTOR_FIELDS[number])


@pytest.mark.parametrize("number", [1, 2, 3, 4])
def test_independent_sender_reproduces_doc_vector(number: int) -> None:
    """The document alone is enough: a from-scratch sender yields the same bytes."""
    datagrams = {
        1: _independent_encode(
            key=KEY,
            key_id=1,
            service="md-feed.nyse-1",
            instance=INSTANCE,
            seq=0,
            sent_ns=1_764_412_800_000_000_000,
            load_milli=1250,
            rss=536_870_912,
            threads=24,
        ),
        2: _independent_encode(
            key=KEY,
            key_id=1,
            service="order-gw_02",
            instance=bytes.fromhex("f0e1d2c3b4a5968778695a4b3c2d1e0f"),
            seq=1_234_567,
            sent_ns=1_764_412_800_123_456_789,
            flags=1,
            load_milli=3875,
            rss=2_147_483_648,
            threads=57,
            extras=bytes.fromhex("0001 0004 000005fe 8001 0002 6869".replace(" ", "")),
        ),
        3: _independent_encode(
            key=SHARED_KEY,
            key_id=7,
            service="r",
            instance=bytes(range(0xA0, 0xB0)),
            seq=2**64 - 1,
            sent_ns=1_764_412_801_000_000_000,
            flags=2,
            threads=1,
        ),
        4: _independent_encode(
            key=LONG_KEY,
            key_id=255,
            service=LONG_SERVICE,
            instance=bytes(range(0xFF, 0xEF, -1)),
            seq=1,
            sent_ns=-1,
            flags=3,
            load_milli=2**32 - 1,
            rss=2**64 - 1,
            threads=2**32 - 1,
            extras=bytes.fromhex("0001 0004 ffffffff".replace(" ", "")),
        ),
    }
    assert doc_vectors()[number] == datagrams[number]


def test_doc_vectors_decode_to_their_documented_fields() -> None:
    """A receiver accepts each vector and reads the values the document lists."""
    vectors = doc_vectors()
    first, second, third = (decode(vectors[n], RING) for n in (1, 2, 3))
    fourth = decode(vectors[4], KeyRing({LONG_SERVICE: {255: LONG_KEY}}))
    assert isinstance(first, Heartbeat)
    assert isinstance(second, Heartbeat)
    assert isinstance(third, Heartbeat)
    assert isinstance(fourth, Heartbeat)
    assert ("md-feed.nyse-1", 0, 1.25, 536_870_912, 24, ()) == (
        first.service,
        first.seq,
        first.load_avg,
        first.rss_bytes,
        first.threads,
        first.extras,
    )
    assert ("order-gw_02", True, 1534, ((1, b"\x00\x00\x05\xfe"), (0x8001, b"hi"))) == (
        second.service,
        second.stalled,
        second.beat_age_ms,
        second.extras,
    )
    assert ("r", 7, 2**64 - 1, True, 91) == (
        third.service,
        third.key_id,
        third.seq,
        third.shutting_down,
        len(vectors[3]),
    )
    assert (LONG_SERVICE, 255, -1, True, True, 2**32 - 1, 162) == (
        fourth.service,
        fourth.key_id,
        fourth.sent_ns,
        fourth.stalled,
        fourth.shutting_down,
        fourth.beat_age_ms,
        len(vectors[4]),
    )


def test_independent_sender_is_accepted() -> None:
    """A datagram built from the document with struct-free code passes every receiver check."""
    datagram = _valid(seq=9, load_milli=10, rss=20, threads=30, extras=b"\x90\x00\x00\x00")
    expected = Heartbeat("md-feed.nyse-1", INSTANCE, 9, NOW, 0, 1, 10, 20, 30, ((0x9000, b""),))
    assert expected == decode(datagram, RING, now_ns=NOW, replay=ReplayGuard())


def _resign(datagram: bytes, key: bytes = KEY) -> bytes:
    body = datagram[:-32]
    return body + hmac.new(key, body, "sha256").digest()


CRAFTED: list[tuple[str, bytes]] = [
    ("oversized", _valid(extras=b"\x90\x00\x03\xb0" + bytes(944))),
    ("malformed", b""),
    ("malformed", b"PMHB"),
    ("malformed", _valid()[:90]),
    ("malformed", b"XXXX" + _valid()[4:]),
    ("malformed", _valid() + b"\x00"),
    ("malformed", _valid(service="bad/id")),
    ("malformed", _valid(service="caf\u00e9")),
    ("malformed", _resign(_valid()[:7] + b"\x00" + _valid()[8:])),
    ("malformed", _valid(extras=b"\x00\x01\x00\x09abc")),
    ("malformed", _valid(extras=b"\x00\x01\x00")),
    ("bad_version", b"PMHB\x02" + _valid()[5:]),
    ("bad_version", b"PMHB\x00"),
    ("unknown_service", _valid(service="nobody")),
    ("unknown_service", _valid(key_id=2)),
    ("bad_signature", _valid(key=b"another key")),
    ("bad_signature", _valid()[:-1] + bytes([_valid()[-1] ^ 1])),
    ("bad_flags", _valid(flags=0x04)),
    ("bad_flags", _valid(flags=0x80)),
    ("stale", _valid(sent_ns=NOW - 2_000_000_001)),
    ("stale", _valid(sent_ns=NOW + 2_000_000_001)),
]


@pytest.mark.parametrize(("reason", "datagram"), CRAFTED)
def test_crafted_datagram_is_rejected_with_its_reason(reason: str, datagram: bytes) -> None:
    """Each way a datagram can be wrong maps to one documented rejection reason."""
    assert Rejection(reason) == decode(datagram, RING, now_ns=NOW)  # type: ignore[arg-type]


def test_replayed_and_retired_reasons() -> None:
    """Replay checks run last, after authentication, and name what was refused."""
    guard = ReplayGuard()
    first = _valid(seq=1)
    restarted = _valid(instance=bytes(16), seq=0)
    results = [
        decode(first, RING, now_ns=NOW, replay=guard),
        decode(first, RING, now_ns=NOW, replay=guard),
        decode(restarted, RING, now_ns=NOW, replay=guard),
        decode(_valid(seq=2), RING, now_ns=NOW, replay=guard),
    ]
    expected = [True, Rejection("replayed"), True, Rejection("retired_instance")]
    actual = [r if isinstance(r, Rejection) else isinstance(r, Heartbeat) for r in results]
    assert expected == actual


def test_skew_bound_is_inclusive_and_optional() -> None:
    """Exactly max_skew apart is fine; without now_ns, no skew check is made at all."""
    edge = _valid(sent_ns=NOW - 2_000_000_000)
    ancient = _valid(sent_ns=0)
    assert isinstance(decode(edge, RING, now_ns=NOW), Heartbeat)
    assert isinstance(decode(ancient, RING), Heartbeat)
    assert Rejection("stale") == decode(edge, RING, now_ns=NOW, max_skew_ns=1_000)


def test_shared_key_serves_services_without_their_own() -> None:
    """A shared key set covers the named services that have no key of their own; a service
    with its own key is not forgeable with the shared one, whatever the key id."""
    shared_ok = _valid(service="any.svc", key=SHARED_KEY, key_id=7)
    per_service_wins = _valid(key=SHARED_KEY, key_id=1)
    no_shared_fallback = _valid(key=SHARED_KEY, key_id=7)
    assert isinstance(decode(shared_ok, RING), Heartbeat)
    assert Rejection("bad_signature") == decode(per_service_wins, RING)
    assert Rejection("unknown_service") == decode(no_shared_fallback, RING)


def test_shared_key_refuses_ids_nobody_monitors_and_remembers_nothing() -> None:
    """Correctly signed with the shared key but for an id not configured: unknown_service,
    and the replay guard keeps no state for it (issue 10, defect 5)."""
    guard = ReplayGuard()
    ghosts = [_valid(service=f"ghost-{i}", key=SHARED_KEY, key_id=7) for i in range(100)]
    verdicts = {decode(g, RING, now_ns=NOW, replay=guard) for g in ghosts}
    assert {Rejection("unknown_service")} == verdicts
    assert 0 == guard.size
    assert {"r", "any.svc", "md-feed.nyse-1", "order-gw_02"} == RING.services


def test_raw_bytes_key_lookup_works() -> None:
    """A KeyLookup may return plain bytes instead of a prepared HmacKey."""
    assert isinstance(decode(_valid(), lambda service, key_id: KEY), Heartbeat)


def test_service_id_charset_is_checked_before_any_key_lookup() -> None:
    """Section 3 puts the charset (step 5) before the key lookup (step 6): a lookup that
    answers any name neither makes an invalid id acceptable nor is asked about one."""
    asked: list[str] = []

    def any_name(service: str, key_id: int) -> bytes:
        asked.append(service)
        return KEY

    verdicts = [decode(_valid(service=s), any_name) for s in ("bad/id", "has space", "a" * 64)]
    assert [Rejection("malformed"), Rejection("malformed")] == verdicts[:2]
    assert isinstance(verdicts[2], Heartbeat)
    assert ["a" * 64] == asked


def test_first_beat_age_tlv_wins_even_when_its_length_is_wrong() -> None:
    """Section 6: of repeated TLVs the first wins; a beat_age_ms of the wrong length is
    unusable, and a later one does not stand in for it."""
    extras = b"\x00\x01\x00\x02\x00\x07" + b"\x00\x01\x00\x04\x00\x00\x05\xfe"
    beat = decode(_valid(extras=extras), RING, now_ns=NOW)
    assert isinstance(beat, Heartbeat)
    assert ((1, b"\x00\x07"), (1, b"\x00\x00\x05\xfe")) == beat.extras
    assert beat.beat_age_ms is None


def test_broken_key_lookup_does_not_escape_decode() -> None:
    """Even a lookup that raises yields a verdict, because decode must never raise."""

    def explode(service: str, key_id: int) -> bytes:
        raise RuntimeError(service)

    assert Rejection("malformed") == decode(_valid(), explode)


@pytest.mark.parametrize("key", [b"k", KEY, bytes(64), bytes(range(100))])
def test_prepared_key_matches_stdlib_hmac(key: bytes) -> None:
    """The precomputed-pad HMAC equals the stdlib's, for short, block-sized and long keys."""
    message = b"heartbeat body"
    assert hmac.digest(key, message, "sha256") == HmacKey(key).tag(message)


@pytest.mark.parametrize(
    "overrides",
    [
        {"service": ""},
        {"service": "x" * 65},
        {"service": "with space"},
        {"instance": b"short"},
        {"flags": 0x08},
        {"seq": -1},
        {"threads": 2**32},
        {"key": b""},
        {"key_id": 256},
        {"extras": [(1, bytes(1000))]},
    ],
)
def test_encode_refuses_invalid_fields(overrides: dict[str, object]) -> None:
    """The encoder raises WireError instead of truncating or emitting an invalid datagram."""
    fields: dict[str, object] = {
        "service": "svc",
        "key": KEY,
        "key_id": 0,
        "instance": INSTANCE,
        "seq": 0,
        "sent_ns": NOW,
    }
    fields.update(overrides)
    with pytest.raises(WireError):
        encode(**fields)  # type: ignore[arg-type]


def test_key_ring_refuses_empty_keys_and_bad_ids() -> None:
    """A misconfigured key ring fails at load time, not on the first heartbeat."""
    with pytest.raises(WireError):
        KeyRing({"svc": {0: b""}})
    with pytest.raises(WireError):
        KeyRing({"bad id": {0: KEY}})
    with pytest.raises(WireError):
        KeyRing(shared={300: KEY})


@given(st.binary(max_size=1100))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    """Random input always yields a verdict object, never an exception."""
    result = decode(data, RING, now_ns=NOW, replay=ReplayGuard())
    assert isinstance(result, Heartbeat | Rejection)


@given(st.binary(min_size=0, max_size=64), st.binary(max_size=1100))
def test_arbitrary_bytes_after_valid_magic_never_raise(head: bytes, tail: bytes) -> None:
    """Inputs that pass the magic and version checks still cannot crash the parser."""
    result = decode(b"PMHB\x01" + head + tail, RING, now_ns=NOW)
    assert isinstance(result, Heartbeat | Rejection)


VALID = _valid(extras=b"\x00\x01\x00\x04\x00\x00\x00\x05")


@given(st.integers(min_value=0, max_value=len(VALID) - 1), st.integers(1, 255))
def test_any_flipped_byte_is_rejected(position: int, xor: int) -> None:
    """Changing any single byte of a valid datagram makes it a Rejection, never a Heartbeat."""
    mutated = bytearray(VALID)
    mutated[position] ^= xor
    assert isinstance(decode(bytes(mutated), RING, now_ns=NOW), Rejection)


@given(
    st.integers(min_value=0, max_value=len(VALID)),
    st.integers(min_value=0, max_value=len(VALID)),
    st.binary(max_size=40),
)
def test_spliced_datagrams_never_raise(start: int, stop: int, insert: bytes) -> None:
    """Cutting and splicing a valid datagram yields a verdict and never a false accept."""
    mutated = VALID[:start] + insert + VALID[stop:]
    result = decode(mutated, RING, now_ns=NOW)
    assert isinstance(result, Heartbeat | Rejection)
    if isinstance(result, Heartbeat):
        assert VALID == mutated
