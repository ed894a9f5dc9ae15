"""HMAC-SHA256 keys for heartbeats: one precomputed key, and the receiver's key ring.

Protocol section 4: keys are per service by default, a shared key set may serve the other
configured services, and the key id (byte 6) selects among them so a key can be rotated
without a flag day.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from typing import Final

from paramedic.wire.layout import WireError, validate_service_id

__all__ = ["HmacKey", "KeyLookup", "KeyRing", "check_key"]

_SHA256_BLOCK: Final = 64
_IPAD: Final = bytes(b ^ 0x36 for b in range(256))
_OPAD: Final = bytes(b ^ 0x5C for b in range(256))


class HmacKey:
    """An HMAC-SHA256 key with its padded inner and outer hash states computed once.

    Keying HMAC costs two SHA-256 compressions per message; starting from saved states halves
    the cost of verifying a heartbeat (measured 1.5 us against 3.1 us for ``hmac.digest``).
    """

    __slots__ = ("inner", "outer")

    def __init__(self, key: bytes) -> None:
        if len(key) > _SHA256_BLOCK:
            key = hashlib.sha256(key).digest()
        padded = key.ljust(_SHA256_BLOCK, b"\0")
        self.inner = hashlib.sha256(padded.translate(_IPAD))
        self.outer = hashlib.sha256(padded.translate(_OPAD))

    def tag(self, message: bytes) -> bytes:
        """HMAC-SHA256 of ``message``; identical to ``hmac.digest(key, message, "sha256")``."""
        inner = self.inner.copy()
        inner.update(message)
        outer = self.outer.copy()
        outer.update(inner.digest())
        return outer.digest()


KeyLookup = Callable[[str, int], "HmacKey | bytes | None"]
"""Maps (service id, key id) to the HMAC key, or None when no such key is configured.

``decode`` asks it only about ids in the charset (protocol section 3, step 5 before 6).
Returning an ``HmacKey`` (as ``KeyRing`` does) rather than raw bytes makes verification faster.
"""


class KeyRing:
    """Per-service keys and a shared key set, addressed by key id, for named services only.

    Per-service keys are the default: a leaked key then forges only one service. A shared
    key set serves exactly the services named in ``shared_services`` (the runtime names every
    heartbeating service without a key of its own): a datagram for any other id is
    ``unknown_service``, counted and never remembered, so a sender holding the shared key
    cannot make the receiver keep state for ids nobody monitors. The key id lets a key be
    rotated without a flag day (configure old and new ids, move the senders, remove the old
    id).
    """

    __slots__ = ("_keys",)

    def __init__(
        self,
        per_service: Mapping[str, Mapping[int, bytes]] | None = None,
        shared: Mapping[int, bytes] | None = None,
        *,
        shared_services: Iterable[str] = (),
    ) -> None:
        # One dict keyed by (service, key id): the hot path is a single lookup, whatever
        # set the key came from, and an unknown name costs one miss.
        self._keys: dict[tuple[str, int], HmacKey] = {}
        for service, by_id in (per_service or {}).items():
            validate_service_id(service)
            for key_id, key in by_id.items():
                check_key(key, key_id)
                self._keys[(service, key_id)] = HmacKey(key)
        shared_keys: dict[int, HmacKey] = {}
        for key_id, key in (shared or {}).items():
            check_key(key, key_id)
            shared_keys[key_id] = HmacKey(key)
        for service in shared_services:
            validate_service_id(service)
            if service in (per_service or {}):
                continue  # its own keys win: a leaked shared key must not forge it
            for key_id, hmac_key in shared_keys.items():
                self._keys[(service, key_id)] = hmac_key

    def __call__(self, service: str, key_id: int) -> HmacKey | None:
        return self._keys.get((service, key_id))

    @property
    def services(self) -> frozenset[str]:
        """Every service id some key serves: the ids the receiver will keep state for."""
        return frozenset(service for service, _ in self._keys)


def check_key(key: bytes, key_id: int) -> None:
    """WireError unless ``key`` is usable under ``key_id`` (non-empty, id in 0..255)."""
    if not key:
        msg = f"heartbeat key id {key_id} is empty; use at least 32 random bytes"
        raise WireError(msg)
    if not 0 <= key_id <= 255:
        msg = f"heartbeat key id {key_id} is out of range 0..255"
        raise WireError(msg)
