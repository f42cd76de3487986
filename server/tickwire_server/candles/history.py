"""History: closed bars written to the store, retention, and reads that join store and book.

One writer task takes the book's closed bars (and corrections) for the
stored intervals and upserts them in batches, so the event loop never
waits on the disk; a crash loses at most the bars not yet flushed (half a
second) and the forming ones. Intervals that are not stored are derived at
read time from the coarsest stored one that divides them. A read joins the
store with the book's bars still in memory: the forming bar, bars closed
within the grace, and the first bar after a restart, which the book saw
only in part and the store completes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

from tickwire_server.candles.bars import Bar
from tickwire_server.candles.book import CandleBook
from tickwire_server.candles.intervals import (
    BY_NAME,
    DAY,
    INTERVALS,
    NS,
    Interval,
    interval,
    span,
)
from tickwire_server.candles.store import CandleStore, Row
from tickwire_server.tasks import cancel

log = logging.getLogger(__name__)

DEFAULT_RETENTION = "5s=2d,1m=365d,5m=730d,1h=3650d,1d=forever"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}
_AGE = re.compile(r"^(\d+)([smhdwy])$")


def parse_retention(text: str) -> dict[Interval, int | None]:
    """'5s=2d,1m=365d,1d=forever' -> {interval: seconds kept (None: for ever)}.

    Raises:
        ValueError: a part names no interval or no age; the message says which.
    """
    out: dict[Interval, int | None] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, age = part.partition("=")
        if not sep:
            raise ValueError(f"retention {part!r}: write INTERVAL=AGE, as in 1m=365d")
        iv = interval(name)
        age = age.strip().lower()
        if age in ("forever", "inf", "0"):
            out[iv] = None
            continue
        match = _AGE.match(age)
        if match is None:
            raise ValueError(
                f"retention {part!r}: the age must be a number and one of s, m, h, d, w, y "
                "(2d, 52w) or forever"
            )
        out[iv] = int(match[1]) * _UNITS[match[2]]
    return dict(sorted(out.items(), key=lambda kv: INTERVALS.index(kv[0])))


@dataclass(slots=True)
class WriterStats:
    written: int = 0
    flushes: int = 0
    failures: int = 0
    dropped: int = 0
    pruned: int = 0


class History:
    """The store behind GetCandles, fed by the book, pruned by retention.

    Args:
        store: where bars go (already constructed; `start` opens it), or
            None to keep no history: reads then see only the book's bars.
        book: the live bars.
        retention: stored intervals and how long each is kept.
        flush_every: seconds between two writes of what the book closed.
        max_pending: bars that may wait for the store; past it (a store
            too slow or down) the oldest are dropped and counted.
    """

    def __init__(
        self,
        store: CandleStore | None,
        book: CandleBook,
        retention: dict[Interval, int | None],
        *,
        flush_every: float = 0.5,
        max_pending: int = 200_000,
        prune_every: float = 3600.0,
    ) -> None:
        self.store = store
        self.book = book
        self.retention = retention if store is not None else {}
        self.stats = WriterStats()
        self._flush_every = flush_every
        self._prune_every = prune_every
        self._max_pending = max_pending
        self._pending: dict[tuple[str, int, int], Bar] = {}
        self._tasks: list[asyncio.Task[None]] = []
        book.on_bars(self._take)

    async def start(self) -> None:
        if self.store is None:
            return
        await self.store.open()
        self._tasks = [
            asyncio.create_task(self._write_loop(), name="candles-writer"),
            asyncio.create_task(self._prune_loop(), name="candles-retention"),
        ]

    async def stop(self) -> None:
        """Write what is pending, then close the store. Idempotent."""
        tasks, self._tasks = self._tasks, []
        await cancel(*tasks)
        if self.store is None:
            return
        with contextlib.suppress(Exception):
            await self.flush()
        await self.store.close()

    def stored(self, iv: Interval) -> bool:
        return iv in self.retention

    def _take(self, bars: Sequence[Bar]) -> None:
        pending = self._pending
        for bar in bars:
            if bar.interval in self.retention:
                pending[bar.key()] = bar
        while len(pending) > self._max_pending:
            del pending[next(iter(pending))]
            self.stats.dropped += 1

    async def flush(self) -> None:
        """Write every pending bar now."""
        if not self._pending or self.store is None:
            return
        bars, self._pending = list(self._pending.values()), {}
        try:
            await self.store.write(bars)
        except Exception:
            self.stats.failures += 1
            for bar in bars:  # keep them for the next try, newer ones first
                self._pending.setdefault(bar.key(), bar)
            raise
        self.stats.written += len(bars)
        self.stats.flushes += 1

    async def _write_loop(self) -> None:
        while True:
            await asyncio.sleep(self._flush_every)
            try:
                await self.flush()
            except Exception as exc:
                url = self.store.url if self.store is not None else "?"
                log.warning("writing candles to %s failed (will retry): %s", url, exc)

    async def _prune_loop(self) -> None:
        while True:
            try:
                await self.prune()
            except Exception as exc:
                url = self.store.url if self.store is not None else "?"
                log.warning("pruning candles in %s failed: %s", url, exc)
            await asyncio.sleep(self._prune_every)

    async def prune(self, now_s: int | None = None) -> int:
        """Delete bars past their interval's retention; how many."""
        if self.store is None:
            return 0
        now_s = int(time.time()) if now_s is None else now_s
        total = 0
        for iv, keep in self.retention.items():
            if keep is not None:
                total += await self.store.prune(iv.name, now_s - keep)
        self.stats.pruned += total
        return total

    # Reads -----------------------------------------------------------------

    def source_of(self, iv: Interval, *, finer: bool = False) -> Interval | None:
        """The stored interval `iv` is read from: itself (unless `finer`), or the
        coarsest stored one that divides it."""
        if iv in self.retention and not finer:
            return iv
        day = BY_NAME["1d"]
        if iv.calendar and iv.calendar != DAY and day in self.retention:
            return day
        # Sessions open on the half hour (and half days close on the hour).
        group = iv.seconds or 1800
        fits = [
            s
            for s in self.retention
            if s.seconds and group % s.seconds == 0 and (s.seconds < iv.seconds or not iv.seconds)
        ]
        return max(fits, key=lambda s: s.seconds) if fits else None

    async def read(
        self, ticker: str, iv: Interval, start_ns: int, end_ns: int, limit: int
    ) -> list[Bar]:
        """Up to `limit` bars of `ticker` with start in [start_ns, end_ns), in start order."""
        if self._pending:
            # Bars closed since the last write may have left the book's memory already
            # (its clock can run ahead of the writer's): the store must have them first.
            with contextlib.suppress(Exception):
                await self.flush()
        bars = {b.start: b for b in await self._from_store(ticker, iv, start_ns, end_ns, limit)}
        since = self.book.since(ticker)
        memory = self.book.recent(ticker, iv)
        forming = self.book.forming(ticker, iv)
        if forming is not None:
            memory.append(forming)
        for bar in memory:
            if not start_ns <= bar.start < end_ns:
                continue
            if since is not None and bar.start < since:
                # The book saw only the end of this bar: the store has the rest.
                for earlier in await self._from_store(ticker, iv, bar.start, since, 1, cut=since):
                    if earlier.start == bar.start:
                        merged = earlier.copy()
                        merged.merge(bar)
                        merged.complete, merged.revision = bar.complete, bar.revision
                        merged.source = bar.source
                        bar = merged
            bars[bar.start] = bar
        return [bars[k] for k in sorted(bars)[:limit]]

    async def _from_store(
        self,
        ticker: str,
        iv: Interval,
        start_ns: int,
        end_ns: int,
        limit: int,
        cut: int | None = None,
    ) -> list[Bar]:
        """Stored `iv` bars, read straight or derived; `cut` keeps only parts before it."""
        source = self.source_of(iv, finer=cut is not None)
        if source is None or self.store is None:
            return []
        start_s, end_s = -(-start_ns // NS), -(-end_ns // NS)
        if source is iv:
            rows = await self.store.read(ticker, iv.name, start_s, end_s, limit)
            return [self.bar_of(ticker, iv, row) for row in rows]
        # Derived from every finer row in range (a bar starting in range ends by its end).
        stop_s = end_s if cut is None else -(-cut // NS)
        most = (stop_s - start_s) // (source.seconds or 86400) + 1
        rows = await self.store.read(ticker, source.name, start_s, stop_s, most)
        grouped: dict[int, Bar] = {}
        for row in rows:
            part = self.bar_of(ticker, source, row)
            if cut is not None and part.end > cut:
                continue
            where = span(iv, part.start, self.book.sessions)
            if where is None:
                continue
            bar = grouped.get(where[0])
            if bar is None:
                bar = grouped[where[0]] = Bar(ticker, iv, *where)
                bar.complete, bar.source = True, part.source
            bar.merge(part)
            bar.complete = bar.complete and part.complete
        out = [grouped[k] for k in sorted(grouped) if start_ns <= k < end_ns]
        return out[:limit]

    def bar_of(self, ticker: str, iv: Interval, row: Row) -> Bar:
        """A stored row as a bar (its end from the interval, or the session)."""
        start = row.start * NS
        where = span(iv, start, self.book.sessions)
        end = where[1] if where is not None else start + (iv.ns or 86400 * NS)
        return Bar.stored(
            ticker,
            iv,
            start,
            end,
            (row.open, row.high, row.low, row.close),
            row.volume,
            row.vwap,
            row.transactions,
            complete=row.complete,
            revision=row.revision,
            source=row.source,
        )
