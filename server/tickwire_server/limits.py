"""Per-client limits: a request rate (`TokenBucket`), open streams per client (`ClientStreams`)."""

from __future__ import annotations

import collections
import time
from collections.abc import Callable


class TokenBucket:
    """A request may go when a token is there; tokens come back at `rate` a second.

    It starts full, so a fresh stream may send `burst` requests at once.
    """

    __slots__ = ("rate", "burst", "_tokens", "_at", "_clock")

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._clock = clock
        self._at = clock()

    def take(self) -> bool:
        """Spend a token: True when there was one."""
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class ClientStreams:
    """Open streams per client key (a principal, or an anonymous peer's address).

    `open` takes a slot, or returns False at `limit`; `close` gives it back.
    Keys with no stream are forgotten, so memory follows the clients connected.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: collections.Counter[str] = collections.Counter()

    def open(self, key: str) -> bool:
        """Take a slot for `key`: False when it already holds `limit` streams."""
        if self._open[key] >= self.limit:
            return False
        self._open[key] += 1
        return True

    def close(self, key: str) -> None:
        """Give back a slot `open` gave `key`."""
        self._open[key] -= 1
        if self._open[key] <= 0:
            del self._open[key]

    def __len__(self) -> int:
        return len(self._open)

    def count(self, key: str) -> int:
        """Streams `key` holds now."""
        return self._open.get(key, 0)
