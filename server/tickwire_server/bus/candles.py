"""Live candles across the bus: the leader's book watches for the edges, the edges fan out.

An edge cannot build bars itself: what it receives are prices, without
the trade sizes that make a bar's volume. So its streams' candle
subscriptions go to the leader: `EdgeCandles` (the edge's) says, per
interval, which tickers its streams watch; `CandleRelay` (the leader's)
makes its `CandleBook` watch them for that edge and sends the edge what
the book sends a stream, as the book encoded it: the forming bar at most
every 250 ms, closed bars, corrections. The edge passes each frame to its
streams that watch the bar (closed ones only to those asking for closed
only), and keeps the latest forming bar of each for a stream that joins.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable

from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from tickwire.v1 import candles_pb2 as cpb
from tickwire_server.bus import wire
from tickwire_server.bus.leases import Leases, claim, renewing
from tickwire_server.bus.link import Link
from tickwire_server.candles.book import CandleBook
from tickwire_server.candles.intervals import INTERVALS, NS, Interval
from tickwire_server.subscriber import Subscriber
from tickwire_server.tasks import cancel

log = logging.getLogger(__name__)

_BY_NUMBER = {iv.number: iv for iv in INTERVALS}


class EdgeCandles:
    """An edge's live bars, from the leader (a `CandleWatch` for the edge's streams)."""

    def __init__(self, link: Link, node: str, interest_lease: float) -> None:
        self.link = link
        self.node = node
        self.interest_lease = interest_lease
        self.clock_ns = 0
        self._subs: dict[tuple[str, int], dict[Subscriber, bool]] = {}
        self._forming: dict[tuple[str, int], tuple[tuple[str, int, int], bytes]] = {}
        self._changed = asyncio.Event()
        self._said: dict[int, frozenset[str]] = {}  # what the leader was last told
        self._task: asyncio.Task[None] | None = None
        self._sub: Subscription | None = None
        self.received = 0

    def start(self) -> None:
        self.link.on_up(self._up)
        if self._task is None:
            self._task = asyncio.create_task(
                renewing(self.link, self._changed, self.interest_lease, self._say),
                name="bus-candle-interest",
            )

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel(task)
        nc = self.link.nc
        if nc is not None and self.link.connected:
            for number in {n for _, n in self._subs}:
                with contextlib.suppress(Exception):
                    await nc.publish(self._subject(number), b"")

    # CandleWatch -----------------------------------------------------------

    def watch(
        self, sub: Subscriber, tickers: Iterable[str], iv: Interval, closed_only: bool
    ) -> None:
        for ticker in tickers:
            key = (ticker, iv.number)
            watchers = self._subs.get(key)
            if watchers is None:
                watchers = self._subs[key] = {}
                self._changed.set()
            watchers[sub] = closed_only
            forming = self._forming.get(key)
            if forming is not None and not closed_only:
                sub.offer_candle(*forming)

    def unwatch_number(self, sub: Subscriber, ticker: str, number: int) -> None:
        key = (ticker, number)
        watchers = self._subs.get(key)
        if watchers is None or watchers.pop(sub, None) is None:
            return
        if not watchers:
            del self._subs[key]
            self._forming.pop(key, None)
            self._changed.set()

    # The bus ----------------------------------------------------------------

    async def _up(self) -> None:
        nc = self.link.nc
        assert nc is not None
        if self._sub is None:  # the client renews it after a reconnect
            self._sub = await nc.subscribe(f"{wire.CANDLES}.{self.node}", cb=self._on_candles)
        self._changed.set()

    async def _on_candles(self, msg: Msg) -> None:
        try:
            bars = wire.candle_frames(msg.data)
        except Exception as exc:
            log.warning("bus: a malformed candle batch (%s)", exc)
            return
        self.received += len(bars)
        for candle, frame in bars:
            self._route(candle, frame)

    def _route(self, candle: cpb.Candle, frame: bytes) -> None:
        start = candle.start.seconds * NS + candle.start.nanos
        key = (candle.ticker, int(candle.interval))
        bar_key = (candle.ticker, int(candle.interval), start)
        if start > self.clock_ns:
            self.clock_ns = start
        watchers = self._subs.get(key)
        if not watchers:
            return
        if candle.complete:
            forming = self._forming.get(key)
            if forming is not None and forming[0] == bar_key:
                del self._forming[key]
        else:
            self._forming[key] = (bar_key, frame)
        for sub, closed_only in watchers.items():
            if candle.complete or not closed_only:
                sub.offer_candle(bar_key, frame)

    def _subject(self, number: int) -> str:
        return f"{wire.CANDLE_INTEREST}.{self.node}.{number}"

    async def _say(self, renew: bool) -> None:
        """Tell the leader each interval's tickers that changed (all of them, when due)."""
        wanted: dict[int, set[str]] = {}
        for ticker, number in self._subs:
            wanted.setdefault(number, set()).add(ticker)
        said = self._said
        for number in set(said) | set(wanted):
            tickers = frozenset(wanted.get(number, ()))
            if tickers == said.get(number) and not renew:
                continue
            data = cpb.StreamCandlesRequest(
                tickers=sorted(tickers),
                interval=number,  # type: ignore[arg-type]
            ).SerializeToString()
            await claim(self.link, self._subject(number), f"{self.node}.c{number}", data)
            if tickers:
                said[number] = tickers
            else:
                said.pop(number, None)


