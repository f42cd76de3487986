"""ScriptedSource: a source that emits exactly the prices its caller pushes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping

from tickwire_server.domain import MarketState, Quote, SourceState, SourceStatus, TickerMeta
from tickwire_server.sources.base import PriceSink


class ScriptedSource:
    """A hermetic source for tests: nothing moves unless `push` is called.

    `universe` maps ticker → seed price; when `strict`, tickers outside it
    are UNKNOWN_TICKER. Seed prices are published at start. `requested`
    records the tickers the hub asked for, in order, so tests can see
    ref-counting reach the upstream.
    """

    name = "synthetic"

    def __init__(self, universe: Mapping[str, float] | None = None, *, strict: bool = False):
        self._seeds = dict(universe or {})
        self._strict = strict
        self._active: set[str] = set(self._seeds)
        self._sink: PriceSink | None = None
        self._status = SourceStatus(self.name, MarketState.OPEN, SourceState.STARTING)
        self.requested: list[tuple[str, str]] = []
        self._request_seen = asyncio.Event()

    async def start(self, sink: PriceSink) -> None:
        self._sink = sink
        self.set_status(SourceState.HEALTHY)
        now = time.time_ns()
        seeds = [Quote(t, p, now) for t, p in sorted(self._seeds.items()) if p > 0]
        if seeds:
            sink.publish(seeds)

    async def stop(self) -> None:
        if self._sink is not None:
            self.set_status(SourceState.STOPPED)
        self._sink = None

    def add_ticker(self, ticker: str) -> None:
        self._record("add", ticker)
        self._active.add(ticker)

    def remove_ticker(self, ticker: str) -> bool:
        self._record("remove", ticker)
        if ticker in self._seeds:
            return False
        self._active.discard(ticker)
        return True

    def _record(self, action: str, ticker: str) -> None:
        self.requested.append((action, ticker))
        self._request_seen.set()

    async def wait_requested(self, action: str, ticker: str) -> None:
        """Return once the hub has asked to `action` ("add"/"remove") `ticker`.

        Unbounded: wrap it in `asyncio.timeout`.
        """
        while (action, ticker) not in self.requested:
            self._request_seen.clear()
            await self._request_seen.wait()

    def knows(self, ticker: str) -> bool:
        return not self._strict or ticker in self._seeds

    def tickers(self) -> list[TickerMeta]:
        return [
            TickerMeta(t, seed_price=self._seeds.get(t, 0.0), active=True)
            for t in sorted(self._active)
        ]

    def status(self) -> SourceStatus:
        return self._status

    @property
    def active(self) -> set[str]:
        """Tickers the source serves now (defaults plus those requested)."""
        return set(self._active)

    # Driving it -------------------------------------------------------------

    def push(self, prices: Mapping[str, float] | Iterable[Quote]) -> None:
        """Publish one batch: a {ticker: price} mapping or ready-made quotes."""
        if self._sink is None:
            raise RuntimeError("the source is not started")
        if isinstance(prices, Mapping):
            now = time.time_ns()
            quotes = [Quote(t, p, now) for t, p in prices.items()]
        else:
            quotes = list(prices)
        self._sink.publish(quotes)

    def set_status(
        self, state: SourceState, market: MarketState | None = None, message: str = ""
    ) -> None:
        """Change the reported source state (and market state) and tell the hub."""
        market = self._status.market if market is None else market
        self._status = SourceStatus(self.name, market, state, message)
        if self._sink is not None:
            self._sink.set_status(self._status)

    def reject(self, tickers: Iterable[str], reason: str = "unknown upstream") -> None:
        """Tell the hub that the upstream does not know `tickers`."""
        if self._sink is None:
            raise RuntimeError("the source is not started")
        self._sink.reject(list(tickers), reason)
