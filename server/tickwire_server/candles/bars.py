"""Bar: one OHLCV candle being built or stored, and its proto form."""

from __future__ import annotations

from collections.abc import Iterable

from tickwire.v1 import candles_pb2 as cpb
from tickwire.v1 import market_data_pb2 as pb
from tickwire_server.candles.intervals import NS, Interval, Sessions, span

LIVE = cpb.CANDLE_SOURCE_LIVE
BACKFILL = cpb.CANDLE_SOURCE_BACKFILL
SYNTHETIC = cpb.CANDLE_SOURCE_SYNTHETIC


class Bar:
    """One candle of one ticker and interval, [start, end) in ns since the epoch.

    Mutable while forming: `tick` adds a price, `merge` adds a finer bar.
    `first_ns` and `last_ns` are the times of the earliest and latest price
    in it, so that a late price (or a finer bar rolled up out of order) sets
    the open or close only when it is earlier or later than what is there.
    `price_sum` sums the prices, giving the mean price as the vwap of a bar
    with no volume (prices without sizes).
    """

    __slots__ = (
        "ticker",
        "interval",
        "start",
        "end",
        "open",
        "high",
        "low",
        "close",
        "volume",
        "pv",
        "price_sum",
        "transactions",
        "first_ns",
        "last_ns",
        "revision",
        "complete",
        "source",
    )

    def __init__(self, ticker: str, interval: Interval, start: int, end: int) -> None:
        self.ticker = ticker
        self.interval = interval
        self.start = start
        self.end = end
        self.open = self.high = self.low = self.close = 0.0
        self.volume = self.pv = self.price_sum = 0.0
        self.transactions = 0
        self.first_ns = self.last_ns = 0
        self.revision = 0
        self.complete = False
        self.source: int = LIVE

    @classmethod
    def stored(
        cls,
        ticker: str,
        interval: Interval,
        start: int,
        end: int,
        ohlc: tuple[float, float, float, float],
        volume: float,
        vwap: float,
        transactions: int,
        *,
        complete: bool = True,
        revision: int = 0,
        source: int = LIVE,
    ) -> Bar:
        """A bar with its values given (read back, fetched from a vendor, or generated)."""
        bar = cls(ticker, interval, start, end)
        bar.open, bar.high, bar.low, bar.close = ohlc
        bar.volume = volume
        bar.pv = vwap * volume
        bar.price_sum = vwap * transactions
        bar.transactions = transactions
        bar.first_ns, bar.last_ns = start, max(start, end - 1)
        bar.complete, bar.revision, bar.source = complete, revision, source
        return bar

    def tick(self, price: float, size: float, t_ns: int) -> None:
        """Add one price (and the shares traded at it; 0 when unknown) at `t_ns`."""
        if self.transactions == 0:
            self.open = self.high = self.low = self.close = price
            self.first_ns = self.last_ns = t_ns
        else:
            if price > self.high:
                self.high = price
            elif price < self.low:
                self.low = price
            if t_ns >= self.last_ns:
                self.close, self.last_ns = price, t_ns
            elif t_ns < self.first_ns:
                self.open, self.first_ns = price, t_ns
        self.volume += size
        self.pv += price * size
        self.price_sum += price
        self.transactions += 1

    def merge(self, other: Bar) -> None:
        """Add a finer bar (or another part of this one) into this one."""
        if other.transactions == 0:
            return
        if self.transactions == 0:
            self.open, self.high = other.open, other.high
            self.low, self.close = other.low, other.close
            self.first_ns, self.last_ns = other.first_ns, other.last_ns
        else:
            self.high = max(self.high, other.high)
            self.low = min(self.low, other.low)
            if other.last_ns >= self.last_ns:
                self.close, self.last_ns = other.close, other.last_ns
            if other.first_ns < self.first_ns:
                self.open, self.first_ns = other.open, other.first_ns
        self.volume += other.volume
        self.pv += other.pv
        self.price_sum += other.price_sum
        self.transactions += other.transactions

    def copy(self, interval: Interval | None = None, span: tuple[int, int] | None = None) -> Bar:
        """A copy, optionally relabelled as a bar of another interval and span."""
        bar = Bar.__new__(Bar)
        for name in Bar.__slots__:
            setattr(bar, name, getattr(self, name))
        if interval is not None:
            bar.interval = interval
        if span is not None:
            bar.start, bar.end = span
        return bar

    @property
    def vwap(self) -> float:
        if self.volume > 0:
            return self.pv / self.volume
        return self.price_sum / self.transactions if self.transactions else 0.0

    def key(self) -> tuple[str, int, int]:
        return self.ticker, self.interval.number, self.start

    def message(self) -> cpb.Candle:
        candle = cpb.Candle(
            ticker=self.ticker,
            interval=self.interval.number,  # type: ignore[arg-type]
            open=self.open,
            high=self.high,
            low=self.low,
            close=self.close,
            volume=self.volume,
            vwap=self.vwap,
            transactions=self.transactions,
            complete=self.complete,
            revision=self.revision,
            source=self.source,  # type: ignore[arg-type]
        )
        candle.start.seconds, candle.start.nanos = divmod(self.start, NS)
        candle.end.seconds, candle.end.nanos = divmod(self.end, NS)
        return candle

    def frame(self) -> bytes:
        """The bar as one encoded `SubscribeResponse` (the `candle` response)."""
        return pb.SubscribeResponse(candle=self.message()).SerializeToString()

    def __repr__(self) -> str:
        state = "complete" if self.complete else "forming"
        return (
            f"Bar({self.ticker} {self.interval} @{self.start} o={self.open} h={self.high} "
            f"l={self.low} c={self.close} v={self.volume} n={self.transactions} {state} "
            f"r{self.revision})"
        )


def roll_up(bars: Iterable[Bar], iv: Interval, sessions: Sessions | None) -> list[Bar]:
    """Bars of `iv` made of finer closed `bars` (in start order), each in one `iv` bar.

    A bar made only of vendor parts is a vendor bar, one only of generated
    parts a generated one; any of tickwire's own makes it tickwire's (so
    later live bars may still replace it).
    """
    out: dict[int, Bar] = {}
    kinds: dict[int, set[int]] = {}
    for part in bars:
        where = span(iv, part.start, sessions)
        if where is None:
            continue
        bar = out.get(where[0])
        if bar is None:
            bar = out[where[0]] = Bar(part.ticker, iv, *where)
            bar.complete = True
            kinds[where[0]] = set()
        bar.merge(part)
        kinds[where[0]].add(part.source)
    for start, bar in out.items():
        found = kinds[start]
        bar.source = (
            BACKFILL if found == {BACKFILL} else SYNTHETIC if found == {SYNTHETIC} else LIVE
        )
    return list(out.values())
