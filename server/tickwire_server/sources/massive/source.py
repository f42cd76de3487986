"""MassiveSource: the `PriceSource` over Massive's REST snapshots or WebSocket feed."""

from __future__ import annotations

import asyncio
import collections
import logging
import random
import time
from collections.abc import Sequence

from tickwire_server.candles.bars import Bar
from tickwire_server.domain import MarketState, Quote, SourceState, SourceStatus, TickerMeta
from tickwire_server.errors import AuthError, CircuitOpen, Unavailable, UpstreamError
from tickwire_server.sources.base import PriceSink
from tickwire_server.sources.massive.api import RestApi
from tickwire_server.sources.massive.breaker import CircuitBreaker, RetryDelays
from tickwire_server.sources.massive.feed import Part
from tickwire_server.sources.massive.options import MassiveOptions
from tickwire_server.sources.massive.rest import SnapshotPoller
from tickwire_server.sources.massive.status import MarketStatusPoller
from tickwire_server.sources.massive.stream import StreamFeed

log = logging.getLogger(__name__)

UNKNOWN_FOR = 3600.0  # seconds a ticker Massive did not know stays unknown
_SEVERITY = {SourceState.HEALTHY: 0, SourceState.STARTING: 1, SourceState.DEGRADED: 2}


class MassiveSource:
    """Real market data from Massive (formerly Polygon.io).

    REST mode polls the snapshot of exactly the wanted tickers (subscribed
    plus defaults); WebSocket mode streams their aggregates and backfills from
    a snapshot after each (re)connect. The market status is polled in both.
    `start` checks the key with a first request and raises `AuthError` when
    Massive rejects it. Later failures become states: a failing part is
    DEGRADED, a rejected key or an open circuit is ERROR, and the prices of a
    failing feed are marked stale until fresh ones arrive. `skipped` counts
    upstream records dropped as malformed or without a price.
    """

    name = "massive"

    def __init__(self, options: MassiveOptions, *, rng: random.Random | None = None) -> None:
        self._options = options
        self._rng = rng or random.Random()
        self._defaults = set(options.tickers)
        self._wanted = set(options.tickers)
        self._unknown: dict[str, float] = {}
        self._last: dict[str, tuple[int, float]] = {}  # ticker -> (timestamp_ns, price)
        self._stale: set[str] = set()
        self._market = MarketState.CLOSED
        self._parts = {part: (SourceState.STARTING, "") for part in Part}
        self._status = SourceStatus(self.name, self._market, SourceState.STARTING)
        self._sink: PriceSink | None = None
        self._api: RestApi | None = None
        self._poller: SnapshotPoller | None = None
        self._stream: StreamFeed | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._refresher: asyncio.Task[None] | None = None
        self._refresh_again = False
        self.skipped = 0
        # Failed upstream calls by kind (auth_error, rate_limited, unavailable, ...).
        self.upstream_errors: collections.Counter[str] = collections.Counter()

    async def minute_bars(
        self, ticker: str, start_ms: int, end_ms: int, cursor: str | None = None
    ) -> tuple[list[Bar], str | None]:
        """One page of Massive's minute bars (see `RestApi.minute_bars`), for backfill.

        Raises:
            Unavailable: the source is not started.
            UpstreamError: the call failed.
        """
        if self._api is None:
            raise Unavailable("the Massive source is not started")
        return await self._api.minute_bars(ticker, start_ms, end_ms, cursor)

    # PriceSource ------------------------------------------------------------------

    async def start(self, sink: PriceSink) -> None:
        """Check the key and the market, then start polling or streaming.

        Raises:
            AuthError: Massive rejected the API key.
        """
        if self._sink is not None:
            return
        o = self._options
        key = o.api_key.get_secret_value()
        breaker = CircuitBreaker(o.breaker_threshold, self._backoff())
        api = RestApi(key, o.rest_url, timeout=o.timeout, breaker=breaker)
        first_status_poll = o.status_interval
        try:
            self._market = await api.market_status()
            self._parts[Part.MARKET] = (SourceState.HEALTHY, "")
        except AuthError:
            await api.close()
            raise
        except UpstreamError as error:
            log.warning("Massive is not answering at start (%s); retrying in the background", error)
            self._parts[Part.MARKET] = (SourceState.DEGRADED, f"market status: {error}")
            first_status_poll = 0.0
        self._sink, self._api = sink, api
        self._poller = SnapshotPoller(api, self, interval=o.poll_interval, backoff=self._backoff())
        status = MarketStatusPoller(
            api, self, self._set_market, interval=o.status_interval, backoff=self._backoff()
        )
        status_task = asyncio.create_task(status.run(first_status_poll), name="massive-status")
        self._tasks.append(status_task)
        if o.mode == "websocket":
            self._stream = StreamFeed(
                api_key=key,
                url=o.ws_url,
                outlet=self,
                trades=o.trades,
                connect_timeout=o.timeout,
                idle_timeout=o.idle_timeout,
                backoff=self._backoff(),
                on_connected=self._request_refresh,
            )
            self._stream.arm_watchdog(self._market is MarketState.OPEN)
            feed = self._stream.run()
        else:
            feed = self._poller.run()
        self._tasks.append(asyncio.create_task(feed, name=f"massive-{o.mode}"))
        self._publish_status()
        log.info("Massive source started (%s mode, %s)", o.mode, o.rest_url)

    async def stop(self) -> None:
        """Cancel the feeds, wait for calls still in threads. Idempotent."""
        tasks, self._tasks = self._tasks, []
        if self._refresher is not None:
            tasks.append(self._refresher)
            self._refresher = None
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        if self._api is not None:
            await self._api.close()
            self._api = None
            log.info("Massive source stopped")
        if self._status.state is not SourceState.STOPPED:
            self._status = SourceStatus(self.name, self._market, SourceState.STOPPED)
            if self._sink is not None:
                self._sink.set_status(self._status)

    def add_ticker(self, ticker: str) -> None:
        if ticker in self._wanted:
            return
        self._wanted.add(ticker)
        if self._stream is not None:
            self._stream.add(ticker)
            self._request_refresh()

    def remove_ticker(self, ticker: str) -> bool:
        if ticker in self._defaults:
            return False
        if ticker not in self._wanted:
            return True
        self._wanted.discard(ticker)
        self._last.pop(ticker, None)
        self._stale.discard(ticker)
        if self._stream is not None:
            self._stream.remove(ticker)
        return True

    def knows(self, ticker: str) -> bool:
        since = self._unknown.get(ticker)
        if since is None:
            return True
        if time.monotonic() - since > UNKNOWN_FOR:
            del self._unknown[ticker]
            return True
        return False

    def tickers(self) -> list[TickerMeta]:
        return [
            TickerMeta(t, seed_price=self._last.get(t, (0, 0.0))[1], active=True)
            for t in sorted(self._wanted)
        ]

    def status(self) -> SourceStatus:
        return self._status

    # Outlet (what the feeds report) --------------------------------------------------

    def wanted(self) -> list[str]:
        return sorted(self._wanted)

    def offer(self, quotes: Sequence[Quote]) -> None:
        fresh: list[Quote] = []
        for quote in quotes:
            ticker = quote.ticker
            if ticker not in self._wanted:
                continue  # a late answer for a released ticker
            last = self._last.get(ticker)
            if last is not None:
                older = quote.timestamp_ns < last[0]
                repeated = quote.timestamp_ns == last[0] and quote.price == last[1]
                if older or (repeated and ticker not in self._stale):
                    continue
            self._last[ticker] = (quote.timestamp_ns, quote.price)
            self._stale.discard(ticker)
            fresh.append(quote)
        if fresh and self._sink is not None:
            self._sink.publish(fresh)

    def reject(self, tickers: Sequence[str]) -> None:
        now = time.monotonic()
        log.warning("Massive does not know %s; dropped", ", ".join(tickers))
        for ticker in tickers:
            self._unknown[ticker] = now
            self._wanted.discard(ticker)
            self._defaults.discard(ticker)
            self._last.pop(ticker, None)
            self._stale.discard(ticker)
            if self._stream is not None:
                self._stream.remove(ticker)
        if self._sink is not None:
            self._sink.reject(list(tickers), "unknown to Massive")

    def count_skipped(self, records: int) -> None:
        self.skipped += records

    def succeeded(self, part: Part) -> None:
        if self._parts[part][0] in (SourceState.DEGRADED, SourceState.ERROR):
            log.info("Massive %s recovered", part.value)
        self._set_part(part, SourceState.HEALTHY, "")

    def failed(self, part: Part, error: UpstreamError, delay: float, failures: int) -> None:
        self.upstream_errors[_kind(error)] += 1
        fatal = isinstance(error, AuthError | CircuitOpen)
        threshold = failures >= self._options.breaker_threshold
        state = SourceState.ERROR if fatal or threshold else SourceState.DEGRADED
        log.warning(
            "Massive %s failed (%s, %d in a row); next try in %.2f s",
            part.value,
            error,
            failures,
            delay,
        )
        self._set_part(part, state, f"{part.value}: {error}")
        if part is Part.PRICES:
            self._mark_stale()

    # Internals --------------------------------------------------------------------

    def _backoff(self) -> RetryDelays:
        o = self._options
        return RetryDelays(o.backoff_base, o.backoff_max, self._rng)

    def _set_market(self, market: MarketState) -> None:
        if market is not self._market:
            self._market = market
            if self._stream is not None:
                self._stream.arm_watchdog(market is MarketState.OPEN)
            self._publish_status()

    def _set_part(self, part: Part, state: SourceState, message: str) -> None:
        if self._parts[part] != (state, message):
            self._parts[part] = (state, message)
            self._publish_status()

    def _publish_status(self) -> None:
        if self._sink is None or self._status.state is SourceState.STOPPED:
            return
        states = [state for state, _ in self._parts.values()]
        state = max(states, key=lambda s: _SEVERITY.get(s, 3))
        message = "; ".join(m for _, m in self._parts.values() if m)
        status = SourceStatus(self.name, self._market, state, message)
        if not status.same_as(self._status):
            self._status = status
            self._sink.set_status(status)

    def _mark_stale(self) -> None:
        newly = sorted(t for t in self._last if t not in self._stale)
        if newly and self._sink is not None:
            self._stale.update(newly)
            self._sink.mark_stale(newly)

    def _request_refresh(self) -> None:
        """WebSocket mode: backfill the wanted tickers from one snapshot, soon."""
        self._refresh_again = True
        running = self._api is not None  # started and not stopped
        if running and (self._refresher is None or self._refresher.done()):
            self._refresher = asyncio.create_task(self._refresh(), name="massive-backfill")

    async def _refresh(self) -> None:
        while self._refresh_again and self._poller is not None:
            self._refresh_again = False
            try:
                await self._poller.poll_once()
            except UpstreamError as error:
                log.warning("Massive snapshot backfill failed: %s", error)
            except Exception:
                log.exception("Massive snapshot backfill failed unexpectedly")


def _kind(error: UpstreamError) -> str:
    """`RateLimited` -> "rate_limited": the label of `tickwire_upstream_errors_total`."""
    name = type(error).__name__
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")