class _Outbox(Subscriber):
    """What the leader's book sends one edge, gathered for the next message."""

    def __init__(self, relay: CandleRelay, edge: str) -> None:
        super().__init__()
        self.edge = edge
        self.relay = relay
        self.gathered: dict[tuple[str, int, int], bytes] = {}

    def offer_candle(self, key: tuple[str, int, int], frame: bytes) -> None:
        self.gathered[key] = frame  # a newer state of the same bar replaces the older
        self.relay.wake()


class CandleRelay:
    """The leader's side: watches its book for each edge and sends the edge its bars."""

    def __init__(self, link: Link, book: CandleBook, interest_lease: float) -> None:
        self.link = link
        self.book = book
        # Each edge's tickers per interval number, watched in the book while leading.
        self.watches: Leases[tuple[str, int]] = Leases(
            interest_lease, self._watch, "candle interest"
        )
        self._outboxes: dict[str, _Outbox] = {}
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._sub: Subscription | None = None
        self.sent = 0

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        self.link.on_up(self._up)
        self._tasks = [
            asyncio.create_task(self._flush_loop(), name="bus-candles"),
            asyncio.create_task(self.watches.expire(), name="bus-candle-interest"),
        ]

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        await cancel(*tasks)

    async def _up(self) -> None:
        nc = self.link.nc
        assert nc is not None
        if self._sub is None:
            self._sub = await nc.subscribe(f"{wire.CANDLE_INTEREST}.*.*", cb=self._interest)

    async def _interest(self, msg: Msg) -> None:
        _, _, edge, number = msg.subject.rsplit(".", 3)
        try:
            request = cpb.StreamCandlesRequest.FromString(msg.data)
        except Exception:
            return
        if not number.isdigit() or int(number) not in _BY_NUMBER:
            return
        self.want(edge, int(number), set(request.tickers))

    def want(self, edge: str, number: int, tickers: set[str]) -> None:
        """Watch `tickers`' bars of interval `number` for `edge` (empty: none any more)."""
        self.watches.want((edge, number), tickers)

    def _watch(self, key: tuple[str, int], added: set[str], removed: set[str]) -> None:
        edge, number = key
        outbox = self._outboxes.get(edge)
        if outbox is None:
            outbox = self._outboxes[edge] = _Outbox(self, edge)
        if added:
            self.book.watch(outbox, sorted(added), _BY_NUMBER[number], False)
        for ticker in removed:
            self.book.unwatch_number(outbox, ticker, number)

    def lead(self) -> None:
        """This ingest leads now: watch what every edge asked for."""
        self.watches.activate()

    def follow(self) -> None:
        """This ingest no longer leads: stop watching."""
        self.watches.deactivate()

    async def _flush_loop(self) -> None:
        # The book offers what one price batch or one throttle tick closed or moved in one
        # call: woken after it, the loop sends each edge all of it in one message.
        while True:
            await self._wake.wait()
            self._wake.clear()
            nc = self.link.nc
            for outbox in list(self._outboxes.values()):
                pending, outbox.gathered = outbox.gathered, {}
                if not pending or nc is None or not self.link.connected:
                    continue
                with contextlib.suppress(Exception):
                    await nc.publish(
                        f"{wire.CANDLES}.{outbox.edge}", wire.candle_batch(pending.values())
                    )
                    self.sent += len(pending)
