"""Candles: interval names, the candle inbox, and `CandleSubscription` (self-healing)."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from tickwire._errors import SubscriptionError
from tickwire._inbox import settle
from tickwire._stream import OpenStream, StreamKeeper
from tickwire._types import ConnectionState, StateCallback, StreamOptions, StreamStats, TickerResult
from tickwire.v1 import candles_pb2 as cpb
from tickwire.v1 import market_data_pb2 as pb


@dataclass(frozen=True, slots=True)
class IntervalInfo:
    """A `CandleInterval` with its name ("1m"), length and GetCandles limits, from the contract."""

    number: int
    name: str
    seconds: int  # 0 for the session-based 1d, 1w, 1mo
    max_range: dt.timedelta
    max_limit: int


def _intervals() -> dict[int, IntervalInfo]:
    out = {}
    for value in cpb.CandleInterval.DESCRIPTOR.values:
        if value.number == 0:
            continue
        options = value.GetOptions().Extensions
        limits: cpb.IntervalLimits = options[cpb.interval_limits]  # type: ignore[index]
        out[value.number] = IntervalInfo(
            value.number,
            limits.name,
            limits.seconds,
            dt.timedelta(seconds=limits.max_range_seconds),
            limits.max_limit,
        )
    return out


INTERVALS = _intervals()
_BY_NAME = {i.name: i for i in INTERVALS.values()}


def interval_info(value: int | str) -> IntervalInfo:
    """The interval of a name ("5s", "1m", "4h", "1d", "1mo") or a `CandleInterval` number.

    Raises:
        ValueError: it names none; the message lists them.
    """
    found = INTERVALS.get(value) if isinstance(value, int) else _BY_NAME.get(value.strip())
    if found is None:
        names = ", ".join(i.name for i in INTERVALS.values())
        raise ValueError(f"unknown candle interval {value!r}; one of {names}")
    return found


def windows(
    start: dt.datetime, end: dt.datetime, width: dt.timedelta
) -> list[tuple[dt.datetime, dt.datetime]]:
    """[start, end) cut into consecutive ranges at most `width` wide."""
    out = []
    at = start
    while at < end:
        stop = min(end, at + width)
        out.append((at, stop))
        at = stop
    return out


def aware(when: dt.datetime) -> dt.datetime:
    """`when` with a time zone (a naive one is taken as UTC)."""
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)


class CandleInbox:
    """The receiving side of a candle subscription: wanted tickers and undelivered bars.

    Bars wait keyed by (ticker, start): a newer state of a bar (the forming
    one, then closed, then corrected) replaces the older one not yet read,
    and distinct bars keep their order. At most `max_pending` wait; past it
    the oldest is dropped and counted as conflated.
    """

    def __init__(
        self, tickers: Iterable[str], interval: IntervalInfo, closed_only: bool, max_pending: int
    ) -> None:
        self.wanted: dict[str, None] = dict.fromkeys(t.strip().upper() for t in tickers)
        self.interval = interval
        self.closed_only = closed_only
        self.readable = asyncio.Event()
        self.stats = StreamStats()
        self.results: list[TickerResult] = []
        self.rejected: dict[str, TickerResult] = {}
        self._pending: dict[tuple[str, int], cpb.Candle] = {}
        self._max_pending = max_pending

    def opening(self, request_id: str) -> pb.SubscribeRequest | None:
        if not self.wanted:
            return None
        return pb.SubscribeRequest(
            subscribe_candles=cpb.SubscribeCandles(
                tickers=list(self.wanted),
                interval=self.interval.number,  # type: ignore[arg-type]
                closed_only=self.closed_only,
                request_id=request_id,
            )
        )

    def receive(self, message: pb.SubscribeResponse) -> pb.SubscriptionAck | None:
        self.stats.last_message_at = time.monotonic()
        kind = message.WhichOneof("response")
        if kind == "candle":
            candle = message.candle
            if candle.ticker not in self.wanted or candle.interval != self.interval.number:
                return None
            self.stats.updates += 1
            key = (candle.ticker, candle.start.ToNanoseconds())
            if key in self._pending:
                self.stats.conflated += 1
            elif len(self._pending) >= self._max_pending:
                del self._pending[next(iter(self._pending))]
                self.stats.conflated += 1
            self._pending[key] = candle
            self.readable.set()
        elif kind == "ack":
            return message.ack
        elif kind == "heartbeat":
            self.stats.heartbeats += 1
        return None

    def apply(self, ack: pb.SubscriptionAck) -> list[TickerResult]:
        subscribing = pb.SUBSCRIPTION_ACTION_SUBSCRIBE_CANDLES
        if ack.action == subscribing and ack.message and not ack.results:
            self.wanted.clear()  # the request as a whole was refused (no such interval)
            return []
        return settle(self, ack, subscribing)

    def take(self) -> cpb.Candle | None:
        if not self._pending:
            return None
        key = next(iter(self._pending))
        return self._pending.pop(key)

    def forget(self, ticker: str) -> None:
        self.wanted.pop(ticker, None)
        for key in [k for k in self._pending if k[0] == ticker]:
            del self._pending[key]


class CandleSubscription:
    """Live candles of one interval for a changing set of tickers, surviving disconnects.

    Iterate it for `Candle`s: each ticker's forming bar at once (unless
    `closed_only`), its updates at most every 250 ms, each bar once more
    when it closes (`complete`), and again with `revision` raised if a late
    price corrects it. It keeps its `Subscribe` stream as `Subscription`
    does: backoff with jitter, resubscription, heartbeat watchdog.
    """

    def __init__(
        self,
        open_stream: OpenStream,
        options: StreamOptions,
        tickers: Iterable[str],
        interval: IntervalInfo,
        *,
        closed_only: bool = False,
        strict: bool = False,
        on_state: StateCallback | None = None,
        on_end: Callable[[CandleSubscription], None] | None = None,
        max_pending: int = 10_000,
    ) -> None:
        self.interval = interval
        self._strict = strict
        self._inbox = CandleInbox(tickers, interval, closed_only, max_pending)
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
        return self._keeper.state

    @property
    def tickers(self) -> list[str]:
        return list(self._inbox.wanted)

    @property
    def stats(self) -> StreamStats:
        return self._inbox.stats

    @property
    def results(self) -> list[TickerResult]:
        return self._inbox.results

    @property
    def rejected(self) -> dict[str, TickerResult]:
        return self._inbox.rejected

    def __aiter__(self) -> CandleSubscription:
        return self

    async def __anext__(self) -> cpb.Candle:
        readable = self._inbox.readable
        while (candle := self._inbox.take()) is None:
            if self._keeper.error is not None:
                raise self._keeper.error
            if self._keeper.closed:
                raise StopAsyncIteration
            readable.clear()
            await readable.wait()
        return candle

    async def add(self, *tickers: str, strict: bool | None = None) -> list[TickerResult]:
        """Watch more tickers' bars on the same stream; one result per ticker."""
        request = pb.SubscribeRequest(
            subscribe_candles=cpb.SubscribeCandles(
                tickers=list(tickers),
                interval=self.interval.number,  # type: ignore[arg-type]
                closed_only=self._inbox.closed_only,
            )
        )
        results = await self._keeper.request(request)
        if (self._strict if strict is None else strict) and any(not r.ok for r in results):
            raise SubscriptionError(results)
        return results

    async def remove(self, *tickers: str) -> list[TickerResult]:
        """Stop watching tickers; their undelivered bars are dropped."""
        for ticker in tickers:
            self._inbox.forget(ticker.strip().upper())
        request = pb.SubscribeRequest(
            unsubscribe_candles=cpb.UnsubscribeCandles(
                tickers=list(tickers),
                interval=self.interval.number,  # type: ignore[arg-type]
            )
        )
        return await self._keeper.request(request)

    async def wait_connected(self) -> None:
        await self._keeper.wait_connected()

    async def close(self) -> None:
        await self._keeper.close()

    async def __aenter__(self) -> CandleSubscription:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
