"""Tests of the unary snapshot read: one result per distinct ticker, prices as cached."""

from __future__ import annotations

import time

from tickwire_server.cache import PriceCache
from tickwire_server.domain import Quote, TickerStatus
from tickwire_server.snapshot import read_snapshot
from tickwire_server.sources.scripted import ScriptedSource


def _cache(**prices: float) -> PriceCache:
    cache = PriceCache()
    cache.apply([Quote(t, p, time.time_ns()) for t, p in prices.items()])
    return cache


def test_named_tickers_get_their_price_or_the_reason_they_have_none() -> None:
    cache = _cache(AAPL=190.0, MSFT=410.0)
    source = ScriptedSource({"AAPL": 190.0, "MSFT": 410.0, "NVDA": 0.0}, strict=True)
    entries, results = read_snapshot(cache, source, [" aapl", "NVDA", "ZZZZ", "BAD$", "AAPL"])
    assert [(e.ticker, e.price) for e in entries] == [("AAPL", 190.0)]
    assert [(r.ticker, r.status) for r in results] == [
        ("AAPL", TickerStatus.OK),
        ("NVDA", TickerStatus.NO_DATA),  # served, no price yet
        ("ZZZZ", TickerStatus.UNKNOWN_TICKER),
        ("BAD$", TickerStatus.INVALID_SYMBOL),  # named as sent; the repeat of AAPL is dropped
    ]
    assert "subscribe" in results[1].message


def test_no_tickers_named_reads_every_cached_price_by_ticker() -> None:
    cache = _cache(MSFT=410.0, AAPL=190.0)
    entries, results = read_snapshot(cache, ScriptedSource(), [])
    assert [e.ticker for e in entries] == ["AAPL", "MSFT"]
    assert results == []
