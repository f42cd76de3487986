"""StreamSession: one stream's requests — normalise, validate, limit, answer."""

from __future__ import annotations

from collections.abc import Iterable, Set

from tickwire_server import symbols
from tickwire_server.candles.book import CandleWatch
from tickwire_server.candles.intervals import Interval
from tickwire_server.domain import TickerResult, TickerStatus
from tickwire_server.hub import Hub
from tickwire_server.limits import TokenBucket
from tickwire_server.sources.base import PriceSource
from tickwire_server.subscriber import Subscriber


class StreamSession:
    """Applies subscribe and unsubscribe requests of one stream to the hub.

    Each request gets one result per distinct ticker; one bad ticker never
    fails the others. `source` answers whether a symbol is served. With a
    `bucket`, a subscribe or unsubscribe finding it empty is answered
    RATE_LIMITED for every ticker and applies nothing; `refused_in_a_row`
    counts those since the last request that went through. Plain object:
    tests drive it without gRPC.
    """

    def __init__(
        self,
        hub: Hub,
        subscriber: Subscriber,
        source: PriceSource,
        *,
        max_tickers: int,
        bucket: TokenBucket | None = None,
        candles: CandleWatch | None = None,
    ) -> None:
        self.hub = hub
        self.candles = candles
        self.subscriber = subscriber
        self.source = source
        self.max_tickers = max_tickers
        self.bucket = bucket
        self.refused_in_a_row = 0
        hub.attach(subscriber)

    @property
    def tickers(self) -> Set[str]:
        """The stream's ticker set (the subscriber's own)."""
        return self.subscriber.tickers

    def subscribe(self, raw_tickers: Iterable[str]) -> list[TickerResult]:
        """Add tickers; queue a snapshot for each that has a cached price."""
        if (limited := self._rate_limited(raw_tickers)) is not None:
            return limited
        results: list[TickerResult] = []
        accepted: list[str] = []
        have = self.subscriber.tickers
        # Tickers this stream released that are still upstream count against its cap.
        room = self.max_tickers - len(have) - self.subscriber.releasing
        universe = self.hub.universe_room()
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
            # Taking back a ticker it released, still in its grace, costs no room.
            reclaim = self.hub.released_by(symbol) is self.subscriber
            if room <= 0 and not reclaim:
                message = f"a stream may hold at most {self.max_tickers} tickers"
                if self.subscriber.releasing:
                    message += f" ({self.subscriber.releasing} it released are still upstream)"
                results.append(TickerResult(symbol, TickerStatus.LIMIT_EXCEEDED, message))
                continue
            if universe is not None and not self.hub.is_upstream(symbol):
                if universe <= 0:
                    message = f"the server serves at most {self.hub.max_universe} tickers at once"
                    results.append(TickerResult(symbol, TickerStatus.LIMIT_EXCEEDED, message))
                    continue
                universe -= 1
            room -= 0 if reclaim else 1
            accepted.append(symbol)
            results.append(TickerResult(symbol, TickerStatus.OK))
        self.hub.add(self.subscriber, accepted)
        return results

    def unsubscribe(self, raw_tickers: Iterable[str]) -> list[TickerResult]:
        """Remove tickers; a ticker the stream does not have is NOT_SUBSCRIBED."""
        if (limited := self._rate_limited(raw_tickers)) is not None:
            return limited
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

    def candle_tickers(self, iv: Interval) -> list[str]:
        """The stream's candle tickers of `iv`, sorted."""
        return sorted(t for t, n in self.subscriber.candle_keys if n == iv.number)

    def subscribe_candles(
        self, raw_tickers: Iterable[str], iv: Interval, closed_only: bool
    ) -> list[TickerResult]:
        """Watch the `iv` bars of tickers; the forming bar of each is queued at once.

        Each (ticker, interval) counts against the stream's ticker cap on its
        own; a ticker it watches already just takes the new `closed_only`.
        """
        if (limited := self._rate_limited(raw_tickers)) is not None:
            return limited
        assert self.candles is not None, "this server builds no candles"
        keys = self.subscriber.candle_keys
        results: list[TickerResult] = []
        accepted: list[str] = []
        room = self.max_tickers - len(keys)
        universe = self.hub.universe_room()
        for symbol, invalid in symbols.distinct(raw_tickers):
            if invalid is not None:
                results.append(invalid)
                continue
            if (symbol, iv.number) in keys:
                keys[(symbol, iv.number)] = closed_only
                accepted.append(symbol)
                results.append(TickerResult(symbol, TickerStatus.OK, "already subscribed"))
                continue
            if not self.source.knows(symbol):
                message = f"the {self.source.name} source does not serve {symbol}"
                results.append(TickerResult(symbol, TickerStatus.UNKNOWN_TICKER, message))
                continue
            if room <= 0:
                message = f"a stream may hold at most {self.max_tickers} candle subscriptions"
                results.append(TickerResult(symbol, TickerStatus.LIMIT_EXCEEDED, message))
                continue
            if universe is not None and not self.hub.is_upstream(symbol):
                if universe <= 0:
                    message = f"the server serves at most {self.hub.max_universe} tickers at once"
                    results.append(TickerResult(symbol, TickerStatus.LIMIT_EXCEEDED, message))
                    continue
                universe -= 1
            room -= 1
            keys[(symbol, iv.number)] = closed_only
            self.hub.hold(self.subscriber, symbol)
            accepted.append(symbol)
            results.append(TickerResult(symbol, TickerStatus.OK))
        self.candles.watch(self.subscriber, accepted, iv, closed_only)
        return results

    def unsubscribe_candles(self, raw_tickers: Iterable[str], iv: Interval) -> list[TickerResult]:
        """Stop the `iv` bars of tickers; one the stream does not watch is NOT_SUBSCRIBED."""
        if (limited := self._rate_limited(raw_tickers)) is not None:
            return limited
        results: list[TickerResult] = []
        keys = self.subscriber.candle_keys
        for symbol, invalid in symbols.distinct(raw_tickers):
            if invalid is not None:
                results.append(invalid)
            elif keys.pop((symbol, iv.number), None) is None:
                results.append(TickerResult(symbol, TickerStatus.NOT_SUBSCRIBED))
            else:
                self._drop_candles(symbol, iv.number)
                results.append(TickerResult(symbol, TickerStatus.OK))
        return results

    def _drop_candles(self, ticker: str, number: int) -> None:
        """Stop one (ticker, interval) already taken out of `candle_keys`."""
        if self.candles is not None:
            self.candles.unwatch_number(self.subscriber, ticker, number)
        if not any(t == ticker for t, _ in self.subscriber.candle_keys):
            self.hub.unhold(self.subscriber, ticker)

    def _rate_limited(self, raw_tickers: Iterable[str]) -> list[TickerResult] | None:
        """RATE_LIMITED for every ticker when the bucket is empty; None when the request may go."""
        if self.bucket is None or self.bucket.take():
            self.refused_in_a_row = 0
            return None
        self.refused_in_a_row += 1
        rate = self.bucket.rate * 60
        message = f"at most {rate:g} requests a minute, {self.bucket.burst} at once: retry later"
        return [
            TickerResult(invalid.ticker if invalid else symbol, TickerStatus.RATE_LIMITED, message)
            for symbol, invalid in symbols.distinct(raw_tickers)
        ]

    def close(self) -> None:
        """Release everything the stream held. Idempotent."""
        keys = self.subscriber.candle_keys
        while keys:
            ticker, number = keys.popitem()[0]
            self._drop_candles(ticker, number)
        self.hub.detach(self.subscriber)
