"""StreamSession: one stream's requests — normalise, validate, limit, answer."""

from __future__ import annotations

from collections.abc import Iterable

from tickwire_server import symbols
from tickwire_server.cache import CachedPrice
from tickwire_server.domain import TickerResult, TickerStatus
from tickwire_server.hub import Hub
from tickwire_server.subscriber import Subscriber


def _distinct(raw_tickers: Iterable[str]) -> list[tuple[str, TickerResult | None]]:
    """(symbol, None) for each distinct well-formed symbol, in request order.

    A malformed one comes as (symbol, its INVALID_SYMBOL result, naming the
    ticker as sent); a repeat of a symbol already seen is dropped.
    """
    seen: set[str] = set()
    out: list[tuple[str, TickerResult | None]] = []
    for raw in raw_tickers:
        symbol = symbols.normalize(raw)
        if symbol in seen:
            continue
        seen.add(symbol)
        invalid = None
        if not symbols.is_valid(symbol):
            reason = symbols.invalid_reason(raw)
            invalid = TickerResult(raw, TickerStatus.INVALID_SYMBOL, reason)
        out.append((symbol, invalid))
    return out


class StreamSession:
    """Applies subscribe and unsubscribe requests of one stream to the hub.

    Each request gets one result per distinct ticker; one bad ticker never
    fails the others. Plain object: tests drive it without gRPC.
    """

    def __init__(self, hub: Hub, subscriber: Subscriber, *, max_tickers: int) -> None:
        self.hub = hub
        self.subscriber = subscriber
        self.max_tickers = max_tickers
        hub.attach(subscriber)

    @property
    def tickers(self) -> set[str]:
        return self.subscriber.tickers

    def subscribe(self, raw_tickers: Iterable[str]) -> list[TickerResult]:
        """Add tickers; queue a snapshot for each that has a cached price."""
        results: list[TickerResult] = []
        accepted: list[str] = []
        have = self.subscriber.tickers
        room = self.max_tickers - len(have)
        source = self.hub.source
        for symbol, invalid in _distinct(raw_tickers):
            if invalid is not None:
                results.append(invalid)
                continue
            if symbol in have:
                results.append(TickerResult(symbol, TickerStatus.OK, "already subscribed"))
                continue
            if not source.knows(symbol):
                message = f"the {source.name} source does not serve {symbol}"
                results.append(TickerResult(symbol, TickerStatus.UNKNOWN_TICKER, message))
                continue
            if room <= 0:
                message = f"a stream may hold at most {self.max_tickers} tickers"
                results.append(TickerResult(symbol, TickerStatus.LIMIT_EXCEEDED, message))
                continue
            room -= 1
            accepted.append(symbol)
            results.append(TickerResult(symbol, TickerStatus.OK))
        self.hub.add(self.subscriber, accepted)
        return results

    def unsubscribe(self, raw_tickers: Iterable[str]) -> list[TickerResult]:
        """Remove tickers; a ticker the stream does not have is NOT_SUBSCRIBED."""
        results: list[TickerResult] = []
        removed: list[str] = []
        have = self.subscriber.tickers
        for symbol, invalid in _distinct(raw_tickers):
            if invalid is not None:
                results.append(invalid)
            elif symbol not in have:
                results.append(TickerResult(symbol, TickerStatus.NOT_SUBSCRIBED))
            else:
                removed.append(symbol)
                results.append(TickerResult(symbol, TickerStatus.OK))
        self.hub.remove(self.subscriber, removed)
        return results

    def close(self) -> None:
        """Release everything the stream held. Idempotent."""
        self.hub.detach(self.subscriber)


def snapshot(hub: Hub, raw_tickers: Iterable[str]) -> tuple[list[CachedPrice], list[TickerResult]]:
    """Cached prices of the named tickers and one result per distinct ticker.

    OK with a price; NO_DATA for a ticker the source serves but has no price
    for yet; UNKNOWN_TICKER and INVALID_SYMBOL as for a subscription.
    """
    entries: list[CachedPrice] = []
    results: list[TickerResult] = []
    for symbol, invalid in _distinct(raw_tickers):
        if invalid is not None:
            results.append(invalid)
        elif (entry := hub.cache.get(symbol)) is not None:
            entries.append(entry)
            results.append(TickerResult(symbol, TickerStatus.OK))
        elif not hub.source.knows(symbol):
            results.append(TickerResult(symbol, TickerStatus.UNKNOWN_TICKER))
        else:
            message = "no price yet: subscribe to start the source on it"
            results.append(TickerResult(symbol, TickerStatus.NO_DATA, message))
    return entries, results
