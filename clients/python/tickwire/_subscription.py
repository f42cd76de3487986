"""Subscription: a self-healing Subscribe stream, read as an async iterator of prices."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from tickwire._errors import SubscriptionError
from tickwire._inbox import Inbox
from tickwire._stream import OpenStream, StreamKeeper
from tickwire._types import (
    ConnectionState,
    StateCallback,
    StreamOptions,
    StreamStats,
    TickerResult,
)
from tickwire.v1 import market_data_pb2 as pb


class Subscription:
    """Live prices for a changing set of tickers, surviving disconnects.

    Iterate it for `PriceUpdate`s: the latest price of each ticker first
    (state SNAPSHOT), then live updates. Behind it one task keeps a
    `Subscribe` stream open: it reconnects with exponential backoff and
    jitter, resubscribes the wanted set, sends again every `add`/`remove`
    still unanswered, treats a stream silent for longer than
    `heartbeat_timeout` as dead, and counts sequence gaps in `stats`.
    Updates wait in a mailbox holding the latest per ticker, so a caller
    that reads slowly gets fresh prices, never a growing backlog.

    Create it with `Client.subscribe`; close it with `close()` or
    `async with`. `on_end` is called once no stream will open again.
    """

    def __init__(
        self,
        open_stream: OpenStream,
        options: StreamOptions,
        tickers: Iterable[str],
        *,
        strict: bool = False,
        on_state: StateCallback | None = None,
        on_end: Callable[[Subscription], None] | None = None,
    ) -> None:
        self._strict = strict
        self._inbox = Inbox(tickers)
        self._keeper = StreamKeeper(
            open_stream,
            options,
            self._inbox,
            strict=strict,
            on_state=on_state,
            on_end=lambda: on_end(self) if on_end is not None else None,
        )

    @property
    def state(self) -> ConnectionState:
        """Where the stream stands: connecting, connected, reconnecting or closed."""
        return self._keeper.state

    @property
    def tickers(self) -> list[str]:
        """The tickers this subscription wants (accepted or awaiting an answer)."""
        return list(self._inbox.wanted)

    @property
    def stats(self) -> StreamStats:
        """Counters of updates, gaps, conflation, reconnects and heartbeats."""
        return self._inbox.stats

    @property
    def results(self) -> list[TickerResult]:
        """The server's answer for the tickers the subscription opened with."""
        return self._inbox.results

    @property
    def rejected(self) -> dict[str, TickerResult]:
        """Tickers the server refused, with its reason."""
        return self._inbox.rejected

    @property
    def market_status(self) -> pb.MarketStatus | None:
        """The latest market status the server sent on this subscription."""
        return self._inbox.market_status

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> pb.PriceUpdate:
        readable = self._inbox.readable
        while (update := self._inbox.take()) is None:
            if self._keeper.error is not None:
                raise self._keeper.error
            if self._keeper.closed:
                raise StopAsyncIteration
            readable.clear()
            await readable.wait()
        return update

    async def add(self, *tickers: str, strict: bool | None = None) -> list[TickerResult]:
        """Subscribe to more tickers on the same stream; one result per ticker.

        A request whose answer is lost with a dropped stream is sent again
        on the next one (subscribing twice is harmless).

        Raises:
            SubscriptionError: strict and some tickers were rejected.
            RpcError: DEADLINE_EXCEEDED when no answer came within the
                client's `timeout`, reconnecting included.
            ClosedError: the subscription is closed or failed.
        """
        results = await self._keeper.request(pb.SubscribeRequest(subscribe=pb.SubscribeTickers(
            tickers=list(tickers))))  # fmt: skip
        if self._strict if strict is None else strict:
            _raise_if_rejected(results)
        return results

    async def remove(self, *tickers: str) -> list[TickerResult]:
        """Unsubscribe tickers; pending updates of them are dropped.

        A request whose answer is lost with a dropped stream is sent again on
        the next one, which never had the tickers: they come back
        NOT_SUBSCRIBED, and are gone all the same.

        Raises:
            RpcError: DEADLINE_EXCEEDED when no answer came within the
                client's `timeout`, reconnecting included.
            ClosedError: the subscription is closed or failed.
        """
        for ticker in tickers:
            self._inbox.forget(ticker.strip().upper())
        return await self._keeper.request(pb.SubscribeRequest(unsubscribe=pb.UnsubscribeTickers(
            tickers=list(tickers))))  # fmt: skip

    async def wait_connected(self) -> None:
        """Return once the stream is (re)connected; raise if it failed for good."""
        await self._keeper.wait_connected()

    async def close(self) -> None:
        """Stop the stream and its task. Idempotent."""
        await self._keeper.close()

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


def _raise_if_rejected(results: list[TickerResult]) -> None:
    if any(not r.ok for r in results):
        raise SubscriptionError(results)
