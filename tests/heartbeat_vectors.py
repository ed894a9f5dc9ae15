"""The test vectors of docs/heartbeat-protocol.md section 9: the datagrams as the document
prints them, and the field values each was built from.

Shared by the Python codec tests and the C++ sender's tests: the document, the Python
encoder and the C++ encoder must all agree byte for byte.
"""

from __future__ import annotations

import re
from typing import Any

from paramedic.wire import FLAG_SHUTTING_DOWN, FLAG_STALLED
from tests.conftest import REPO

DOC = REPO / "docs" / "heartbeat-protocol.md"

KEY = bytes(range(32))
SHARED_KEY = b"paramedic-shared-test-key-000003"
LONG_KEY = bytes(range(80))  # longer than SHA-256's 64-byte block: HMAC hashes it first
LONG_SERVICE = "risk-engine.eu-west-1.primary_A-0123456789.abcdefghijklmnopqrstu"

# Keyword arguments of paramedic.wire.encode for each vector.
VECTOR_FIELDS: dict[int, dict[str, Any]] = {
    1: {
        "service": "md-feed.nyse-1",
        "key": KEY,
        "key_id": 1,
        "instance": bytes.fromhex("00112233445566778899aabbccddeeff"),
        "seq": 0,
        "sent_ns": 1_764_412_800_000_000_000,
        "load_avg_milli": 1250,
        "rss_bytes": 536_870_912,
        "threads": 24,
    },
    2: {
        "service": "order-gw_02",
        "key": KEY,
        "key_id": 1,
        "instance": bytes.fromhex("f0e1d2c3b4a5968778695a4b3c2d1e0f"),
        "seq": 1_234_567,
        "sent_ns": 1_764_412_800_123_456_789,
        "flags": FLAG_STALLED,
        "load_avg_milli": 3875,
        "rss_bytes": 2_147_483_648,
        "threads": 57,
        "extras": [(0x0001, (1534).to_bytes(4, "big")), (0x8001, b"hi")],
    },
    3: {
        "service": "r",
        "key": SHARED_KEY,
        "key_id": 7,
        "instance": bytes(range(0xA0, 0xB0)),
        "seq": 2**64 - 1,
        "sent_ns": 1_764_412_801_000_000_000,
        "flags": FLAG_SHUTTING_DOWN,
        "threads": 1,
    },
    4: {
        "service": LONG_SERVICE,
        "key": LONG_KEY,
        "key_id": 255,
        "instance": bytes(range(0xFF, 0xEF, -1)),
        "seq": 1,
        "sent_ns": -1,
        "flags": FLAG_STALLED | FLAG_SHUTTING_DOWN,
        "load_avg_milli": 2**32 - 1,
        "rss_bytes": 2**64 - 1,
        "threads": 2**32 - 1,
        "extras": [(0x0001, (2**32 - 1).to_bytes(4, "big"))],
    },
}


def doc_vectors() -> dict[int, bytes]:
    """Datagrams from the ```hexdump vector-N``` blocks of the protocol document."""
    text = DOC.read_text(encoding="utf-8")
    vectors: dict[int, bytes] = {}
    for number, body in re.findall(r"```hexdump vector-(\d+)\n(.*?)```", text, re.DOTALL):
        lines = [line.split(":", 1)[1] for line in body.strip().splitlines()]
        vectors[int(number)] = bytes.fromhex("".join(lines).replace(" ", ""))
    return vectors
