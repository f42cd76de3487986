"""The synthetic market: deterministic on a stepped clock, on the tick grid, with real bars."""

from __future__ import annotations

import math

import pytest

from tickwire_server.domain import PriceBlock, Quote
from tickwire_server.sources.synthetic import (
    LOT,
    ManualClock,
    SyntheticMarket,
    intraday_shape,
)

UNIVERSE = ["AAPL", "MSFT", "NVDA", "ZZZQ"]  # ZZZQ has no profile: one from the seed and symbol


def _run(market: SyntheticMarket, clock: ManualClock, steps: list[float]) -> list[Quote]:
    market.due(clock.now_ns())
    quotes: list[Quote] = []
    for seconds in steps:
        clock.advance(seconds)
        for batch in market.due(clock.now_ns()):
            quotes.extend(batch)
    return quotes


def _key(quotes: list[Quote]) -> list[tuple[str, float, int, float | None]]:
    return [(q.ticker, q.price, q.timestamp_ns, q.volume) for q in quotes]


def test_the_same_seed_and_clock_give_the_same_ticks_however_the_clock_is_stepped() -> None:
    a = _run(SyntheticMarket(UNIVERSE, hz=4, seed=7), ManualClock(), [10.0])
    b = _run(SyntheticMarket(UNIVERSE, hz=4, seed=7), ManualClock(), [0.1] * 100)
    assert len(a) == 10 * 4 * len(UNIVERSE)
    assert _key(a) == _key(b)
    c = _run(SyntheticMarket(UNIVERSE, hz=4, seed=8), ManualClock(), [10.0])
    assert _key(c) != _key(a)


def test_prices_sit_on_the_tick_grid_inside_realistic_bars() -> None:
    quotes = _run(SyntheticMarket(UNIVERSE, hz=1, seed=1), ManualClock(), [300.0])
    for q in quotes:
        assert q.open is not None and q.high is not None and q.low is not None
        assert q.volume is not None and q.vwap is not None and q.transactions is not None
        for value in (q.price, q.open, q.high, q.low):
            assert math.isclose(value * 100, round(value * 100), abs_tol=1e-6), value
        assert q.low <= min(q.open, q.price) <= max(q.open, q.price) <= q.high
        assert q.low <= q.vwap <= q.high
        assert q.volume % LOT == 0 and q.volume >= LOT
        assert q.transactions >= 1
        assert q.close == q.price
    by_ticker: dict[str, list[Quote]] = {}
    for q in quotes:
        by_ticker.setdefault(q.ticker, []).append(q)
    for series in by_ticker.values():  # each bar opens where the last one closed
        assert all(b.open == a.price for a, b in zip(series, series[1:], strict=False))
        assert len({q.price for q in series}) > 10  # and the price moves


def test_a_ticker_joining_leaves_the_universe_prices_unchanged() -> None:
    alone = SyntheticMarket(UNIVERSE, hz=2, seed=3)
    joined = SyntheticMarket(UNIVERSE, hz=2, seed=3)
    clock_a, clock_b = ManualClock(), ManualClock()
    alone.due(clock_a.now_ns())
    joined.due(clock_b.now_ns())
    joined.join("NEWCO")
    a = _run(alone, clock_a, [5.0])
    b = [q for q in _run(joined, clock_b, [5.0]) if q.ticker != "NEWCO"]
    assert _key(a) == _key(b)
    assert "NEWCO" in joined


def test_activity_is_highest_at_the_open_and_the_close() -> None:
    day = 1_767_312_000 * 10**9  # 2026-01-02 00:00 UTC
    open_, midday, close = (
        day + s * 10**9 for s in (14 * 3600 + 1800, 17 * 3600 + 45 * 60, 20 * 3600 + 59 * 60)
    )
    assert intraday_shape(open_) > intraday_shape(midday) < intraday_shape(close)
    assert intraday_shape(day + 3 * 3600 * 10**9) < intraday_shape(midday)  # overnight: thin


@pytest.mark.parametrize("hz", [0.0, -1.0, math.nan, math.inf])
def test_a_rate_that_cannot_work_is_refused(hz: float) -> None:
    with pytest.raises(ValueError, match="hz"):
        SyntheticMarket(UNIVERSE, hz=hz, seed=0)


def test_a_clock_only_moves_forward() -> None:
    with pytest.raises(ValueError):
        ManualClock().advance(-1.0)


def test_a_market_behind_a_real_clock_skips_what_it_cannot_produce_in_time() -> None:
    market = SyntheticMarket(UNIVERSE, hz=10, seed=1)
    market.due(0)
    late = market.due(60 * 10**9, max_behind_ns=10**9)  # a minute late: one second of it
    assert len(late) == 10 and market.skipped == 590
    assert late[0][0].timestamp_ns > 59 * 10**9
    exact = SyntheticMarket(UNIVERSE, hz=10, seed=1)
    exact.due(0)
    assert len(exact.due(60 * 10**9)) == 600 and exact.skipped == 0  # a stepped clock: all


def test_a_market_behind_gives_at_most_max_batches_a_call_and_the_rest_next() -> None:
    market = SyntheticMarket(UNIVERSE, hz=10, seed=1)
    market.due(0)
    first = market.due(10**9, max_batches=4)
    rest = market.due(10**9, max_batches=100)
    assert (len(first), len(rest)) == (4, 6)
    assert first[-1][0].timestamp_ns < rest[0][0].timestamp_ns


def test_ticks_and_bursts_are_blocks_of_one_tuple_a_list() -> None:
    """The server keeps a block of the same tuple in columns: a tick must not make a new one."""
    market = SyntheticMarket(UNIVERSE, hz=4, seed=7)
    clock = ManualClock()
    market.due(clock.now_ns())
    market.burst(["AAPL", "MSFT"], 100.0, clock.now_ns(), 10**9)
    clock.advance(0.5)
    bursts = [b for b in market.due(clock.now_ns()) if len(b) == 2 and b[0].ticker == "AAPL"]
    clock.advance(3.0)  # past the burst: regular ticks of the whole universe
    ticks = market.due(clock.now_ns())[-4:]
    for batches in (bursts, ticks):
        assert len(batches) >= 4
        assert all(isinstance(b, PriceBlock) for b in batches)
        assert len({id(b.tickers) for b in batches if isinstance(b, PriceBlock)}) == 1
    assert [q.ticker for q in ticks[0]] == UNIVERSE
