"""The unary snapshot read: cached prices of named tickers, or of all of them a page at a time."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence

from tickwire_server import symbols
from tickwire_server.cache import PriceCache
from tickwire_server.codec import CachedPrice
from tickwire_server.domain import TickerResult, TickerStatus
from tickwire_server.sources.base import PriceSource


def read_snapshot(
    cache: PriceCache,
    source: PriceSource,
    raw_tickers: Sequence[str],
    elsewhere: Mapping[str, CachedPrice] | None = None,
) -> tuple[list[CachedPrice], list[TickerResult]]:
    """Cached prices of the named tickers and one result per distinct ticker.

    No tickers named: every cached price, by ticker, and no results (see
    `read_page` for the unary method, which pages them). Else OK
    with a price; NO_DATA for a ticker the source serves but has no price for
    yet; UNKNOWN_TICKER and INVALID_SYMBOL as for a subscription. Prices the
    cache lacks are looked up in `elsewhere` (an edge's: the bus's bucket).
    """
    if not raw_tickers:
        return cache.snapshot(), []
    entries: list[CachedPrice] = []
    results: list[TickerResult] = []
    for symbol, invalid in symbols.distinct(raw_tickers):
        if invalid is not None:
            results.append(invalid)
        elif (entry := cache.get(symbol)) is not None or (
            elsewhere is not None and (entry := elsewhere.get(symbol)) is not None
        ):
            entries.append(entry)
            results.append(TickerResult(symbol, TickerStatus.OK))
        elif not source.knows(symbol):
            results.append(TickerResult(symbol, TickerStatus.UNKNOWN_TICKER))
        else:
            message = "no price yet: subscribe to start the source on it"
            results.append(TickerResult(symbol, TickerStatus.NO_DATA, message))
    return entries, results


def read_page(
    cache: PriceCache,
    page_size: int,
    page_token: str,
    elsewhere: Mapping[str, CachedPrice] | None = None,
) -> tuple[list[CachedPrice], str]:
    """Up to `page_size` cached prices in ticker order after `page_token`; the next token.

    The token is opaque to clients (the last ticker of the page, encoded);
    an empty next token means the last page.

    Raises:
        ValueError: `page_token` was not made by this function.
    """
    after = _decode(page_token) if page_token else ""
    cached = cache.snapshot()
    if elsewhere:
        merged = dict(elsewhere) | {e.ticker: e for e in cached}
        cached = [merged[t] for t in sorted(merged)]
    entries = [e for e in cached if e.ticker > after]
    page = entries[:page_size]
    more = len(entries) > page_size
    return page, _encode(page[-1].ticker) if more and page else ""


def _encode(ticker: str) -> str:
    return base64.urlsafe_b64encode(b"after:" + ticker.encode()).decode()


def _decode(token: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(token.encode())
    except (binascii.Error, ValueError):
        raw = b""
    if not raw.startswith(b"after:"):
        raise ValueError("page_token was not made by this server")
    return raw[len(b"after:") :].decode(errors="replace")
