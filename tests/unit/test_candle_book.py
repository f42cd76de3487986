"""CandleBook: live bars against an independent resample, late prices, subscribers."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tickwire.v1 import candles_pb2 as cpb
from tickwire.v1 import market_data_pb2 as pb
from tickwire_server.cache import PriceCache
from tickwire_server.candles.bars import Bar
from tickwire_server.candles.book import CandleBook
from tickwire_server.candles.intervals import BY_NAME, NS, Sessions
from tickwire_server.domain import PriceBlock, Quote
from tickwire_server.subscriber import Subscriber

T0 = 1_764_000_000 * NS  # 2025-11-24 16:00 UTC, a Monday


def _ns(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).timestamp()) * NS


def two_sessions() -> Sessions:
    """Two sessions a day apart: the Monday and Tuesday of T0's week, 14:30 to 21:00 UTC."""
    opens = [_ns("2025-11-24T14:30:00+00:00"), _ns("2025-11-25T14:30:00+00:00")]
    closes = [_ns("2025-11-24T21:00:00+00:00"), _ns("2025-11-25T21:00:00+00:00")]
    return Sessions(opens, closes, [dt.date(2025, 11, 24), dt.date(2025, 11, 25)])


class Feed:
    """Prices through a real PriceCache into a book; every closed bar collected."""

    def __init__(self, book: CandleBook) -> None:
        self.book = book
        self.cache = PriceCache()
        self.closed: list[Bar] = []
        book.on_bars(lambda bars: self.closed.extend(b.copy() for b in bars))

    def tick(self, t_ns: int, price: float, size: float = 0.0, ticker: str = "AAPL") -> None:
        self.book.observe(self.cache.apply([Quote(ticker, price, t_ns, size=size)]))

    def flush(self, far: int = 400 * 86400 * NS) -> None:
        """Close every bar: another ticker's price far in the future moves the clock."""
        self.tick(T0 + far, 1.0, ticker="ZZZZ")

    def bars(self, name: str, ticker: str = "AAPL", revision: int = 0) -> list[Bar]:
        iv = BY_NAME[name]
        return [
            b
            for b in self.closed
            if b.interval is iv and b.ticker == ticker and b.revision == revision
        ]


def resample(ticks: list[tuple[int, float, float]], length_ns: int) -> dict[int, tuple]:
    """The reference: plain grouping of in-order ticks by epoch-aligned start."""
    groups: dict[int, list[tuple[int, float, float]]] = defaultdict(list)
    for t, price, size in ticks:
        groups[t - t % length_ns].append((t, price, size))
    return {start: _ohlcv(rows) for start, rows in groups.items()}


def _ohlcv(rows: list[tuple[int, float, float]]) -> tuple:
    prices = [p for _, p, _ in rows]
    volume = sum(s for _, _, s in rows)
    vwap = sum(p * s for _, p, s in rows) / volume if volume else sum(prices) / len(prices)
    return (prices[0], max(prices), min(prices), prices[-1], volume, vwap, len(rows))


def _values(bar: Bar) -> tuple:
    return (bar.open, bar.high, bar.low, bar.close, bar.volume, bar.vwap, bar.transactions)


def _close(a: tuple, b: tuple) -> bool:
    return (
        a[:4] == b[:4]
        and a[6] == b[6]
        and all(
            abs(x - y) <= 1e-9 * max(1.0, abs(x), abs(y))
            for x, y in zip(a[4:6], b[4:6], strict=True)
        )
    )


ticks_strategy = st.lists(
    st.tuples(
        st.integers(0, 3 * 3600 * NS),  # offset from T0: three hours
        st.floats(1.0, 1000.0, allow_nan=False),
        st.sampled_from([0.0, 1.0, 100.0, 250.5]),
    ),
    min_size=1,
    max_size=300,
).map(lambda rows: sorted(((T0 + t, p, s) for t, p, s in rows), key=lambda r: r[0]))


