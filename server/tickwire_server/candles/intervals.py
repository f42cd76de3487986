"""Candle intervals: their lengths and request limits, and which bar a moment falls in.

The table comes from the contract itself (the `interval_limits` option of
each `CandleInterval` value), so server and clients read one source. Sub-day
intervals align to the Unix epoch. Days, weeks and months are exchange
sessions (`Sessions`): a day bar is one session's regular hours, a week bar
the sessions of one ISO week, a month bar those of one calendar month; a
moment outside every session is in no such bar.
"""

from __future__ import annotations

import asyncio
import bisect
import datetime as dt
import importlib.metadata
import json
import os
import sys
import threading
import time
import warnings
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from tickwire.v1 import candles_pb2

NS = 1_000_000_000
LOAD_TIMEOUT = 120.0  # seconds the calendar's child process may take
CACHE_DAYS = 7  # how long a cached session table is used before it is made again
DAY = 1
WEEK = 2
MONTH = 3


@dataclass(frozen=True, slots=True)
class Interval:
    """One `CandleInterval`: its proto number, name, length and request limits."""

    number: int
    name: str
    seconds: int  # 0 for the session-based day, week and month
    max_range_ns: int
    max_limit: int
    calendar: int = 0  # DAY, WEEK or MONTH for the session-based ones
    ns: int = field(init=False)  # the length in nanoseconds (0 for the session-based ones)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ns", self.seconds * NS)

    def __str__(self) -> str:
        return self.name


def _table() -> tuple[Interval, ...]:
    out = []
    calendars = {"1d": DAY, "1w": WEEK, "1mo": MONTH}
    for value in candles_pb2.CandleInterval.DESCRIPTOR.values:
        if value.number == 0:
            continue
        options = value.GetOptions().Extensions
        limits: candles_pb2.IntervalLimits = options[candles_pb2.interval_limits]  # type: ignore[index]
        out.append(
            Interval(
                value.number,
                limits.name,
                limits.seconds,
                limits.max_range_seconds * NS,
                limits.max_limit,
                calendars.get(limits.name, 0),
            )
        )
    return tuple(out)


INTERVALS: tuple[Interval, ...] = _table()
"""Every interval, finest first."""
BY_NUMBER = {i.number: i for i in INTERVALS}
BY_NAME = {i.name: i for i in INTERVALS}
BASE = INTERVALS[0]
"""The finest interval (5s): every other is rolled up from it."""
assert all(i.seconds % BASE.seconds == 0 for i in INTERVALS), "5s must divide every interval"


class UnknownInterval(ValueError):
    """A name or number that is no interval; the message lists the allowed ones."""


def interval(value: int | str) -> Interval:
    """The interval of a proto number or a name ("5s", "1m", "1h", "1d", "1mo").

    Raises:
        UnknownInterval: `value` names none.
    """
    found = BY_NUMBER.get(value) if isinstance(value, int) else BY_NAME.get(value.strip())
    if found is None:
        names = ", ".join(i.name for i in INTERVALS)
        raise UnknownInterval(f"unknown candle interval {value!r}; one of {names}")
    return found


