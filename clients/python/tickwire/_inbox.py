"""Inbox: what a subscription has received — wanted tickers, latest prices, gaps, acks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Protocol

from tickwire._types import StreamStats, TickerResult, TickerStatus
from tickwire.v1 import market_data_pb2 as pb


class Inbox:
    """The receiving side of one subscription, kept across reconnects.

    It holds the tickers wanted (as the server normalised them), a mailbox
    of the latest undelivered update per ticker (a slow reader gets fresh
    prices, never a backlog), the last sequence per ticker to count gaps,
    and what the acks said. Plain object: no I/O, tests can feed it messages.

    Attributes:
        wanted: the tickers to (re)subscribe, in order.
        readable: set when the mailbox has an update (or a reader must wake).
        stats: the subscription's counters.
        results: the answer to the first subscribe request.
        rejected: tickers the server refused, with why.
        market_status: the latest market status the server sent.
    """

    def __init__(self, tickers: Iterable[str]) -> None:
        self.wanted: dict[str, None] = dict.fromkeys(tickers)
        self.readable = asyncio.Event()
        self.stats = StreamStats()
        self.results: list[TickerResult] = []
        self.rejected: dict[str, TickerResult] = {}
        self.market_status: pb.MarketStatus | None = None
        self._pending: dict[str, pb.PriceUpdate] = {}
        self._last_sequence: dict[str, int] = {}

    def take(self) -> pb.PriceUpdate | None:
        """The oldest ticker's latest update, or None when the mailbox is empty."""
        if not self._pending:
            return None
        ticker = next(iter(self._pending))
        return self._pending.pop(ticker)

    def receive(self, message: pb.SubscribeResponse) -> pb.SubscriptionAck | None:
        """Take in one message; return it when it is an ack, for the caller to settle."""
        stats = self.stats
        stats.last_message_at = time.monotonic()
        kind = message.WhichOneof("response")
        if kind == "prices":
            batch = message.prices
            stats.batches += 1
            stats.conflated += batch.conflated
            for update in batch.updates:
                self._deliver(update)
            if self._pending:
                self.readable.set()
        elif kind == "ack":
            return message.ack
        elif kind == "heartbeat":
            stats.heartbeats += 1
        elif kind == "market_status":
            self.market_status = message.market_status
        return None

    def apply(self, ack: pb.SubscriptionAck) -> list[TickerResult]:
        """Update the wanted set from an ack; return its per-ticker results."""
        return settle(self, ack, pb.SUBSCRIPTION_ACTION_SUBSCRIBE)

    def opening(self, request_id: str) -> pb.SubscribeRequest | None:
        """What a new stream sends first: subscribe everything wanted (None: nothing is)."""
        if not self.wanted:
            return None
        change = pb.SubscribeTickers(tickers=list(self.wanted), request_id=request_id)
        return pb.SubscribeRequest(subscribe=change)

    def forget(self, ticker: str) -> None:
        """Stop wanting `ticker` and drop its undelivered update."""
        self.wanted.pop(ticker, None)
        self._pending.pop(ticker, None)
        self._last_sequence.pop(ticker, None)

    def _deliver(self, update: pb.PriceUpdate) -> None:
        ticker = update.ticker
        if ticker not in self.wanted:
            return  # in flight when it was removed
        stats = self.stats
        stats.updates += 1
        last = self._last_sequence.get(ticker)
        if last is not None and update.sequence > last + 1:
            stats.gaps += 1
            stats.missed += update.sequence - last - 1
        self._last_sequence[ticker] = update.sequence
        if ticker in self._pending:
            stats.conflated += 1
        self._pending[ticker] = update


class _Wants(Protocol):
    wanted: dict[str, None]
    rejected: dict[str, TickerResult]

    def forget(self, ticker: str) -> None: ...


def settle(inbox: _Wants, ack: pb.SubscriptionAck, subscribing: int) -> list[TickerResult]:
    """What an ack does to an inbox (of prices or candles): its per-ticker results.

    Refused tickers are forgotten and kept in `rejected`; on an ack of
    `subscribing`, the server's normalised names replace what was asked for.
    """
    results = [TickerResult.from_proto(r) for r in ack.results]
    for result in results:
        if result.ok:
            inbox.rejected.pop(result.ticker, None)  # accepted now, whatever it was before
        elif result.status is not TickerStatus.NOT_SUBSCRIBED:
            inbox.rejected[result.ticker] = result
            inbox.forget(result.ticker)
    if ack.action == subscribing:
        accepted = [r.ticker for r in results if r.ok]
        asked = {r.ticker.strip().upper() for r in results}
        inbox.wanted = {
            **{t: None for t in inbox.wanted if t.strip().upper() not in asked},
            **dict.fromkeys(accepted),
        }
    return results