@settings(max_examples=60, deadline=None)
@given(ticks=ticks_strategy)
def test_bars_match_an_independent_resample(ticks: list[tuple[int, float, float]]) -> None:
    feed = Feed(CandleBook())
    for t, price, size in ticks:
        feed.tick(t, price, size)
    feed.flush()
    for name in ("5s", "10s", "1m", "5m", "15m", "1h", "4h"):
        iv = BY_NAME[name]
        expected = resample(ticks, iv.ns)
        got = {b.start: b for b in feed.bars(name)}
        assert sorted(got) == sorted(expected), f"{name}: a bar for every traded interval, only"
        for start, bar in got.items():
            assert _close(_values(bar), expected[start]), (name, bar, expected[start])
            assert bar.end == start + iv.ns and bar.complete
    # Every bar closed exactly once.
    keys = [b.key() for b in feed.closed if b.ticker == "AAPL"]
    assert len(keys) == len(set(keys))


def test_an_interval_with_no_trades_has_no_bar() -> None:
    feed = Feed(CandleBook())
    feed.tick(T0 + 1 * NS, 10.0)
    feed.tick(T0 + 125 * NS, 11.0)  # two minutes later: minute 1 has nothing
    feed.flush()
    assert [b.start for b in feed.bars("1m")] == [T0, T0 + 120 * NS]
    assert [b.start for b in feed.bars("5s")] == [T0, T0 + 125 * NS]


def test_bar_boundaries_are_half_open() -> None:
    feed = Feed(CandleBook())
    feed.tick(T0 + 60 * NS - 1, 10.0)  # the last nanosecond of minute 0
    feed.tick(T0 + 60 * NS, 20.0)  # the first of minute 1
    feed.flush()
    minutes = feed.bars("1m")
    assert [(b.start, b.close) for b in minutes] == [(T0, 10.0), (T0 + 60 * NS, 20.0)]


def test_day_week_and_month_bars_follow_the_sessions() -> None:
    feed = Feed(CandleBook(two_sessions()))
    monday_open = _ns("2025-11-24T14:30:00+00:00")
    feed.tick(monday_open - NS, 5.0)  # before the open: in minute bars, in no day bar
    feed.tick(monday_open, 10.0)
    feed.tick(monday_open + 3600 * NS, 12.0)
    feed.tick(_ns("2025-11-24T21:00:00+00:00"), 99.0)  # at the close: after hours
    feed.tick(_ns("2025-11-25T15:00:00+00:00"), 11.0)
    feed.flush()
    days = feed.bars("1d")
    assert [(b.start, b.open, b.high, b.close, b.transactions) for b in days] == [
        (monday_open, 10.0, 12.0, 12.0, 2),
        (_ns("2025-11-25T14:30:00+00:00"), 11.0, 11.0, 11.0, 1),
    ]
    assert days[0].end == _ns("2025-11-24T21:00:00+00:00")
    (week,) = feed.bars("1w")
    assert (week.start, week.end) == (monday_open, _ns("2025-11-25T21:00:00+00:00"))
    assert (week.open, week.high, week.low, week.close, week.transactions) == (
        10.0,
        12.0,
        10.0,
        11.0,
        3,
    )
    (month,) = feed.bars("1mo")
    assert month.transactions == 3
    assert len(feed.bars("1m")) == 5  # every price is in a minute bar


