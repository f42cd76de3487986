"""CandleBook: live bars of every interval for every ticker that trades, and who watches them.

Only the finest bar (5s) of a ticker is touched per accepted price: one
comparison and a few additions, no allocation. Every coarser bar is rolled
up from closed 5s bars, so the per-price cost does not grow with the
number of intervals; a coarser bar still forming is shown as its rolled-up
part plus the forming 5s bar. A bar closes when a price of its ticker falls
past its end, or when the book's clock (the latest price time it has seen)
passes its end. A late price, older than its ticker's forming bar but
within `grace`, corrects the closed bars holding it (revision + 1), or
makes the bar its interval lacked.

Subscribers get closed bars and corrections at once, and the forming bar
at most every `throttle` seconds (unless they asked for closed bars only).
Listeners (the history writer) get every closed bar and correction.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from tickwire_server.candles.bars import Bar
from tickwire_server.candles.intervals import BASE, INTERVALS, NS, Interval, Sessions, span
from tickwire_server.codec import CachedPrice
from tickwire_server.subscriber import Subscriber

log = logging.getLogger(__name__)

COARSE = INTERVALS[1:]
BarListener = Callable[[Sequence[Bar]], None]


@dataclass(slots=True)
class CandleStats:
    closed: int = 0
    corrections: int = 0
    late_dropped: int = 0


@dataclass(slots=True)
class _Series:
    """One ticker's bars: the forming one per interval, and those closed within the grace."""

    ticker: str
    since: int  # the time of the first price the book saw of it
    base: Bar | None = None
    forming: list[Bar | None] = field(default_factory=lambda: [None] * len(COARSE))
    recent: list[deque[Bar]] = field(
        default_factory=lambda: [deque() for _ in range(len(INTERVALS))]
    )


