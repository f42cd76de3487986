"""Tests of the unary snapshot read: one result per distinct ticker, prices as cached."""

from __future__ import annotations

import time

from fakes.scripted import ScriptedSource

from tickwire_server.cache import PriceCache
from tickwire_server.domain import Quote, TickerStatus
from tickwire_server.snapshot import read_snapshot


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


def test_pages_walk_every_price_once_in_ticker_order() -> None:
    from tickwire_server.snapshot import read_page

    cache = _cache(**{f"T{i:02d}": 1.0 + i for i in range(25)})
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        page, token = read_page(cache, 10, token)
        seen += [e.ticker for e in page]
        pages += 1
        if not token:
            break
    assert seen == sorted(f"T{i:02d}" for i in range(25))
    assert pages == 3
    assert read_page(cache, 25, "") == (read_page(cache, 25, "")[0], "")  # one page, no more


def test_a_page_token_not_made_by_the_server_is_refused() -> None:
    import pytest

    from tickwire_server.snapshot import read_page

    with pytest.raises(ValueError, match="page_token"):
        read_page(_cache(AAPL=1.0), 10, "not-a-token")
