"""The size multiplier a trading loop applies after a recovery (seed 4.4), fail-safe.

The trading loop calls ``gate.multiplier()`` on every order: it must cost next to nothing
and never block, so it reads a cached pair that a background thread refreshes from paramedic's
API. Whenever paramedic cannot be reached, answers nonsense, or the last good answer is older
than ``stale_after``, the multiplier is 0.0: a supervisor that cannot see the service must
not let it trade at full size by default. The staleness test is in ``multiplier()`` itself,
so even a wedged refresh thread cannot leave an old "1.0" in force.

Standard library only (``urllib``), like the heartbeat sender: a client must not drag the
supervisor's dependencies into the trading process.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from types import TracebackType
from typing import Any
from urllib.parse import quote

__all__ = ["ResumptionGate"]

_MAX_BODY = 64 * 1024


class ResumptionGate:
    """Polls ``GET {url}/api/services/{service}/resumption``; ``multiplier()`` is the hot read."""

    def __init__(
        self,
        url: str,
        service: str,
        *,
        refresh_every: float = 1.0,
        timeout: float = 0.5,
        stale_after: float | None = None,
        token: str | None = None,
        logger: logging.Logger | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not refresh_every > 0 or not timeout > 0:
            msg = f"refresh_every and timeout must be > 0 s, got {refresh_every}, {timeout}"
            raise ValueError(msg)
        self.url = f"{url.rstrip('/')}/api/services/{quote(service, safe='')}/resumption"
        self._refresh_every = refresh_every
        self._timeout = timeout
        # Three missed refreshes before the gate closes: one slow answer is not an outage.
        self._stale_after = stale_after if stale_after is not None else 3 * refresh_every
        self._headers = {"Accept": "application/json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._log = logger if logger is not None else logging.getLogger("paramedic.client")
        self._monotonic = monotonic
        # (multiplier, good until): replaced whole, so a reader never sees half an update.
        self._cached: tuple[float, float] = (0.0, -math.inf)
        self.last_state: dict[str, Any] | None = None
        self.last_error: str | None = "not refreshed yet"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def multiplier(self) -> float:
        """The size multiplier to apply now; 0.0 unless a fresh answer says otherwise."""
        value, good_until = self._cached
        return value if self._monotonic() < good_until else 0.0

    def should_trade(self) -> bool:
        return self.multiplier() > 0.0

    def refresh(self) -> bool:
        """One fetch, blocking for at most ``timeout``; True if the answer was usable."""
        request = urllib.request.Request(self.url, headers=self._headers)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:  # noqa: S310
                body = response.read(_MAX_BODY)
            state = json.loads(body)
            value = self._parse(state)
        except (OSError, ValueError) as exc:  # URLError and socket timeouts are OSErrors
            self._fail(f"{self.url}: {exc}")
            return False
        self._cached = (value, self._monotonic() + self._stale_after)
        self.last_state = state
        self.last_error = None
        return True

    @staticmethod
    def _parse(state: Any) -> float:
        if not isinstance(state, dict):
            msg = "answer is not a JSON object"
            raise ValueError(msg)
        value = state.get("size_multiplier")
        if isinstance(value, bool) or not isinstance(value, int | float):
            msg = f"size_multiplier is {value!r}, not a number"
            raise ValueError(msg)
        if not 0.0 <= value <= 1.0:
            msg = f"size_multiplier {value} is outside 0..1"
            raise ValueError(msg)
        if state.get("should_trade") is not True:
            return 0.0
        return float(value)

    def _fail(self, why: str) -> None:
        self._cached = (0.0, -math.inf)
        if why != self.last_error:  # log a change of trouble, not every poll of it
            self._log.warning("resumption gate closed: %s", why)
        self.last_error = why

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.refresh()
            except Exception:  # the gate thread must outlive any surprise; it stays shut
                self._fail("unexpected error while refreshing")
                self._log.exception("resumption gate refresh failed")
            self._stop.wait(self._refresh_every)

    def start(self) -> ResumptionGate:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, name="paramedic-resumption-gate", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            with contextlib.suppress(RuntimeError):
                self._thread.join(self._timeout + 1.0)
            self._thread = None

    def __enter__(self) -> ResumptionGate:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