def test_a_late_price_corrects_the_closed_bars_with_a_new_revision() -> None:
    feed = Feed(CandleBook(grace=60.0))
    feed.tick(T0 + 1 * NS, 10.0, 1.0)
    feed.tick(T0 + 2 * NS, 11.0, 1.0)
    feed.tick(T0 + 7 * NS, 12.0, 1.0)  # the 5s bar [0, 5) closes
    (first,) = feed.bars("5s")
    assert (first.high, first.transactions, first.revision) == (11.0, 2, 0)
    feed.tick(T0 + 3 * NS, 15.0, 2.0)  # late, within the grace
    (fixed,) = feed.bars("5s", revision=1)
    assert fixed.start == T0
    assert (fixed.high, fixed.close, fixed.transactions, fixed.volume) == (15.0, 15.0, 3, 4.0)
    assert feed.book.stats.corrections == 1
    feed.flush()
    (minute,) = feed.bars("1m")  # the minute was still forming: it took the price as it came
    assert (minute.high, minute.transactions, minute.revision) == (15.0, 4, 0)
    assert minute.close == 12.0  # the latest price by time, not by arrival


def test_a_late_price_past_the_grace_is_dropped_and_counted() -> None:
    feed = Feed(CandleBook(grace=10.0))
    feed.tick(T0 + 1 * NS, 10.0)
    feed.tick(T0 + 30 * NS, 11.0)
    feed.tick(T0 + 2 * NS, 50.0)  # 28 s late
    assert feed.book.stats.late_dropped == 1
    assert not feed.bars("5s", revision=1)


def test_a_late_price_in_an_empty_closed_interval_makes_its_bar() -> None:
    feed = Feed(CandleBook(grace=60.0))
    feed.tick(T0 + 1 * NS, 10.0)
    feed.tick(T0 + 20 * NS, 11.0)  # [5, 10) and [10, 15) had nothing
    feed.tick(T0 + 6 * NS, 9.0)
    made = [b for b in feed.bars("5s") if b.start == T0 + 5 * NS]
    assert len(made) == 1 and made[0].complete and made[0].close == 9.0


def test_forming_bars_roll_up_what_closed_and_what_still_forms() -> None:
    book = CandleBook()
    feed = Feed(book)
    feed.tick(T0 + 1 * NS, 10.0)
    feed.tick(T0 + 6 * NS, 14.0)
    feed.tick(T0 + 7 * NS, 8.0)
    minute = book.forming("AAPL", BY_NAME["1m"])
    assert minute is not None and not minute.complete
    assert (minute.start, minute.open, minute.high, minute.low, minute.close) == (
        T0,
        10.0,
        14.0,
        8.0,
        8.0,
    )
    assert minute.transactions == 3
    assert book.forming("AAPL", BY_NAME["1d"]) is None  # no sessions loaded: no day bars


async def _candles(sub: Subscriber) -> list[cpb.Candle]:
    frames = await sub.next_frames(0)
    out = []
    for frame in frames:
        response = pb.SubscribeResponse.FromString(frame)
        if response.WhichOneof("response") == "candle":
            out.append(response.candle)
    return out


async def test_subscribers_get_the_forming_bar_when_sent_and_closed_bars_at_once() -> None:
    book = CandleBook()
    feed = Feed(book)
    every, closed_only = Subscriber(), Subscriber()
    minute = BY_NAME["1m"]
    feed.tick(T0 + 1 * NS, 10.0)
    book.watch(every, ["AAPL"], minute, closed_only=False)
    book.watch(closed_only, ["AAPL"], minute, closed_only=True)
    (snapshot,) = await _candles(every)  # the forming bar at once
    assert (snapshot.close, snapshot.complete) == (10.0, False)
    assert (await _candles(closed_only)) == []
    for i in range(2, 20):
        feed.tick(T0 + i * NS, 10.0 + i)
    book.send_forming()  # what the 250 ms task does
    (forming,) = await _candles(every)  # many prices, one send
    assert (forming.close, forming.transactions, forming.complete) == (29.0, 19, False)
    assert forming.interval == cpb.CANDLE_INTERVAL_1_MIN
    assert (await _candles(closed_only)) == []
    feed.tick(T0 + 61 * NS, 30.0)  # the minute closes
    for sub in (every, closed_only):
        done = [c for c in (await _candles(sub)) if c.complete]
        assert len(done) == 1 and done[0].transactions == 19
        assert done[0].start.ToNanoseconds() == T0 and done[0].end.ToNanoseconds() == T0 + 60 * NS
    book.unwatch_number(every, "AAPL", minute.number)
    feed.tick(T0 + 200 * NS, 31.0)
    book.send_forming()
    assert (await _candles(every)) == []


