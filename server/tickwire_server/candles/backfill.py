"""Backfill: the vendor's minute bars for the session minutes history lacks, fetched once.

At start, and whenever the source is healthy again after trouble (a
WebSocket drop, an outage), `Backfill.run` finds, per served ticker, the
session minutes of the lookback that the coverage record does not hold:
neither fetched before (a minute without trades has no bar, so bars alone
cannot tell a gap from a quiet minute) nor watched live while the source was
healthy (`watched`). Gaps of one ticker go out in as few calls as fit
Massive's limit (a month of minutes each), every page through the circuit
breaker and a pacer at the plan's rate (the free tier's 5 calls a minute by
default); a 429 waits its Retry-After, a 5xx backs off, and a range that
keeps failing is left uncovered for the next run. Fetched minutes are
stored as vendor bars, then the coarser stored intervals over them are
rebuilt from the store's minutes. Progress is logged and shown in
`GetMarketStatus`'s message while a run lasts.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from tickwire_server.candles.bars import Bar, roll_up
from tickwire_server.candles.gaps import merged, uncovered
from tickwire_server.candles.history import History
from tickwire_server.candles.intervals import BY_NAME, NS, Sessions, span
from tickwire_server.errors import UpstreamError

log = logging.getLogger(__name__)

MINUTE_NS = 60 * NS
CHUNK_NS = 30 * 86400 * NS  # one call's reach: about a month of minutes
ONE_MINUTE = BY_NAME["1m"]


class MinuteFetcher(Protocol):
    """Where vendor minute bars come from (the Massive REST API)."""

    async def minute_bars(
        self, ticker: str, start_ms: int, end_ms: int, cursor: str | None = None
    ) -> tuple[list[Bar], str | None]:
        """One page of minute bars in [start_ms, end_ms] and the next page's cursor."""


class Pacer:
    """At most `per_minute` calls a minute, `burst` at once: `wait` before each call."""

    def __init__(
        self,
        per_minute: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.rate = per_minute / 60.0
        self.burst = burst
        self._tokens = float(burst)
        self._clock = clock
        self._sleep = sleep
        self._at = clock()

    async def wait(self) -> None:
        while True:
            now = self._clock()
            self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate)
            self._at = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return
            await self._sleep((1.0 - self._tokens) / self.rate)


@dataclass(slots=True)
class Progress:
    tickers: int = 0
    done: int = 0
    calls: int = 0
    bars: int = 0
    failed: int = 0
    running: bool = False

    def text(self) -> str:
        return (
            f"backfilling candles: {self.done} of {self.tickers} tickers, "
            f"{self.calls} calls, {self.bars:,} bars stored"
        )


