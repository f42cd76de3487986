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
from itertools import repeat
from typing import Protocol

from tickwire_server.candles.bars import Bar
from tickwire_server.candles.columns import BlockBars
from tickwire_server.candles.intervals import BASE, INTERVALS, NS, Interval, Sessions, span
from tickwire_server.codec import CachedPrice
from tickwire_server.domain import PriceBlock
from tickwire_server.subscriber import Subscriber
from tickwire_server.tasks import cancel

log = logging.getLogger(__name__)

COARSE = INTERVALS[1:]
LEVELS = {iv.name: i for i, iv in enumerate(INTERVALS)}
# What each interval rolls up from (every one divides it, and no bar of it
# straddles a session's open or close, which fall on half hours).
_FROM = {
    "10s": "5s", "30s": "5s", "1m": "5s", "2m": "1m", "3m": "1m", "5m": "1m",
    "10m": "5m", "15m": "5m", "30m": "5m", "1h": "30m", "2h": "1h", "4h": "1h",
    "1d": "30m", "1w": "1d", "1mo": "1d",
}  # fmt: skip
SOURCE = [0] + [LEVELS[_FROM[iv.name]] for iv in COARSE]
CHILDREN = [
    [c for c in range(1, len(INTERVALS)) if SOURCE[c] == lv] for lv in range(len(INTERVALS))
]
_EMPTY: deque[Bar] = deque(maxlen=0)  # shared until a series needs its own
BarListener = Callable[[Sequence[Bar]], None]