@pytest.mark.parametrize("size", [0.0, 10.0])
def test_vwap_is_volume_weighted_or_the_mean_price(size: float) -> None:
    feed = Feed(CandleBook())
    feed.tick(T0 + 1 * NS, 10.0, size)
    feed.tick(T0 + 2 * NS, 20.0, size * 3)
    feed.flush()
    (bar,) = feed.bars("5s")
    assert bar.vwap == pytest.approx(17.5 if size else 15.0)


def test_a_tickers_next_price_after_a_quiet_spell_closes_its_coarser_bars() -> None:
    feed = Feed(CandleBook())
    feed.tick(T0 + 3600 * NS, 1.0, ticker="MSFT")  # the book's clock is an hour ahead already
    feed.tick(T0 + 1 * NS, 10.0)  # AAPL's first price: not late, its first bar
    feed.tick(T0 + 3601 * NS, 20.0)  # an hour later
    assert [b.close for b in feed.bars("1m")] == [10.0]
    minute = feed.book.forming("AAPL", BY_NAME["1m"])
    assert minute is not None and (minute.start, minute.close) == (T0 + 3600 * NS, 20.0)


@settings(max_examples=40, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            st.integers(0, 40 * NS),  # offset from T0: eight 5s bars
            st.lists(st.floats(1.0, 1000.0, allow_nan=False), min_size=3, max_size=3),
            st.booleans(),  # read the forming bars after this step
        ),
        min_size=1,
        max_size=60,
    ),
    in_order=st.booleans(),
)
def test_a_block_makes_the_bars_its_quotes_make(
    steps: list[tuple[int, list[float], bool]], in_order: bool
) -> None:
    """In order (ticked in columns within a window) or late, a block of three tickers a
    step: the same forming and closed bars as a quote each, read between blocks or not."""
    if in_order:
        steps = sorted(steps)
    tickers = ("AAPL", "MSFT", "V")
    by_block, by_quote = Feed(CandleBook()), Feed(CandleBook())
    iv = BY_NAME["10s"]
    for offset, prices, read in steps:
        block = PriceBlock(tickers, np.array(prices), T0 + offset, sizes=np.array([1.0, 0.0, 5.0]))
        by_block.book.observe_block(block)
        by_quote.book.observe(by_quote.cache.apply(list(block)))
        if read:
            for ticker in tickers:
                got, expected = by_block.book.forming(ticker, iv), by_quote.book.forming(ticker, iv)
                assert (got and _values(got) + got.key()) == (
                    expected and _values(expected) + expected.key()
                )
    for feed in (by_block, by_quote):
        feed.flush()
    assert [_values(b) + b.key() for b in by_block.closed] == [
        _values(b) + b.key() for b in by_quote.closed
    ]
    assert by_block.closed, "bars closed"


def test_a_price_older_than_the_last_block_does_not_become_the_close() -> None:
    """Blocks ticked in columns leave each bar's last price time as it is: the latest block's."""
    book = CandleBook()
    tickers = ("AAPL", "MSFT")
    for k, price in enumerate((10.0, 11.0, 12.0, 13.0)):
        book.observe_block(PriceBlock(tickers, np.array([price, price]), T0 + k * NS // 2))
    book.observe(PriceCache().apply([Quote("AAPL", 99.0, T0 + NS)]))  # between two blocks
    bar = book.forming("AAPL", BY_NAME["5s"])
    assert bar is not None
    assert (bar.open, bar.high, bar.close, bar.transactions) == (10.0, 99.0, 13.0, 5)
