"""The seams between a price source and the server: `PriceSource` and `PriceSink`."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from typing import Any, Protocol

from tickwire_server.domain import MarketState, Quote, SourceState, SourceStatus, TickerMeta
from tickwire_server.tasks import cancel


class PriceSink(Protocol):
    """Where a source hands its prices. Safe to call from any thread."""

    def publish(self, quotes: Sequence[Quote]) -> None:
        """Hand over one batch of quotes (one hand-off per batch).

        A source that moves the same tickers every tick hands a `PriceBlock`
        (a `Sequence[Quote]` held as columns) instead: the server then keeps
        it in columns all the way to the wire, with no object per price.
        """

    def set_status(self, status: SourceStatus) -> None:
        """Report a change of market state or source health."""

    def reject(self, tickers: Sequence[str], reason: str) -> None:
        """Report tickers the upstream turned out not to know."""

    def mark_stale(self, tickers: Sequence[str]) -> None:
        """Report that the latest prices of `tickers` are no longer being refreshed.

        Their cached prices turn DATA_STATE_STALE until the next update of each.
        """


class PriceSource(Protocol):
    """A pluggable upstream of prices.

    A source never knows about clients. The hub calls `add_ticker` when a
    ticker gets its first subscriber and `remove_ticker` (after a grace) when
    it loses its last; a source may keep serving configured default tickers
    regardless. All methods are called on the event loop.
    """

    name: str

    async def start(self, sink: PriceSink) -> None:
        """Begin producing prices into `sink`; returns once running."""

    async def stop(self) -> None:
        """Stop producing; leaves no task or thread behind. Idempotent."""

    def add_ticker(self, ticker: str) -> None:
        """Start producing prices for `ticker` (already validated)."""

    def remove_ticker(self, ticker: str) -> bool:
        """Stop producing prices for `ticker` unless it is a default.

        Returns:
            True when the source stopped it, False when it keeps serving it
            (a default); the hub then drops or keeps its cached price.
        """

    def knows(self, ticker: str) -> bool:
        """True when the source can serve the well-formed symbol `ticker`."""

    def tickers(self) -> list[TickerMeta]:
        """The universe the source serves now, with metadata."""

    def status(self) -> SourceStatus:
        """The current market state and source health."""


class SteppingSource:
    """What the always-open sources share: a sink, a status, and one task stepping the prices.

    A subclass sets `name`, calls `_begin` from its `start`, and gets `status`,
    an idempotent `stop` and `_set_state` from here. The market is open
    unless a subclass says otherwise.
    """

    name: str

    def __init__(self) -> None:
        self._sink: PriceSink | None = None
        self._task: asyncio.Task[None] | None = None
        self._status = SourceStatus(self.name, MarketState.OPEN, SourceState.STARTING)

    def status(self) -> SourceStatus:
        """STARTING before `start`, HEALTHY while running, STOPPED after `stop`."""
        return self._status

    async def stop(self) -> None:
        """Cancel the stepping task and wait for it to end. Idempotent."""
        task, self._task = self._task, None
        await cancel(task)
        if self._status.state is not SourceState.STOPPED:
            self._set_state(SourceState.STOPPED)

    @property
    def running(self) -> bool:
        return self._task is not None

    def _begin(
        self, sink: PriceSink, first: Sequence[Quote], run: Coroutine[Any, Any, None]
    ) -> None:
        """Go HEALTHY, publish the `first` prices and start stepping with `run`."""
        self._sink = sink
        self._set_state(SourceState.HEALTHY)
        sink.publish(first)
        self._task = asyncio.create_task(run, name=self.name)

    def _set_state(
        self, state: SourceState, market: MarketState | None = None, message: str = ""
    ) -> None:
        """Record and report `state` (and `market`, which otherwise stays as it is)."""
        market = self._status.market if market is None else market
        self._status = SourceStatus(self.name, market, state, message)
        if self._sink is not None:
            self._sink.set_status(self._status)
