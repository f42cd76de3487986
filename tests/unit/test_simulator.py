"""Tests of SimulatorSource: publishing, ticker changes, metadata and lifecycle."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Sequence

import numpy as np
import pytest

from tickwire_server.domain import PriceBlock, Quote, SourceState, SourceStatus
from tickwire_server.sources.base import PriceSource
from tickwire_server.sources.simulator import (
    DEFAULT_TICKERS,
    LOT,
    PROFILES,
    TRADING_SECONDS_PER_YEAR,
    SimulatorSource,
)

INTERVAL = 0.01
TIMEOUT = 2.0


class RecordingSink:
    """A PriceSink that keeps every batch and status and wakes waiters on each."""

    def __init__(self) -> None:
        self.batches: list[list[Quote]] = []
        self.raw: list[Sequence[Quote]] = []  # as published: a step's is a PriceBlock
        self.statuses: list[SourceStatus] = []
        self.rejected: list[tuple[list[str], str]] = []
        self._changed = asyncio.Event()

    def publish(self, quotes: Sequence[Quote]) -> None:
        self.batches.append(list(quotes))
        self.raw.append(quotes)
        self._changed.set()

    def set_status(self, status: SourceStatus) -> None:
        self.statuses.append(status)
        self._changed.set()

    def reject(self, tickers: Sequence[str], reason: str) -> None:
        self.rejected.append((list(tickers), reason))

    def mark_stale(self, tickers: Sequence[str]) -> None:
        raise AssertionError(f"the simulator marked {list(tickers)} stale: it never should")

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        """Wait (bounded by the caller) until `condition()` holds after some publish."""
        while not condition():
            self._changed.clear()
            await self._changed.wait()

    def batches_with(self, ticker: str) -> list[list[Quote]]:
        return [b for b in self.batches if any(q.ticker == ticker for q in b)]


def _simulator_tasks() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t.get_name() == "simulator"]


def test_simulator_satisfies_the_price_source_protocol() -> None:
    source: PriceSource = SimulatorSource()
    assert source.name == "simulator"
    assert source.knows("ANYTHING")


def test_tickers_lists_the_defaults_sorted_with_metadata() -> None:
    source = SimulatorSource(seed=1)
    metas = source.tickers()
    assert [m.ticker for m in metas] == sorted(DEFAULT_TICKERS)
    by_ticker = {m.ticker: m for m in metas}
    assert by_ticker["AAPL"].name == "Apple Inc." and by_ticker["AAPL"].sector == "tech"
    assert by_ticker["JPM"].sector == by_ticker["V"].sector == "finance"
    assert by_ticker["TSLA"].sector == "auto"
    assert all(m.active and m.seed_price == PROFILES[m.ticker].price for m in metas)
    assert source.status().state is SourceState.STARTING


def test_other_tickers_get_a_plausible_reproducible_profile() -> None:
    first, second = SimulatorSource(seed=7), SimulatorSource(seed=7)
    for source in (first, second):
        for k in range(50):
            source.add_ticker(f"Q{k}")  # not started: nothing is published
    metas = {m.ticker: m for m in first.tickers()}
    assert metas == {m.ticker: m for m in second.tickers()}
    for k in range(50):
        meta = metas[f"Q{k}"]
        assert (meta.name, meta.sector, meta.active) == ("", "other", True)
        assert 10.0 <= meta.seed_price <= 500.0


async def test_start_publishes_the_defaults_then_steps() -> None:
    source = SimulatorSource(interval=INTERVAL, seed=3)
    sink = RecordingSink()
    async with asyncio.timeout(TIMEOUT):
        await source.start(sink)
        first = sink.batches[0]
        assert sorted(q.ticker for q in first) == sorted(DEFAULT_TICKERS)
        for q in first:
            seed = PROFILES[q.ticker].price
            assert q.price == q.open == q.high == q.low == q.close == seed
        assert source.status().state is SourceState.HEALTHY
        assert sink.statuses[-1].state is SourceState.HEALTHY
        assert sink.statuses[-1].source == "simulator"

        await sink.wait_until(lambda: len(sink.batches) >= 4)
        await source.stop()

    stepped = sink.batches[1:]
    for batch in stepped:
        assert sorted(q.ticker for q in batch) == sorted(DEFAULT_TICKERS)
        for q in batch:
            assert q.open == PROFILES[q.ticker].price
            assert q.low is not None and q.high is not None
            assert q.low <= q.price <= q.high
            assert q.close == q.price
    assert any(q.price != PROFILES[q.ticker].price for q in stepped[-1])
    stamps = [b[0].timestamp_ns for b in sink.batches]
    assert stamps == sorted(stamps)


async def test_add_ticker_publishes_its_first_price_on_the_next_loop_turn() -> None:
    source = SimulatorSource(interval=INTERVAL, seed=4)
    sink = RecordingSink()
    async with asyncio.timeout(TIMEOUT):
        await source.start(sink)
        published = len(sink.batches)
        source.add_ticker("ZZZZ")
        assert len(sink.batches) == published  # not re-entrant: nothing during the call
        await sink.wait_until(lambda: bool(sink.batches_with("ZZZZ")))
        (quote,) = [q for q in sink.batches_with("ZZZZ")[0] if q.ticker == "ZZZZ"]
        assert 9.0 < quote.price < 550.0
        assert "ZZZZ" in [m.ticker for m in source.tickers()]

        count = len(sink.batches)
        await sink.wait_until(lambda: len(sink.batches) > count)
        assert any(q.ticker == "ZZZZ" for q in sink.batches[-1])  # stepped with the rest
        await source.stop()


async def test_a_step_before_the_first_publish_is_not_followed_by_a_duplicate() -> None:
    source = SimulatorSource(interval=3600.0, seed=4)  # no step unless the test makes one
    sink = RecordingSink()
    async with asyncio.timeout(TIMEOUT):
        await source.start(sink)
        source.add_ticker("ZZZZ")
        source._step()  # a step lands between add_ticker and its scheduled first publish
        await asyncio.sleep(0)  # one loop turn: the scheduled first publish runs
        await source.stop()
    quotes = [q for batch in sink.batches for q in batch if q.ticker == "ZZZZ"]
    assert len(quotes) == 1


async def test_remove_ticker_drops_added_tickers_but_keeps_defaults() -> None:
    source = SimulatorSource(interval=INTERVAL, seed=5)
    sink = RecordingSink()
    async with asyncio.timeout(TIMEOUT):
        await source.start(sink)
        source.add_ticker("ZZZZ")
        source.remove_ticker("ZZZZ")  # before its first price went out
        source.remove_ticker("AAPL")
        source.remove_ticker("NOPE")
        assert [m.ticker for m in source.tickers()] == sorted(DEFAULT_TICKERS)

        count = len(sink.batches)
        await sink.wait_until(lambda: len(sink.batches) > count + 1)
        await source.stop()
    assert not sink.batches_with("ZZZZ")
    assert sorted(q.ticker for q in sink.batches[-1]) == sorted(DEFAULT_TICKERS)


def test_removed_tickers_are_forgotten_so_memory_follows_the_active_set() -> None:
    source = SimulatorSource(interval=INTERVAL, seed=5)
    for i in range(500):
        source.add_ticker(f"Z{i}")
        source.remove_ticker(f"Z{i}")
    assert len(source._profiles) == len(source._bars) == len(DEFAULT_TICKERS)
    assert len(source._gbm) == len(DEFAULT_TICKERS)


async def test_stop_leaves_no_task_and_is_idempotent() -> None:
    source = SimulatorSource(interval=INTERVAL, seed=6)
    sink = RecordingSink()
    async with asyncio.timeout(TIMEOUT):
        await source.start(sink)
        await source.start(sink)  # already running: no second task
        tasks = _simulator_tasks()
        assert len(tasks) == 1
        await source.stop()
        assert tasks[0].done()
        assert not _simulator_tasks()
        assert source.status().state is SourceState.STOPPED
        assert sink.statuses[-1].state is SourceState.STOPPED

        statuses, batches = len(sink.statuses), len(sink.batches)
        await source.stop()
        assert (len(sink.statuses), len(sink.batches)) == (statuses, batches)


async def test_stop_without_start_is_safe() -> None:
    source = SimulatorSource()
    async with asyncio.timeout(TIMEOUT):
        await source.stop()
    assert source.status().state is SourceState.STOPPED


async def test_a_stopped_source_can_start_again() -> None:
    source = SimulatorSource(interval=INTERVAL, seed=8)
    sink = RecordingSink()
    async with asyncio.timeout(TIMEOUT):
        await source.start(sink)
        await source.stop()
        await source.start(sink)
        count = len(sink.batches)
        await sink.wait_until(lambda: len(sink.batches) > count)
        await source.stop()
    assert source.status().state is SourceState.STOPPED


def test_step_length_is_the_interval_in_trading_years() -> None:
    # With a one-trading-day interval each step is dt = 1/252 years, so a ticker's
    # log-returns have variance sigma^2 / 252 (SE of a sample variance: var sqrt(2 / N)).
    interval, steps = 6.5 * 3600, 20_000
    assert interval / TRADING_SECONDS_PER_YEAR == pytest.approx(1 / 252)
    source = SimulatorSource(tickers=["V"], interval=interval, seed=9, shock_probability=0.0)
    sink = RecordingSink()
    source._sink = sink  # drive the private step directly: 20,000 days of clock are too long
    for _ in range(steps):
        source._step()
    prices = np.array([PROFILES["V"].price] + [b[0].price for b in sink.batches])
    returns = np.diff(np.log(prices))
    variance = PROFILES["V"].sigma ** 2 / 252
    assert returns.var() == pytest.approx(variance, abs=5 * variance * math.sqrt(2 / steps))


async def test_a_step_publishes_one_block_of_a_ticker_list_kept_until_it_changes() -> None:
    """The server keeps a block of the same tuple in columns: a step must not make a new one."""
    source = SimulatorSource(interval=INTERVAL, seed=3)
    sink = RecordingSink()
    await source.start(sink)
    try:  # stepped by hand, with no await between: the source's own task cannot step
        source._step()
        source._step()
        source.add_ticker("ZZZ")
        source._step()
    finally:
        await source.stop()
    first, second, third = sink.raw[1:4]
    assert isinstance(first, PriceBlock) and isinstance(second, PriceBlock)
    assert first.tickers is second.tickers
    assert sorted(first.tickers) == sorted(DEFAULT_TICKERS)
    assert isinstance(third, PriceBlock) and "ZZZ" in third.tickers
    assert first.sizes is not None and (first.sizes >= LOT).all()
