"""StreamSession: one stream's requests — normalise, validate, limit, answer."""

from __future__ import annotations

from collections.abc import Iterable, Set

from tickwire_server import symbols
from tickwire_server.domain import TickerResult, TickerStatus
from tickwire_server.hub import Hub
from tickwire_server.sources.base import PriceSource
from tickwire_server.subscriber import Subscriber


class StreamSession:
    """Applies subscribe and unsubscribe requests of one stream to the hub.

    Each request gets one result per distinct ticker; one bad ticker never
    fails the others. `source` answers whether a symbol is served. Plain
    object: tests drive it without gRPC.
    """

    def __init__(
        self, hub: Hub, subscriber: Subscriber, source: PriceSource, *, max_tickers: int
    ) -> None:
        self.hub = hub
        self.subscriber = subscriber
        self.source = source
        self.max_tickers = max_tickers
        hub.attach(subscriber)

    @property
    def tickers(self) -> Set[str]:
        """The stream's ticker set (the subscriber's own)."""
        return self.subscriber.tickers

    def subscribe(self, raw_tickers: Iterable[str]) -> list[TickerResult]:
        """Add tickers; queue a snapshot for each that has a cached price."""
        results: list[TickerResult] = []
        accepted: list[str] = []
        have = self.subscriber.tickers
        room = self.max_tickers - len(have)
        source = self.source
        for symbol, invalid in symbols.distinct(raw_tickers):
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
        for symbol, invalid in symbols.distinct(raw_tickers):
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
