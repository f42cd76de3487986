"""Tests of PriceCache: derived fields, sequences, rejects, reads and thread safety."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest

from tickwire.v1 import market_data_pb2 as pb
from tickwire_server.cache import PriceCache
from tickwire_server.codec import CachedPrice
from tickwire_server.domain import PriceBlock, Quote

T0 = 1_700_000_000_000_000_000
JOIN_TIMEOUT = 10.0


def _batch(elements: bytes) -> pb.PriceBatch:
    """Parse pre-encoded `PriceBatch.updates` elements as a batch."""
    batch = pb.PriceBatch()
    batch.ParseFromString(elements)
    return batch


def test_first_update_has_itself_as_previous_price_and_is_flat() -> None:
    cache = PriceCache()
    [entry] = cache.apply([Quote("AAPL", 190.0, T0)])
    u = entry.update
    assert u.ticker == "AAPL"
    assert u.price == 190.0
    assert u.previous_price == 190.0
    assert u.change == 0.0
    assert u.change_percent == 0.0
    assert u.direction == pb.DIRECTION_FLAT
    assert u.sequence == 1
    assert u.state == pb.DATA_STATE_LIVE


def test_rise_is_up_with_change_against_the_previous_price() -> None:
    cache = PriceCache()
    cache.apply([Quote("AAPL", 200.0, T0)])
    [entry] = cache.apply([Quote("AAPL", 210.0, T0 + 1)])
    u = entry.update
    assert u.previous_price == 200.0
    assert u.change == pytest.approx(10.0)
    assert u.change_percent == pytest.approx(5.0)
    assert u.direction == pb.DIRECTION_UP


def test_fall_is_down_with_negative_change() -> None:
    cache = PriceCache()
    cache.apply([Quote("MSFT", 400.0, T0)])
    [entry] = cache.apply([Quote("MSFT", 300.0, T0 + 1)])
    u = entry.update
    assert u.previous_price == 400.0
    assert u.change == pytest.approx(-100.0)
    assert u.change_percent == pytest.approx(-25.0)
    assert u.direction == pb.DIRECTION_DOWN


def test_unchanged_price_is_flat() -> None:
    cache = PriceCache()
    cache.apply([Quote("V", 280.0, T0)])
    [entry] = cache.apply([Quote("V", 280.0, T0 + 1)])
    assert entry.update.direction == pb.DIRECTION_FLAT
    assert entry.update.change == 0.0
    assert entry.update.sequence == 2


def test_change_is_against_the_latest_price_within_one_batch() -> None:
    cache = PriceCache()
    entries = cache.apply([Quote("JPM", 100.0, T0), Quote("JPM", 110.0, T0 + 1)])
    assert [e.update.previous_price for e in entries] == [100.0, 100.0]
    assert entries[1].update.change == pytest.approx(10.0)


def test_sequence_counts_per_ticker() -> None:
    cache = PriceCache()
    entries = cache.apply(
        [
            Quote("AAPL", 1.0, T0),
            Quote("MSFT", 1.0, T0),
            Quote("AAPL", 2.0, T0),
            Quote("AAPL", 3.0, T0),
            Quote("MSFT", 2.0, T0),
        ]
    )
    assert [(e.ticker, e.sequence) for e in entries] == [
        ("AAPL", 1),
        ("MSFT", 1),
        ("AAPL", 2),
        ("AAPL", 3),
        ("MSFT", 2),
    ]
    entry = cache.get("AAPL")
    assert entry is not None
    assert entry.sequence == 3


def test_timestamp_comes_from_the_quote_nanoseconds() -> None:
    cache = PriceCache()
    [entry] = cache.apply([Quote("AAPL", 1.0, T0 + 123_456_789)])
    ts = entry.update.timestamp
    assert (ts.seconds, ts.nanos) == (T0 // 1_000_000_000, 123_456_789)


def test_bar_fields_are_set_only_when_the_source_gives_them() -> None:
    cache = PriceCache()
    [bare, bar] = cache.apply(
        [
            Quote("AAPL", 190.0, T0),
            Quote(
                "MSFT",
                400.0,
                T0,
                open=395.0,
                high=401.0,
                low=394.0,
                close=399.0,
                volume=1.5e6,
                vwap=398.2,
                transactions=4321,
            ),
        ]
    )
    bar_fields = ("open", "high", "low", "close", "volume", "vwap", "transactions")
    for name in bar_fields:
        assert not bare.update.HasField(name), name
        assert bar.update.HasField(name), name
    assert (bar.update.open, bar.update.high, bar.update.low, bar.update.close) == (
        395.0,
        401.0,
        394.0,
        399.0,
    )
    assert (bar.update.volume, bar.update.vwap, bar.update.transactions) == (1.5e6, 398.2, 4321)


def test_a_zero_bar_field_is_still_present() -> None:
    cache = PriceCache()
    [entry] = cache.apply([Quote("AAPL", 190.0, T0, volume=0.0, transactions=0)])
    assert entry.update.HasField("volume")
    assert entry.update.HasField("transactions")
    assert not entry.update.HasField("open")


def test_element_encodes_the_live_update() -> None:
    cache = PriceCache()
    [entry] = cache.apply([Quote("AAPL", 190.0, T0, open=189.0)])
    batch = _batch(entry.element)
    assert list(batch.updates) == [entry.update]
    assert batch.updates[0].state == pb.DATA_STATE_LIVE


def test_version_counts_accepted_updates() -> None:
    cache = PriceCache()
    assert cache.version == 0
    cache.apply([Quote("AAPL", 1.0, T0), Quote("MSFT", 2.0, T0)])
    assert cache.version == 2
    cache.apply([Quote("AAPL", 1.5, T0)])
    assert cache.version == 3
    cache.apply([])
    assert cache.version == 3


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan, math.inf, -math.inf])
def test_non_finite_or_non_positive_price_is_rejected_without_failing_the_batch(
    bad: float,
) -> None:
    cache = PriceCache()
    entries = cache.apply([Quote("AAPL", 190.0, T0), Quote("MSFT", bad, T0), Quote("V", 280.0, T0)])
    assert [e.ticker for e in entries] == ["AAPL", "V"]
    assert cache.rejected == 1
    assert cache.version == 2
    assert cache.get("MSFT") is None
    assert len(cache) == 2


def test_rejected_price_does_not_disturb_the_ticker_sequence() -> None:
    cache = PriceCache()
    cache.apply([Quote("AAPL", 190.0, T0)])
    cache.apply([Quote("AAPL", math.nan, T0 + 1), Quote("AAPL", -5.0, T0 + 2)])
    [entry] = cache.apply([Quote("AAPL", 200.0, T0 + 3)])
    assert cache.rejected == 2
    assert entry.sequence == 2
    assert entry.update.previous_price == 190.0


def test_get_returns_the_latest_entry_or_none() -> None:
    cache = PriceCache()
    assert cache.get("AAPL") is None
    cache.apply([Quote("AAPL", 1.0, T0)])
    [latest] = cache.apply([Quote("AAPL", 2.0, T0)])
    assert cache.get("AAPL") is latest
    assert latest.price == 2.0


def test_snapshot_of_everything_is_sorted_by_ticker() -> None:
    cache = PriceCache()
    cache.apply([Quote("V", 1.0, T0), Quote("AAPL", 2.0, T0), Quote("MSFT", 3.0, T0)])
    assert [e.ticker for e in cache.snapshot()] == ["AAPL", "MSFT", "V"]


def test_snapshot_of_named_tickers_skips_those_without_a_price() -> None:
    cache = PriceCache()
    cache.apply([Quote("V", 1.0, T0), Quote("AAPL", 2.0, T0), Quote("MSFT", 3.0, T0)])
    got = cache.snapshot(["MSFT", "NOPE", "AAPL"])
    assert [e.ticker for e in got] == ["MSFT", "AAPL"]
    assert cache.snapshot([]) == []


def test_forget_drops_the_entry_and_restarts_its_sequence() -> None:
    cache = PriceCache()
    cache.apply([Quote("AAPL", 1.0, T0), Quote("AAPL", 2.0, T0), Quote("V", 3.0, T0)])
    cache.forget("AAPL")
    cache.forget("NEVER-SEEN")
    assert cache.get("AAPL") is None
    assert [e.ticker for e in cache.snapshot()] == ["V"]
    assert len(cache) == 1
    [entry] = cache.apply([Quote("AAPL", 5.0, T0)])
    assert entry.sequence == 1
    assert entry.update.previous_price == 5.0


def test_snapshot_element_is_flagged_snapshot_while_the_element_stays_live() -> None:
    cache = PriceCache()
    [entry] = cache.apply([Quote("AAPL", 190.0, T0, high=191.0)])
    snap = _batch(entry.snapshot_element()).updates[0]
    live = _batch(entry.element).updates[0]

    assert snap.state == pb.DATA_STATE_SNAPSHOT
    assert live.state == pb.DATA_STATE_LIVE
    assert entry.update.state == pb.DATA_STATE_LIVE
    snap.state = pb.DATA_STATE_LIVE
    assert snap == live  # nothing but the state differs
    assert entry.snapshot_element() is entry.snapshot_element()  # encoded once


def test_as_state_copies_without_touching_the_cached_update() -> None:
    cache = PriceCache()
    [entry] = cache.apply([Quote("AAPL", 190.0, T0)])
    stale = entry.as_state(pb.DATA_STATE_STALE)
    assert stale.state == pb.DATA_STATE_STALE
    assert stale.price == 190.0
    assert entry.update.state == pb.DATA_STATE_LIVE


def test_concurrent_batches_keep_per_ticker_sequences_and_version_exact() -> None:
    cache = PriceCache()
    tickers = ["AAPL", "MSFT", "V", "JPM"]
    n_threads, n_batches = 8, 200
    start = threading.Barrier(n_threads)
    errors: list[BaseException] = []

    def worker(worker_id: int) -> None:
        try:
            start.wait(timeout=JOIN_TIMEOUT)
            for i in range(n_batches):
                # Each batch: every ticker once, plus one ticker twice, plus a rejected quote.
                extra = tickers[(worker_id + i) % len(tickers)]
                quotes = [Quote(t, 100.0 + i, T0 + i) for t in tickers]
                quotes += [Quote(extra, 101.0 + i, T0 + i), Quote("BAD", -1.0, T0)]
                cache.apply(quotes)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=JOIN_TIMEOUT)
    assert not any(t.is_alive() for t in threads)
    assert errors == []

    expected = dict.fromkeys(tickers, n_threads * n_batches)
    for w in range(n_threads):
        for i in range(n_batches):
            expected[tickers[(w + i) % len(tickers)]] += 1
    for ticker, count in expected.items():
        entry = cache.get(ticker)
        assert entry is not None
        assert entry.sequence == count, ticker
    assert cache.version == sum(expected.values())
    assert cache.rejected == n_threads * n_batches
    assert cache.get("BAD") is None


# Stale marking ---------------------------------------------------------------------------


def test_mark_stale_flags_cached_prices_and_keeps_sequence_and_version() -> None:
    cache = PriceCache()
    cache.apply([Quote("AAPL", 190.0, T0), Quote("MSFT", 410.0, T0)])
    [entry] = cache.mark_stale(["AAPL", "NVDA"])  # NVDA has no price: skipped
    assert entry.stale and entry.update.state == pb.DATA_STATE_STALE
    assert (entry.ticker, entry.price, entry.sequence) == ("AAPL", 190.0, 1)
    assert list(_batch(entry.element).updates) == [entry.update]
    assert entry.snapshot_element() == entry.element  # a snapshot of it says stale too
    assert entry.snapshot_update().state == pb.DATA_STATE_STALE
    assert cache.get("AAPL") is entry
    assert cache.version == 2
    assert cache.mark_stale(["AAPL"]) == []  # already stale
    fresh = cache.get("MSFT")
    assert fresh is not None and not fresh.stale
    assert fresh.snapshot_update().state == pb.DATA_STATE_SNAPSHOT


def test_the_next_quote_after_stale_is_live_again() -> None:
    cache = PriceCache()
    cache.apply([Quote("AAPL", 190.0, T0)])
    cache.mark_stale(["AAPL"])
    [entry] = cache.apply([Quote("AAPL", 191.0, T0 + 1)])
    assert not entry.stale
    assert (entry.update.state, entry.update.sequence) == (pb.DATA_STATE_LIVE, 2)
    assert entry.update.previous_price == 190.0


def test_the_update_message_is_decoded_from_the_element_on_demand() -> None:
    cache = PriceCache()
    cache.apply([Quote("AAPL", 100.0, T0)])
    (entry,) = cache.apply([Quote("AAPL", 101.0, T0 + 5, open=99.0)])
    assert (entry.ticker, entry.price, entry.sequence) == ("AAPL", 101.0, 2)
    assert entry.update.previous_price == 100.0 and entry.update.open == 99.0
    batch = pb.PriceBatch()
    batch.updates.append(entry.update)
    assert batch.SerializeToString() == entry.element


# Blocks: a ticker list kept in columns -----------------------------------------------------


TICKERS = ("AAPL", "MSFT", "V")


def _block(*prices: float, ts: int = T0, tickers: tuple[str, ...] = TICKERS) -> PriceBlock:
    return PriceBlock(tickers, np.array(prices), ts, sizes=np.full(len(prices), 100.0))


def _state(cache: PriceCache, ticker: str) -> tuple[float, float, int, int]:
    entry = cache.get(ticker)
    assert entry is not None
    u = entry.update
    return u.price, u.previous_price, u.sequence, u.state


def _element(cache: PriceCache, ticker: str) -> bytes:
    entry = cache.get(ticker)
    assert entry is not None
    return entry.element


def test_a_block_is_read_back_ticker_by_ticker_as_quotes_would_be() -> None:
    blocks, quotes = PriceCache(), PriceCache()
    for cache in (blocks, quotes):
        cache.apply([Quote("MSFT", 400.0, T0 - 1)])  # one ticker priced before the block
    for prices, ts in (((190.0, 401.0, 280.0), T0), ((191.0, 401.0, 279.5), T0 + 1)):
        batch = blocks.apply_block(_block(*prices, ts=ts))
        assert batch is not None
        quotes.apply(list(_block(*prices, ts=ts)))
    for ticker in TICKERS:
        assert _element(blocks, ticker) == _element(quotes, ticker)
    assert _state(blocks, "MSFT") == (401.0, 401.0, 3, pb.DATA_STATE_LIVE)
    assert blocks.version == quotes.version == 7
    assert len(blocks) == 3
    assert [e.ticker for e in blocks.snapshot()] == sorted(TICKERS)
    assert [e.ticker for e in blocks.snapshot(["V", "NFLX", "AAPL"])] == ["V", "AAPL"]


def test_a_quote_after_a_block_goes_on_from_it_and_the_next_block_from_the_quote() -> None:
    cache = PriceCache()
    cache.apply_block(_block(190.0, 400.0, 280.0))
    cache.apply([Quote("AAPL", 195.0, T0 + 1)])
    assert _state(cache, "AAPL") == (195.0, 190.0, 2, pb.DATA_STATE_LIVE)
    assert cache.apply_block(_block(196.0, 401.0, 281.0, ts=T0 + 2)) is not None
    assert _state(cache, "AAPL") == (196.0, 195.0, 3, pb.DATA_STATE_LIVE)
    assert _state(cache, "V") == (281.0, 280.0, 2, pb.DATA_STATE_LIVE)


def test_a_stale_mark_skip_and_forget_reach_tickers_kept_in_a_block() -> None:
    cache = PriceCache()
    cache.apply_block(_block(190.0, 400.0, 280.0))
    [stale] = cache.mark_stale(["MSFT"])
    assert stale.update.state == pb.DATA_STATE_STALE
    assert _state(cache, "MSFT")[3] == pb.DATA_STATE_STALE
    assert cache.skip("V", 5) == 7
    cache.forget("AAPL")
    assert cache.get("AAPL") is None
    cache.apply_block(_block(191.0, 401.0, 281.0, ts=T0 + 1))
    assert _state(cache, "MSFT") == (401.0, 400.0, 2, pb.DATA_STATE_LIVE)
    assert _state(cache, "V")[2] == 7
    assert _state(cache, "AAPL") == (191.0, 191.0, 1, pb.DATA_STATE_LIVE)


def test_another_ticker_list_takes_over_from_the_first() -> None:
    cache = PriceCache()
    cache.apply_block(_block(190.0, 400.0, 280.0))
    cache.apply_block(_block(402.0, 650.0, ts=T0 + 1, tickers=("MSFT", "NFLX")))
    assert _state(cache, "AAPL") == (190.0, 190.0, 1, pb.DATA_STATE_LIVE)
    assert _state(cache, "MSFT") == (402.0, 400.0, 2, pb.DATA_STATE_LIVE)
    assert _state(cache, "NFLX") == (650.0, 650.0, 1, pb.DATA_STATE_LIVE)
    assert len(cache) == 4


def test_an_edge_entry_for_a_block_ticker_is_taken_when_newer() -> None:
    cache = PriceCache()
    cache.apply_block(_block(190.0, 400.0, 280.0))
    newer = pb.PriceUpdate(ticker="V", price=290.0, sequence=9, state=pb.DATA_STATE_LIVE)
    older = pb.PriceUpdate(ticker="AAPL", price=1.0, sequence=1, state=pb.DATA_STATE_LIVE)
    assert [e.ticker for e in cache.accept([CachedPrice.of(newer), CachedPrice.of(older)])] == ["V"]
    assert _state(cache, "V")[:1] == (290.0,)
    assert _state(cache, "AAPL")[0] == 190.0


@pytest.mark.parametrize("bad", [math.nan, math.inf, 0.0, -1.0])
def test_a_block_with_a_bad_price_is_not_taken_in_columns(bad: float) -> None:
    cache = PriceCache()
    block = _block(190.0, bad, 280.0)
    assert cache.apply_block(block) is None  # the hub then applies it quote by quote:
    assert [e.ticker for e in cache.apply(block)] == ["AAPL", "V"]
    assert cache.rejected == 1


def test_a_block_naming_a_ticker_twice_is_not_taken_in_columns() -> None:
    cache = PriceCache()
    assert cache.apply_block(_block(1.0, 2.0, tickers=("AAPL", "AAPL"))) is None
    assert cache.version == 0


def test_disjoint_ticker_lists_are_kept_side_by_side_and_the_oldest_goes_past_the_cap() -> None:
    cache = PriceCache()
    lists = [(f"A{k}", f"B{k}") for k in range(PriceCache.MAX_LISTS + 1)]
    for step in range(3):
        for k, tickers in enumerate(lists[:2]):  # a burst and the regular tick, interleaved
            assert cache.apply_block(_block(10.0 + step, 20.0 + k, tickers=tickers)) is not None
    assert _state(cache, "A0") == (12.0, 11.0, 3, pb.DATA_STATE_LIVE)
    assert _state(cache, "B1") == (21.0, 21.0, 3, pb.DATA_STATE_LIVE)
    for tickers in lists[2:]:  # one list too many: the oldest is turned into entries
        cache.apply_block(_block(5.0, 6.0, tickers=tickers))
    assert len(cache) == 2 * len(lists)
    assert _state(cache, "A0") == (12.0, 11.0, 3, pb.DATA_STATE_LIVE)
    assert cache.apply_block(_block(13.0, 20.0, tickers=lists[0])) is not None
    assert _state(cache, "A0") == (13.0, 12.0, 4, pb.DATA_STATE_LIVE)
    assert [e.ticker for e in cache.snapshot()] == sorted(t for pair in lists for t in pair)
