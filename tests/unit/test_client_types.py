"""Tests of the client's plain types: reconnect Backoff, ticker results, stream options."""

from __future__ import annotations

import dataclasses
import random

import pytest

from tickwire import Backoff, TickerResult, TickerStatus
from tickwire._types import StreamOptions
from tickwire.v1 import market_data_pb2 as pb


@pytest.mark.parametrize("attempt", [0, 1, 2, 3, 10, 200])
def test_backoff_grows_exponentially_to_its_maximum_within_the_jitter(attempt: int) -> None:
    backoff = Backoff(initial=0.25, maximum=15.0, multiplier=2.0, jitter=0.2)
    base = min(15.0, 0.25 * 2.0**attempt)
    delays = [backoff.delay(attempt, random.Random(seed)) for seed in range(200)]
    assert all(base * 0.8 <= d <= base * 1.2 for d in delays)
    assert max(delays) - min(delays) > base * 0.3  # spread, not one fixed value


def test_backoff_without_jitter_is_exact_and_never_negative() -> None:
    exact = Backoff(initial=0.1, maximum=1.0, multiplier=3.0, jitter=0.0)
    assert [exact.delay(n) for n in range(4)] == pytest.approx([0.1, 0.3, 0.9, 1.0])
    wild = Backoff(initial=1.0, jitter=5.0)  # more jitter than delay
    assert all(wild.delay(0, random.Random(s)) >= 0.0 for s in range(100))


def test_backoff_is_seeded_by_the_rng_it_is_given() -> None:
    backoff = Backoff()
    assert backoff.delay(3, random.Random(9)) == backoff.delay(3, random.Random(9))


def test_ticker_status_from_an_unknown_proto_number_is_unspecified() -> None:
    assert TickerStatus.from_proto(pb.TICKER_STATUS_LIMIT_EXCEEDED) is TickerStatus.LIMIT_EXCEEDED
    assert TickerStatus.from_proto(999) is TickerStatus.UNSPECIFIED
    proto = pb.TickerResult(ticker="X", status=pb.TICKER_STATUS_NO_DATA, message="none yet")
    result = TickerResult.from_proto(proto)
    assert result == TickerResult("X", TickerStatus.NO_DATA, "none yet")
    assert not result.ok


def test_stream_options_are_frozen() -> None:
    options = StreamOptions(timeout=3.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.timeout = 4.0  # type: ignore[misc]
    assert options.backoff == Backoff()
