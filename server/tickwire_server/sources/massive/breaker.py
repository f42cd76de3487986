"""Retry policy for the Massive upstream: exponential backoff with jitter and a circuit breaker."""

from __future__ import annotations

import email.utils
import enum
import math
import random
import time
from collections.abc import Callable

from tickwire_server.errors import CircuitOpen, RateLimited


class RetryDelays:
    """The upstream retry policy: delays with "equal jitter", attempt n waits in [d/2, d].

    d = min(cap, base·2ⁿ). Half of each delay is fixed, so a retry is never
    immediate; the random half spreads clients that failed together. (The
    client's reconnect `Backoff` is another policy, for another party.)
    """

    def __init__(self, base: float, cap: float, rng: random.Random | None = None) -> None:
        if not 0 < base <= cap:
            raise ValueError(f"need 0 < base <= cap, got base={base}, cap={cap}")
        self.base = base
        self.cap = cap
        self._rng = rng or random.Random()

    def ceiling(self, attempt: int) -> float:
        """The largest delay of retry `attempt` (0 for the first retry)."""
        return min(self.cap, self.base * 2.0 ** min(attempt, 64))

    def delay(self, attempt: int) -> float:
        """The delay before retry `attempt`, jittered."""
        ceiling = self.ceiling(attempt)
        return ceiling / 2 + self._rng.uniform(0.0, ceiling / 2)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


class BreakerState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


class CircuitBreaker:
    """Guards calls to one upstream shared by several callers.

    Closed: calls go through; `threshold` consecutive failures open it. Open:
    calls are refused with `CircuitOpen` until a cool-down passes (growing
    with `backoff` each time it re-opens), then half-open: one probe call goes
    through; its success closes the breaker, its failure re-opens it. In any
    state a failure's Retry-After holds every caller back that long (refused
    with `RateLimited`).
    """

    def __init__(
        self,
        threshold: int,
        backoff: RetryDelays,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if threshold < 1:
            raise ValueError(f"threshold must be at least 1, got {threshold}")
        self.threshold = threshold
        self._backoff = backoff
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened = 0  # times opened in a row, for the growing cool-down
        self._not_before = 0.0
        self._probing = False
        self._last_failure = ""

    @property
    def state(self) -> BreakerState:
        return self._state

    @property
    def failures(self) -> int:
        """Consecutive failures since the last success."""
        return self._failures

    def check(self) -> None:
        """Allow one call now or raise `CircuitOpen` with how long to wait.

        Raises:
            CircuitOpen: the breaker is open, or a half-open probe is already out.
            RateLimited: a Retry-After the upstream asked for is still running.
        """
        now = self._clock()
        if now < self._not_before:
            wait = self._not_before - now
            if self._state is BreakerState.OPEN:
                raise CircuitOpen(f"circuit open ({self._last_failure})", retry_after=wait)
            raise RateLimited("waiting out Massive's Retry-After", retry_after=wait)
        if self._state is BreakerState.OPEN:
            self._state = BreakerState.HALF_OPEN
            self._probing = False
        if self._state is BreakerState.HALF_OPEN:
            if self._probing:
                raise CircuitOpen(
                    f"circuit half-open, a probe call is out ({self._last_failure})",
                    retry_after=self._backoff.base,
                )
            self._probing = True

    def record_success(self) -> None:
        """A call succeeded: close the breaker."""
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened = 0
        self._probing = False

    def abandon(self) -> None:
        """A call ended without an outcome (its caller was cancelled): free the probe slot."""
        self._probing = False

    def record_failure(self, retry_after: float | None = None, reason: str = "") -> None:
        """A call failed (`reason`: how); open at the threshold or when the probe failed."""
        now = self._clock()
        self._failures += 1
        self._last_failure = f"last failure: {reason or 'unknown'}"
        self._probing = False
        if self._state is BreakerState.HALF_OPEN or self._failures >= self.threshold:
            self._state = BreakerState.OPEN
            cool_down = max(self._backoff.delay(self._opened), retry_after or 0.0)
            self._opened += 1
            self._not_before = max(self._not_before, now + cool_down)
        elif retry_after:
            self._not_before = max(self._not_before, now + retry_after)