class Backfill:
    """Fills the minute history of served tickers from a `MinuteFetcher`.

    Args:
        history: the store to fill (and whose coarser intervals to rebuild).
        fetcher: the vendor.
        sessions: the exchange's sessions (only session minutes count).
        days: how many sessions back to look.
        pacer: the plan's call rate.
        clock: now, in ns.
        retry_after: seconds to wait after a failure that says nothing of its own.
        attempts: tries per page before its range is given up for this run.
    """

    def __init__(
        self,
        history: History,
        fetcher: MinuteFetcher,
        sessions: Sessions,
        *,
        days: int,
        pacer: Pacer,
        clock: Callable[[], int] = time.time_ns,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        retry_after: float = 5.0,
        attempts: int = 5,
    ) -> None:
        assert history.store is not None, "backfill needs a store"
        self.history = history
        self.store = history.store
        self.fetcher = fetcher
        self.sessions = sessions
        self.days = days
        self.pacer = pacer
        self.clock = clock
        self._sleep = sleep
        self._retry_after = retry_after
        self._attempts = attempts
        self.progress = Progress()
        self.totals = Progress()  # over every run

    def lookback(self, now_ns: int) -> int:
        """The open of the earliest session of the lookback."""
        opens = [o for o, _ in self.sessions.sessions_between(now_ns - 400 * 86400 * NS, now_ns)]
        if not opens or self.days <= 0:
            return now_ns
        return opens[-self.days] if len(opens) >= self.days else opens[0]

    async def watched(self, tickers: Iterable[str], start_ns: int, end_ns: int) -> None:
        """Record [start_ns, end_ns) as seen live (healthy source): no gap to fetch there."""
        lo, hi = -(-start_ns // MINUTE_NS) * 60, end_ns // MINUTE_NS * 60
        if hi > lo:
            for ticker in tickers:
                await self.store.cover(ticker, ONE_MINUTE.name, [(lo, hi)])

    async def gaps(self, ticker: str, now_ns: int) -> list[tuple[int, int]]:
        """The session minutes of the lookback not covered yet, as [start, end) ns ranges."""
        start, end = self.lookback(now_ns), now_ns - now_ns % MINUTE_NS
        if end <= start:
            return []
        covered = await self.store.coverage(ticker, ONE_MINUTE.name, start // NS, end // NS)
        covered_ns = [(a * NS, b * NS) for a, b in covered]
        out: list[tuple[int, int]] = []
        for open_, close in self.sessions.sessions_between(start, end):
            out.extend(uncovered(max(open_, start), min(close, end), covered_ns))
        return out

    async def run(self, tickers: Sequence[str]) -> Progress:
        """One pass over `tickers`; what it did."""
        now = self.clock()
        self.progress = progress = Progress(tickers=len(tickers), running=True)
        try:
            for ticker in tickers:
                for lo, hi in chunks(await self.gaps(ticker, now)):
                    await self._fetch(ticker, lo, hi, progress)
                progress.done += 1
                if progress.calls:
                    log.info("%s", progress.text())
        finally:
            progress.running = False
            for name in ("calls", "bars", "failed"):
                setattr(self.totals, name, getattr(self.totals, name) + getattr(progress, name))
        return progress

    async def _fetch(self, ticker: str, lo: int, hi: int, progress: Progress) -> None:
        """Every page of [lo, hi); cover it when all came, rebuild what it touched."""
        cursor: str | None = None
        bars: list[Bar] = []
        while True:
            page = await self._page(ticker, lo, hi, cursor, progress)
            if page is None:
                progress.failed += 1
                log.warning("backfill of %s gave up for now; the next run tries again", ticker)
                return
            part, cursor = page
            bars.extend(b for b in part if lo <= b.start < hi)
            if cursor is None:
                break
        await self.store.write_history(bars)
        await self.store.cover(ticker, ONE_MINUTE.name, [(lo // NS, hi // NS)])
        progress.bars += len(bars)
        if bars:
            await self.rebuild(ticker, lo, hi)

    async def _page(
        self, ticker: str, lo: int, hi: int, cursor: str | None, progress: Progress
    ) -> tuple[list[Bar], str | None] | None:
        for _ in range(self._attempts):
            await self.pacer.wait()
            progress.calls += 1
            try:
                # Massive's range is inclusive at both ends: the last ms before `hi`.
                return await self.fetcher.minute_bars(
                    ticker, lo // 1_000_000, hi // 1_000_000 - 1, cursor
                )
            except UpstreamError as error:
                wait = error.retry_after if error.retry_after is not None else self._retry_after
                log.info("backfill of %s: %s; trying again in %.1f s", ticker, error, wait)
                await self._sleep(wait)
        return None

    async def rebuild(self, ticker: str, lo: int, hi: int) -> None:
        """Stored coarser bars over [lo, hi) again, from the store's minutes."""
        now = self.clock()
        for iv in self.history.retention:
            if iv.seconds and iv.seconds <= 60:
                continue
            first, last = span(iv, lo, self.sessions), span(iv, hi - 1, self.sessions)
            start = first[0] if first is not None else lo
            end = last[1] if last is not None else hi
            rows = await self.store.read(ticker, ONE_MINUTE.name, start // NS, -(-end // NS), 10**7)
            minutes = [self.history.bar_of(ticker, ONE_MINUTE, row) for row in rows]
            forming = span(iv, now, self.sessions)
            rebuilt = [b for b in roll_up(minutes, iv, self.sessions) if b.end <= now]
            if forming is not None:
                rebuilt = [b for b in rebuilt if b.start != forming[0]]
            await self.store.write(rebuilt)


def chunks(gaps: Sequence[tuple[int, int]], reach: int = CHUNK_NS) -> list[tuple[int, int]]:
    """Gaps joined into as few ranges as one call each can reach (nights in between are free)."""
    out: list[tuple[int, int]] = []
    for lo, hi in merged(gaps):
        if out and hi - out[-1][0] <= reach:
            out[-1] = (out[-1][0], hi)
        else:
            while hi - lo > reach:
                out.append((lo, lo + reach))
                lo += reach
            out.append((lo, hi))
    return out


class Backfiller:
    """Runs `Backfill` when it is due: once at start, then after each recovery of the source.

    It follows the source's status: the time it turned HEALTHY starts a live
    period, which is recorded as watched (no gap) for each served ticker
    from when the book first priced it, when the source falls out of health
    and before each run. Runs never overlap: one asked for during a run
    follows it.

    Args:
        backfill: what a run does.
        tickers: the tickers served now.
        since: when the book first priced a ticker (None: not yet).
    """

    def __init__(
        self,
        backfill: Backfill,
        tickers: Callable[[], Iterable[str]],
        since: Callable[[str], int | None],
    ) -> None:
        self.backfill = backfill
        self._tickers = tickers
        self._since = since
        self._healthy_since: int | None = None
        self._task: asyncio.Task[None] | None = None
        self._writes: set[asyncio.Task[None]] = set()
        self._again = False
        self.runs = 0

    def note(self) -> str:
        """What GetMarketStatus adds to its message: progress while a run lasts, else ""."""
        progress = self.backfill.progress
        return progress.text() if progress.running else ""

    def healthy(self, now_ns: int) -> None:
        """The source is healthy (again) from `now_ns`: a run is due."""
        if self._healthy_since is None:
            self._healthy_since = now_ns
            self.request()

    def unhealthy(self, now_ns: int) -> None:
        """The source fell out of health at `now_ns`: what was live until then was watched."""
        start, self._healthy_since = self._healthy_since, None
        if start is not None:
            task = asyncio.get_running_loop().create_task(self._watched(start, now_ns))
            self._writes.add(task)
            task.add_done_callback(self._writes.discard)

    def request(self) -> None:
        """Run now, or right after the run under way."""
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = asyncio.get_running_loop().create_task(self._run(), name="backfill")

    async def wait(self) -> None:
        """Until no run is under way or due (for tests and shutdown)."""
        while self._task is not None and not self._task.done():
            await asyncio.wait([self._task])

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task])
        if self._writes:
            await asyncio.wait(self._writes)
        start = self._healthy_since
        if start is not None:
            await self._watched(start, self.backfill.clock())

    async def _watched(self, start: int, end: int) -> None:
        for ticker in list(self._tickers()):
            first = self._since(ticker)
            if first is not None:
                await self.backfill.watched([ticker], max(start, first), end)

    async def _run(self) -> None:
        while True:
            self._again = False
            try:
                if self._healthy_since is not None:
                    await self._watched(self._healthy_since, self.backfill.clock())
                await self.backfill.run(sorted(set(self._tickers())))
                self.runs += 1
            except Exception:
                log.exception("candle backfill failed")
            if not self._again:
                return
