"""Tests of the Massive retry policy: jittered exponential backoff, Retry-After, circuit breaker."""

from __future__ import annotations

import random
from email.utils import formatdate

import pytest

from tickwire_server.errors import CircuitOpen, RateLimited
from tickwire_server.sources.massive.breaker import (
    BreakerState,
    CircuitBreaker,
    RetryDelays,
    parse_retry_after,
)


class Clock:
    """A hand-driven monotonic clock."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_backoff_doubles_up_to_the_cap_with_half_of_each_delay_fixed() -> None:
    backoff = RetryDelays(0.5, 4.0, random.Random(1))
    assert [backoff.ceiling(n) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    for attempt in range(8):
        ceiling = backoff.ceiling(attempt)
        delays = [backoff.delay(attempt) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert max(delays) - min(delays) > ceiling / 4  # jittered, not constant


def test_backoff_survives_huge_attempt_numbers() -> None:
    assert RetryDelays(1.0, 60.0).ceiling(10_000) == 60.0


@pytest.mark.parametrize(("base", "cap"), [(0.0, 1.0), (2.0, 1.0), (-1.0, 1.0)])
def test_backoff_rejects_impossible_bounds(base: float, cap: float) -> None:
    with pytest.raises(ValueError):
        RetryDelays(base, cap)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("1", 1.0), (" 30 ", 30.0), ("0.5", 0.5), ("-3", 0.0), ("", None), (None, None),
     ("soon", None), ("nan", None), ("inf", None)],
)  # fmt: skip
def test_retry_after_in_seconds(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header) == seconds


def test_retry_after_as_an_http_date() -> None:
    now = 1_800_000_000.0
    assert parse_retry_after(formatdate(now + 120, usegmt=True), now=now) == pytest.approx(120)
    assert parse_retry_after(formatdate(now - 120, usegmt=True), now=now) == 0.0


def _breaker(threshold: int = 3) -> tuple[CircuitBreaker, Clock]:
    clock = Clock()
    return CircuitBreaker(threshold, RetryDelays(1.0, 8.0, random.Random(7)), clock), clock


def _refusal(breaker: CircuitBreaker) -> CircuitOpen:
    with pytest.raises(CircuitOpen) as info:
        breaker.check()
    return info.value


def test_closed_breaker_lets_calls_through_until_the_threshold() -> None:
    breaker, _ = _breaker(threshold=3)
    for _ in range(2):
        breaker.check()
        breaker.record_failure()
    breaker.check()
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure(reason="HTTP 503")
    assert breaker.state is BreakerState.OPEN
    refusal = _refusal(breaker)
    assert str(refusal) == "circuit open (last failure: HTTP 503)"
    assert breaker.failures == 3
    assert refusal.retry_after is not None and 0.5 <= refusal.retry_after <= 1.0


def test_a_success_resets_the_count() -> None:
    breaker, _ = _breaker(threshold=2)
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED and breaker.failures == 1


def test_after_the_cool_down_one_probe_goes_through_and_its_success_closes() -> None:
    breaker, clock = _breaker(threshold=1)
    breaker.record_failure()
    clock.now += 1.0  # the first cool-down is at most base = 1 s
    breaker.check()  # the probe
    assert breaker.state is BreakerState.HALF_OPEN
    assert "probe" in str(_refusal(breaker))  # a second caller waits
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    breaker.check()
    breaker.check()


def test_a_failed_probe_reopens_with_a_longer_cool_down() -> None:
    breaker, clock = _breaker(threshold=1)
    cool_downs = []
    for _ in range(4):
        breaker.record_failure()
        refusal = _refusal(breaker)
        assert refusal.retry_after is not None
        cool_downs.append(refusal.retry_after)
        clock.now += refusal.retry_after
        breaker.check()  # the probe, which fails next turn
    for n, cool_down in enumerate(cool_downs):
        ceiling = min(8.0, 2.0**n)
        assert ceiling / 2 <= cool_down <= ceiling


def test_an_abandoned_probe_frees_the_slot() -> None:
    breaker, clock = _breaker(threshold=1)
    breaker.record_failure()
    clock.now += 1.0
    breaker.check()
    breaker.abandon()  # the caller was cancelled mid-call
    breaker.check()


def test_retry_after_holds_every_caller_back_even_while_closed() -> None:
    breaker, clock = _breaker(threshold=5)
    breaker.record_failure(retry_after=30.0)
    assert breaker.state is BreakerState.CLOSED
    with pytest.raises(RateLimited) as info:
        breaker.check()
    assert info.value.retry_after == pytest.approx(30.0)
    clock.now += 29.9
    with pytest.raises(RateLimited):
        breaker.check()
    clock.now += 0.1
    breaker.check()


def test_retry_after_longer_than_the_cool_down_wins_when_open() -> None:
    breaker, _ = _breaker(threshold=1)
    breaker.record_failure(retry_after=60.0)
    assert _refusal(breaker).retry_after == pytest.approx(60.0)


def test_threshold_must_be_positive() -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(0, RetryDelays(1.0, 2.0))