class CandleWatch(Protocol):
    """What streams need of live bars: a `CandleBook`, or an edge's bars from the ingest."""

    clock_ns: int  # the latest price time seen

    def watch(
        self, sub: Subscriber, tickers: Iterable[str], iv: Interval, closed_only: bool
    ) -> None: ...

    def unwatch_number(self, sub: Subscriber, ticker: str, number: int) -> None: ...


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
    # Made on first use: most tickers never get a late price.
    recent: list[deque[Bar]] = field(default_factory=lambda: [_EMPTY] * len(INTERVALS))

    def closed_recently(self, i: int, horizon: int) -> deque[Bar]:
        """The bars of interval `i` closed within the grace, those ended by `horizon` dropped."""
        recent = self.recent[i]
        if recent is _EMPTY:
            recent = self.recent[i] = deque()
        while recent and recent[0].end <= horizon:
            recent.popleft()
        return recent


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
        self._columns: BlockBars | None = None  # a block list's 5s bars, ticked in columns
        self._task: asyncio.Task[None] | None = None

    # Lifecycle -------------------------------------------------------------

    def start(self) -> None:
        """Start sending forming bars every `throttle` seconds (on the running loop)."""
        if self._task is None:
            self._task = asyncio.create_task(self._send_forming(), name="candles")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel(task)

    def on_bars(self, listener: BarListener) -> None:
        """Call `listener` with every batch of closed bars and corrections."""
        self._listeners.append(listener)

    # Prices ----------------------------------------------------------------

    def observe(self, entries: Sequence[CachedPrice]) -> None:
        """Add a batch of accepted prices (the hub calls this after its fan-out)."""
        rows = []
        for entry in entries:
            quote = entry.quote  # the cache's live entries all have one
            assert quote is not None
            rows.append((entry.ticker, entry.price, quote.size or 0.0, quote.timestamp_ns))
        self._observe(rows)

    def observe_block(self, block: PriceBlock) -> None:
        """Add a block of accepted prices (as `observe`, with the same bars as a result).

        Once every ticker of its list has a forming 5s bar, the blocks that
        follow in that bar's window tick them in columns (`BlockBars`),
        written back into the bars before anything reads one.
        """
        t = block.timestamp_ns
        columns = self._columns
        if columns is None or not columns.takes(block):
            self._settle()
            series = self._series
            bars = [s.base if (s := series.get(ticker)) else None for ticker in block.tickers]
            columns = BlockBars.of(block, bars)
            if columns is None:  # (the first of a window: it makes the bars)
                sizes = repeat(0.0) if block.sizes is None else block.sizes.tolist()
                self._observe(zip(block.tickers, block.prices.tolist(), sizes, repeat(t)))
                return
            self._columns = columns
        columns.add(block)
        if t > self.clock_ns:
            self.clock_ns = t
        if self._watched:
            self._dirty.update(columns.keys & self._watched.keys())
        if self.clock_ns >= self._next_sweep:
            self._settle()
            closed: list[Bar] = []
            self._sweep(closed)
            if closed:
                self._emit(closed)

    def _settle(self) -> None:
        """Write bars kept in columns back into them (before anything else reads or ticks one)."""
        columns, self._columns = self._columns, None
        if columns is not None:
            columns.store()

    def _observe(self, rows: Iterable[tuple[str, float, float, int]]) -> None:
        """Add prices as (ticker, price, size traded or 0, time) rows."""
        self._settle()
        series = self._series
        closed: list[Bar] = []
        clock = self.clock_ns
        dirty = self._dirty
        watched = self._watched
        for ticker, price, size, t in rows:
            s = series.get(ticker)
            if s is None:
                s = series[ticker] = _Series(ticker, t)
            base = s.base
            if base is not None and base.start <= t < base.end:  # (a base bar holds a price)
                # Bar.tick, inlined: this runs for every accepted price.
                if price > base.high:
                    base.high = price
                elif price < base.low:
                    base.low = price
                if t >= base.last_ns:
                    base.close = price
                    base.last_ns = t
                elif t < base.first_ns:
                    base.open = price
                    base.first_ns = t
                if size:
                    base.volume += size
                    base.pv += price * size
                base.price_sum += price
                base.transactions += 1
            elif base is None or t >= base.end:
                if base is not None:
                    self._close_base(s, closed, until=t)
                start = t - t % BASE.ns
                s.base = base = Bar(ticker, BASE, start, start + BASE.ns)
                base.tick(price, size, t)
            else:
                self._late(s, price, size, t, closed)
            if t > clock:
                clock = t
            if watched and ticker in watched:
                dirty.add(ticker)
        self.clock_ns = clock
        if clock >= self._next_sweep:
            self._sweep(closed)
        if closed:
            self._emit(closed)

    def _close_base(self, s: _Series, closed: list[Bar], until: int = 0) -> None:
        """Close `s.base` and roll it up (see `_roll`)."""
        base = s.base
        assert base is not None
        s.base = None
        base.complete = True
        closed.append(base)
        s.closed_recently(0, self.clock_ns - self.grace_ns).append(base)
        self._roll(s, 0, base, closed, until)

    def _roll(self, s: _Series, level: int, bar: Bar, closed: list[Bar], until: int) -> None:
        """Merge the closed `bar` of `level` into the forming bars it rolls up to.

        Each interval rolls up from one finer one (`SOURCE`): 5s into 10s,
        30s and 1m; 1m into 2m, 3m and 5m; 5m into 10m, 15m and 30m; 30m into
        1h and 1d; 1h into 2h and 4h; 1d into 1w and 1mo. So a 5s close costs
        about three merges whatever the intervals. A bar the closed one is
        past, or that ends by `until` (the ticker's next price), closes too,
        and rolls up in its turn.
        """
        sessions = self.sessions
        forming = s.forming
        for child in CHILDREN[level]:
            iv = INTERVALS[child]
            part = forming[child - 1]
            if part is not None and bar.start >= part.end:
                self._close(s, child, closed, until)
                part = None
            if part is None:
                if iv.calendar:
                    # Session bars: nights and after hours are in no day, week or month.
                    where = span(iv, bar.start, sessions)
                    if where is None:
                        continue
                    part = forming[child - 1] = Bar(s.ticker, iv, *where)
                else:
                    start = bar.start - bar.start % iv.ns
                    part = forming[child - 1] = Bar(s.ticker, iv, start, start + iv.ns)
            elif iv.calendar and span(iv, bar.start, sessions) is None:
                continue
            part.merge(bar)
            if part.end <= until:
                self._close(s, child, closed, until)

    def _close(self, s: _Series, level: int, closed: list[Bar], until: int = 0) -> None:
        """Close the forming bar of coarse `level` and roll it up."""
        bar = s.forming[level - 1]
        assert bar is not None
        s.forming[level - 1] = None
        bar.complete = True
        closed.append(bar)
        s.closed_recently(level, self.clock_ns - self.grace_ns).append(bar)
        self._roll(s, level, bar, closed, until)

    def _sweep(self, closed: list[Bar]) -> None:
        """Close every bar the clock has passed: those of tickers quiet since their bar ended.

        A ticker priced in the current 5s bar has closed what ended before it
        when that price came (`_close_base(until=...)`): bar ends fall on 5s
        boundaries, so none of its bars can end between then and the clock.
        """
        clock = self.clock_ns
        for s in self._series.values():
            base = s.base
            if base is not None and base.end > clock:
                continue
            if base is not None:
                self._close_base(s, closed, until=clock)
            # Finest first: a bar rolls up into its parent before the parent closes.
            for i, bar in enumerate(s.forming):
                if bar is not None and bar.end <= clock:
                    self._close(s, i + 1, closed, until=clock)
        self._next_sweep = clock - clock % BASE.ns + BASE.ns

    def _late(self, s: _Series, price: float, size: float, t: int, closed: list[Bar]) -> None:
        """A price older than its ticker's forming 5s bar: correct what holds it."""
        if t < self.clock_ns - self.grace_ns:
            self.stats.late_dropped += 1
            return
        sessions = self.sessions
        # Per level: whether the bar holding t is closed. A forming bar takes
        # the price itself only when the finer bar it rolls up from is closed
        # (already merged into it); otherwise that finer bar brings it later.
        done = [False] * len(INTERVALS)
        for i, iv in enumerate(INTERVALS):
            forming = s.base if i == 0 else s.forming[i - 1]
            if forming is not None and forming.start <= t < forming.end:
                if i == 0 or done[SOURCE[i]]:
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
                s.closed_recently(i, self.clock_ns - self.grace_ns).append(bar)
                _sort_recent(s.recent[i])
                closed.append(bar)
            else:
                bar.tick(price, size, t)
                bar.revision += 1
                self.stats.corrections += 1
                closed.append(bar.copy())
            done[i] = True

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
        self._settle()
        s = self._series.get(ticker)
        if s is None:
            return None
        return self._view(s, LEVELS[iv.name])

    def _view(self, s: _Series, level: int) -> Bar | None:
        """The forming bar of `level`: its rolled-up part and what still forms below it."""
        if level == 0:
            return s.base.copy() if s.base is not None else None
        below = self._view(s, SOURCE[level])
        part = s.forming[level - 1]
        iv = INTERVALS[level]
        if part is not None:
            view = part.copy()
            if below is not None and part.start <= below.start < part.end:
                view.merge(below)
            return view
        if below is None:
            return None
        where = span(iv, below.start, self.sessions)
        return below.copy(iv, where) if where is not None else None

    def recent(self, ticker: str, iv: Interval) -> list[Bar]:
        """Copies of the closed `iv` bars of `ticker` still within the grace, oldest first."""
        self._settle()
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
        self._settle()
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