class CandleBook:
    """Aggregates accepted prices into bars and sends them to candle subscribers.

    Args:
        sessions: exchange sessions for day, week and month bars; until set
            (it loads off the loop at start), those bars are not built.
        grace: seconds a closed bar still takes late prices.
        throttle: seconds between two sends of a forming bar to a subscriber.
    """

    def __init__(
        self,
        sessions: Sessions | None = None,
        *,
        grace: float = 60.0,
        throttle: float = 0.25,
    ) -> None:
        self.sessions = sessions
        self.grace_ns = int(grace * NS)
        self.throttle = throttle
        self.stats = CandleStats()
        self.clock_ns = 0  # the latest price time seen
        self._series: dict[str, _Series] = {}
        self._next_sweep = 0
        self._listeners: list[BarListener] = []
        # (ticker, interval number) -> {subscriber: closed_only}
        self._subs: dict[tuple[str, int], dict[Subscriber, bool]] = {}
        self._watched: dict[str, set[int]] = {}  # ticker -> interval numbers someone watches
        self._dirty: set[str] = set()
        self._task: asyncio.Task[None] | None = None

    # Lifecycle -------------------------------------------------------------

    def start(self) -> None:
        """Start sending forming bars every `throttle` seconds (on the running loop)."""
        if self._task is None:
            self._task = asyncio.create_task(self._send_forming(), name="candles")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait([task])

    def on_bars(self, listener: BarListener) -> None:
        """Call `listener` with every batch of closed bars and corrections."""
        self._listeners.append(listener)

    # Prices ----------------------------------------------------------------

    def observe(self, entries: Sequence[CachedPrice]) -> None:
        """Add a batch of accepted prices (the hub calls this after its fan-out)."""
        series = self._series
        closed: list[Bar] = []
        clock = self.clock_ns
        dirty = self._dirty
        watched = self._watched
        for entry in entries:
            quote = entry.quote
            if quote is None:
                continue
            t = quote.timestamp_ns
            ticker = entry.ticker
            s = series.get(ticker)
            if s is None:
                s = series[ticker] = _Series(ticker, t)
            base = s.base
            if base is not None and base.start <= t < base.end:
                base.tick(entry.price, quote.size or 0.0, t)
            elif base is None or t >= base.end:
                if base is not None:
                    self._close_base(s, closed, until=t)
                start = t - t % BASE.ns
                s.base = base = Bar(ticker, BASE, start, start + BASE.ns)
                base.tick(entry.price, quote.size or 0.0, t)
            else:
                self._late(s, entry.price, quote.size or 0.0, t, closed)
            if t > clock:
                clock = t
            if ticker in watched:
                dirty.add(ticker)
        self.clock_ns = clock
        if clock >= self._next_sweep:
            self._sweep(closed)
        if closed:
            self._emit(closed)

    def _close_base(self, s: _Series, closed: list[Bar], until: int = 0) -> None:
        """Close `s.base` and roll it into every coarser forming bar.

        Coarser bars that end by `until` (the time of the ticker's next
        price) close too: nothing of this ticker can join them any more.
        """
        base = s.base
        assert base is not None
        s.base = None
        base.complete = True
        closed.append(base)
        s.recent[0].append(base)
        sessions = self.sessions
        for i, iv in enumerate(COARSE):
            bar = s.forming[i]
            if bar is not None and base.start >= bar.end:
                self._close(s, i, closed)
                bar = None
            if iv.calendar:
                # Session bars: a week or month has gaps (nights, after hours) in no bar.
                where = span(iv, base.start, sessions)
                if where is None:
                    continue
                if bar is None:
                    bar = s.forming[i] = Bar(s.ticker, iv, *where)
            elif bar is None:
                start = base.start - base.start % iv.ns
                bar = s.forming[i] = Bar(s.ticker, iv, start, start + iv.ns)
            bar.merge(base)
            if bar.end <= until:
                self._close(s, i, closed)

    def _close(self, s: _Series, i: int, closed: list[Bar]) -> None:
        bar = s.forming[i]
        assert bar is not None
        s.forming[i] = None
        bar.complete = True
        closed.append(bar)
        s.recent[i + 1].append(bar)

    def _sweep(self, closed: list[Bar]) -> None:
        """Close every bar the clock has passed, and forget closed bars past the grace."""
        clock = self.clock_ns
        horizon = clock - self.grace_ns
        for s in self._series.values():
            if s.base is not None and s.base.end <= clock:
                self._close_base(s, closed)
            for i, bar in enumerate(s.forming):
                if bar is not None and bar.end <= clock:
                    self._close(s, i, closed)
            for recent in s.recent:
                while recent and recent[0].end <= horizon:
                    recent.popleft()
        self._next_sweep = clock - clock % BASE.ns + BASE.ns

    def _late(self, s: _Series, price: float, size: float, t: int, closed: list[Bar]) -> None:
        """A price older than its ticker's forming 5s bar: correct what holds it."""
        if t < self.clock_ns - self.grace_ns:
            self.stats.late_dropped += 1
            return
        sessions = self.sessions
        for i, iv in enumerate(INTERVALS):
            forming = s.base if i == 0 else s.forming[i - 1]
            if forming is not None and forming.start <= t < forming.end:
                # A coarser bar still forming takes the price into its rolled-up
                # part; the closed 5s bar holding it is corrected on its own.
                forming.tick(price, size, t)
                continue
            bar = next((b for b in s.recent[i] if b.start <= t < b.end), None)
            if bar is None:
                where = span(iv, t, sessions)
                if where is None:
                    continue
                bar = Bar(s.ticker, iv, *where)
                bar.complete = True
                bar.tick(price, size, t)
                s.recent[i].append(bar)
                _sort_recent(s.recent[i])
                closed.append(bar)
                continue
            bar.tick(price, size, t)
            bar.revision += 1
            self.stats.corrections += 1
            closed.append(bar.copy())

    def _emit(self, closed: list[Bar]) -> None:
        self.stats.closed += sum(1 for b in closed if b.revision == 0)
        subs = self._subs
        for bar in closed:
            watchers = subs.get((bar.ticker, bar.interval.number))
            if watchers:
                frame = bar.frame()
                key = bar.key()
                for sub in watchers:
                    sub.offer_candle(key, frame)
        for listener in self._listeners:
            listener(closed)

    # Reads -----------------------------------------------------------------

    def forming(self, ticker: str, iv: Interval) -> Bar | None:
        """A copy of the forming `iv` bar of `ticker` as it stands now, or None."""
        s = self._series.get(ticker)
        if s is None:
            return None
        base = s.base
        if iv is BASE:
            return base.copy() if base is not None else None
        i = COARSE.index(iv)
        part = s.forming[i]
        if part is not None:
            view = part.copy()
            if base is not None and part.start <= base.start < part.end:
                view.merge(base)
            return view
        if base is None:
            return None
        where = span(iv, base.start, self.sessions)
        if where is None:
            return None
        return base.copy(iv, where)

    def recent(self, ticker: str, iv: Interval) -> list[Bar]:
        """Copies of the closed `iv` bars of `ticker` still within the grace, oldest first."""
        s = self._series.get(ticker)
        if s is None:
            return []
        return [b.copy() for b in s.recent[INTERVALS.index(iv)]]

    def since(self, ticker: str) -> int | None:
        """When the book saw its first price of `ticker` (None: never, or forgotten)."""
        s = self._series.get(ticker)
        return s.since if s is not None else None

    def forget(self, ticker: str) -> None:
        """Drop a ticker's forming bars (its prices stopped: the source released it)."""
        self._series.pop(ticker, None)

    # Subscribers -----------------------------------------------------------

    def watch(
        self, sub: Subscriber, tickers: Iterable[str], iv: Interval, closed_only: bool
    ) -> None:
        """Send `sub` the `iv` bars of `tickers`: the forming one now (unless closed only),
        then every change."""
        for ticker in tickers:
            self._subs.setdefault((ticker, iv.number), {})[sub] = closed_only
            self._watched.setdefault(ticker, set()).add(iv.number)
            if not closed_only:
                bar = self.forming(ticker, iv)
                if bar is not None:
                    sub.offer_candle(bar.key(), bar.frame())

    def unwatch_number(self, sub: Subscriber, ticker: str, number: int) -> None:
        """Stop sending `sub` the bars of `ticker` of the interval numbered `number`."""
        key = (ticker, number)
        watchers = self._subs.get(key)
        if watchers is None or watchers.pop(sub, None) is None:
            return
        if not watchers:
            del self._subs[key]
            numbers = self._watched[ticker]
            numbers.discard(number)
            if not numbers:
                del self._watched[ticker]

    async def _send_forming(self) -> None:
        while True:
            await asyncio.sleep(self.throttle)
            try:
                self.send_forming()
            except Exception:
                log.exception("sending forming candles failed")

    def send_forming(self) -> None:
        """Send each watched, changed ticker's forming bars to those who want them."""
        dirty, self._dirty = self._dirty, set()
        for ticker in dirty:
            for number in self._watched.get(ticker, ()):
                watchers = self._subs[(ticker, number)]
                if all(watchers.values()):
                    continue  # closed only, every one
                bar = self.forming(ticker, _BY_NUMBER[number])
                if bar is None:
                    continue
                frame, key = bar.frame(), bar.key()
                for sub, closed_only in watchers.items():
                    if not closed_only:
                        sub.offer_candle(key, frame)


_BY_NUMBER = {iv.number: iv for iv in INTERVALS}


def _sort_recent(recent: deque[Bar]) -> None:
    ordered = sorted(recent, key=lambda b: b.start)
    recent.clear()
    recent.extend(ordered)