class Sessions:
    """An exchange's regular sessions, as sorted open and close times in ns.

    Built from `exchange_calendars` (XNYS by default) once, in `load`: the
    library takes seconds to import, so servers load it off the event loop
    and before the first day bar is needed. Half days close early and
    holidays have no session.
    """

    def __init__(self, opens: list[int], closes: list[int], dates: list[dt.date]) -> None:
        self.opens = opens
        self.closes = closes
        self.dates = dates
        self._weeks = _group(dates, lambda d: d.isocalendar()[:2])
        self._months = _group(dates, lambda d: (d.year, d.month))

    @classmethod
    def load(cls, exchange: str = "XNYS", start: str = "2000-01-01") -> Sessions:
        """The sessions of `exchange` from `start` to about a year ahead."""
        import exchange_calendars  # seconds to import: only here

        with warnings.catch_warnings():  # the library's own use of pandas, not ours to fix
            warnings.simplefilter("ignore")
            calendar = exchange_calendars.get_calendar(exchange, start=start)
            schedule = calendar.schedule
        opens = [int(t.value) for t in schedule["open"]]
        closes = [int(t.value) for t in schedule["close"]]
        dates = [t.date() for t in schedule.index]
        return cls(opens, closes, dates)

    @classmethod
    async def load_apart(cls, exchange: str = "XNYS") -> Sessions:
        """`load` in a child process: a server keeps serving (and its GIL) while pandas imports.

        The table is kept in the user's cache folder for a week (per version
        of exchange_calendars), so later starts read it in milliseconds.

        Raises:
            RuntimeError: the child failed or took longer than `LOAD_TIMEOUT` seconds.
        """
        path = _cache_path(exchange)
        try:
            if time.time() - path.stat().st_mtime < CACHE_DAYS * 86400:
                return cls._from_table(json.loads(path.read_text()))
        except (OSError, ValueError, KeyError, TypeError):
            pass  # none yet, or unreadable: make it again
        code = f"from tickwire_server.candles.intervals import dump; dump({exchange!r})"
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", code,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            async with asyncio.timeout(LOAD_TIMEOUT):
                out, err = await child.communicate()
        finally:
            if child.returncode is None:
                child.kill()
                await child.wait()
        if child.returncode != 0:
            raise RuntimeError(f"loading the {exchange} calendar failed: {err.decode()[-500:]}")
        sessions = cls._from_table(json.loads(out))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(f".{os.getpid()}.tmp")
            partial.write_bytes(out)
            partial.replace(path)
        except OSError:
            pass  # no cache then: the next start loads it again
        return sessions

    @classmethod
    def _from_table(cls, table: dict[str, Any]) -> Sessions:
        dates = [dt.date.fromisoformat(d) for d in table["dates"]]
        return cls([int(o) for o in table["opens"]], [int(c) for c in table["closes"]], dates)

    def session(self, t_ns: int) -> int:
        """The index of the session whose [open, close) holds `t_ns`, or -1."""
        i = bisect.bisect_right(self.opens, t_ns) - 1
        if i >= 0 and t_ns < self.closes[i]:
            return i
        return -1

    def span(self, calendar: int, t_ns: int) -> tuple[int, int] | None:
        """[start, end) of the day, week or month bar holding `t_ns`, or None outside sessions."""
        i = self.session(t_ns)
        if i < 0:
            return None
        if calendar == DAY:
            return self.opens[i], self.closes[i]
        first, last = (self._weeks if calendar == WEEK else self._months)[i]
        return self.opens[first], self.closes[last]

    def sessions_between(self, start_ns: int, end_ns: int) -> list[tuple[int, int]]:
        """Every session's (open, close) that overlaps [start_ns, end_ns), in order."""
        lo = max(0, bisect.bisect_right(self.closes, start_ns))
        hi = bisect.bisect_left(self.opens, end_ns)
        return list(zip(self.opens[lo:hi], self.closes[lo:hi], strict=True))


def _group(dates: list[dt.date], key: Callable[[dt.date], Hashable]) -> list[tuple[int, int]]:
    """For each session: the first and last session index of its week or month."""
    spans: list[tuple[int, int]] = []
    start = 0
    for i in range(1, len(dates) + 1):
        if i == len(dates) or key(dates[i]) != key(dates[start]):
            spans.extend([(start, i - 1)] * (i - start))
            start = i
    return spans


_lock = threading.Lock()


@cache
def _loaded() -> Sessions:
    with _lock:
        return Sessions.load()


def xnys() -> Sessions:
    """The XNYS sessions, loaded once per process (call off the event loop the first time)."""
    return _loaded()


def span(iv: Interval, t_ns: int, sessions: Sessions | None) -> tuple[int, int] | None:
    """[start, end) of the `iv` bar holding `t_ns`.

    None when `iv` is session-based and `t_ns` is outside every session (or
    no `sessions` are loaded yet).
    """
    if iv.seconds:
        length = iv.ns
        start = t_ns - t_ns % length
        return start, start + length
    if sessions is None:
        return None
    return sessions.span(iv.calendar, t_ns)


def _cache_path(exchange: str) -> Path:
    try:
        version = importlib.metadata.version("exchange-calendars")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return root / "tickwire" / f"sessions-{exchange}-{version}.json"


def dump(exchange: str) -> None:
    """What `Sessions.load_apart` runs in its child: the table as JSON on stdout."""
    loaded = Sessions.load(exchange)
    table = {
        "opens": loaded.opens,
        "closes": loaded.closes,
        "dates": [str(d) for d in loaded.dates],
    }
    json.dump(table, sys.stdout)
