"""The unary snapshot read: cached prices of named tickers, one result per ticker."""

from __future__ import annotations

from collections.abc import Sequence

from tickwire_server import symbols
from tickwire_server.cache import PriceCache
from tickwire_server.codec import CachedPrice
from tickwire_server.domain import TickerResult, TickerStatus
from tickwire_server.sources.base import PriceSource


def read_snapshot(
    cache: PriceCache, source: PriceSource, raw_tickers: Sequence[str]
) -> tuple[list[CachedPrice], list[TickerResult]]:
    """Cached prices of the named tickers and one result per distinct ticker.

    No tickers named: every cached price, by ticker, and no results. Else OK
    with a price; NO_DATA for a ticker the source serves but has no price for
    yet; UNKNOWN_TICKER and INVALID_SYMBOL as for a subscription.
    """
    if not raw_tickers:
        return cache.snapshot(), []
    entries: list[CachedPrice] = []
    results: list[TickerResult] = []
    for symbol, invalid in symbols.distinct(raw_tickers):
        if invalid is not None:
            results.append(invalid)
        elif (entry := cache.get(symbol)) is not None:
            entries.append(entry)
            results.append(TickerResult(symbol, TickerStatus.OK))
        elif not source.knows(symbol):
            results.append(TickerResult(symbol, TickerStatus.UNKNOWN_TICKER))
        else:
            message = "no price yet: subscribe to start the source on it"
            results.append(TickerResult(symbol, TickerStatus.NO_DATA, message))
    return entries, results
