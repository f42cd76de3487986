"""Plain domain types shared by sources, the cache and the hub (no protobuf here)."""

from __future__ import annotations

import enum
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import overload

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class MarketState(enum.Enum):
    """The trading session, as a source reports it."""

    OPEN = "open"
    CLOSED = "closed"
    EXTENDED_HOURS = "extended-hours"


class SourceState(enum.Enum):
    """How well the source is delivering prices."""

    STARTING = "starting"
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    ERROR = "error"
    STOPPED = "stopped"


@dataclass(slots=True)
class Quote:
    """One observed price of one ticker, as a source emits it.

    `timestamp_ns` is nanoseconds since the Unix epoch. Bar fields are None
    when the source has none; they describe the source's own bar (a day or
    an aggregate), while `size` is what traded at this price, which candles
    add up as volume. Treat it as immutable once handed to a sink; it
    is not frozen because sources build one per update and a frozen
    dataclass costs six times as much to construct.
    """

    ticker: str
    price: float
    timestamp_ns: int
    open: float | None = None
    high: float | None = None
    low: float | None = None
    close: float | None = None
    volume: float | None = None
    vwap: float | None = None
    transactions: int | None = None
    size: float | None = None  # shares traded at this price (a trade's size), when known


class PriceBlock(Sequence[Quote]):
    """One batch of a fixed ticker list as columns: a price each, one timestamp for all.

    What a source that moves the same tickers every tick (the simulator, a
    REST poll) hands its sink instead of a `Quote` each: the server keeps the
    columns as they are, so the block costs no object per price on its way
    to the wire. Pass the same `tickers` tuple object each time the list is
    unchanged: the server then reuses what it worked out for it. Tickers
    must be distinct. A bar column (`open` ... `transactions`) or `sizes`
    is either given for every row or left None; `transactions` is an
    integer column. It is also a `Sequence[Quote]` (each row built on
    demand), so whatever takes quotes takes a block. Treat it as immutable.
    """

    __slots__ = (
        "tickers",
        "prices",
        "timestamp_ns",
        "open",
        "high",
        "low",
        "close",
        "volume",
        "vwap",
        "transactions",
        "sizes",
    )

    def __init__(
        self,
        tickers: tuple[str, ...],
        prices: npt.ArrayLike,
        timestamp_ns: int,
        *,
        open: npt.ArrayLike | None = None,  # noqa: A002  (the field's name, as on Quote)
        high: npt.ArrayLike | None = None,
        low: npt.ArrayLike | None = None,
        close: npt.ArrayLike | None = None,
        volume: npt.ArrayLike | None = None,
        vwap: npt.ArrayLike | None = None,
        transactions: npt.ArrayLike | None = None,
        sizes: npt.ArrayLike | None = None,
    ) -> None:
        """A block of `tickers` at `prices` (one per ticker) at `timestamp_ns`.

        Columns are taken as float64 arrays (`transactions` as int64), not
        copied when they are already.

        Raises:
            ValueError: a column's length differs from the ticker list's.
        """
        self.tickers = tickers
        self.prices: FloatArray = np.asarray(prices, dtype=np.float64)
        self.timestamp_ns = timestamp_ns
        self.open = _floats(open)
        self.high = _floats(high)
        self.low = _floats(low)
        self.close = _floats(close)
        self.volume = _floats(volume)
        self.vwap = _floats(vwap)
        self.transactions: IntArray | None = (
            None if transactions is None else np.asarray(transactions, dtype=np.int64)
        )
        self.sizes = _floats(sizes)
        n = len(tickers)
        for name in ("prices", *BAR_COLUMNS, "sizes"):
            column = getattr(self, name)
            if column is not None and column.shape != (n,):
                raise ValueError(f"{name} has shape {column.shape}, the block has {n} tickers")

    def __len__(self) -> int:
        return len(self.tickers)

    @overload
    def __getitem__(self, index: int) -> Quote: ...
    @overload
    def __getitem__(self, index: slice) -> list[Quote]: ...
    def __getitem__(self, index: int | slice) -> Quote | list[Quote]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        bars = {}
        for name in BAR_COLUMNS:
            column = getattr(self, name)
            if column is not None:
                bars[name] = column[index].item()
        sizes = self.sizes
        return Quote(
            self.tickers[index],
            self.prices[index].item(),
            self.timestamp_ns,
            size=None if sizes is None else sizes[index].item(),
            **bars,
        )

    def __iter__(self) -> Iterator[Quote]:
        """The rows as quotes, each column read out once (not row by row, as indexing does)."""
        columns = {
            name: column.tolist()
            for name in BAR_COLUMNS
            if (column := getattr(self, name)) is not None
        }
        sizes = repeat(None) if self.sizes is None else self.sizes.tolist()
        ts = self.timestamp_ns
        rows = zip(self.tickers, self.prices.tolist(), sizes, strict=False)  # sizes may repeat
        for i, (ticker, price, size) in enumerate(rows):
            yield Quote(ticker, price, ts, size=size, **{k: v[i] for k, v in columns.items()})

    def __repr__(self) -> str:
        return f"PriceBlock({len(self)} tickers at {self.timestamp_ns})"


BAR_COLUMNS = ("open", "high", "low", "close", "volume", "vwap", "transactions")


def _floats(values: npt.ArrayLike | None) -> FloatArray | None:
    return None if values is None else np.asarray(values, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class TickerMeta:
    """Metadata of one ticker of a source's universe."""

    ticker: str
    name: str = ""
    sector: str = ""
    seed_price: float = 0.0
    active: bool = False


@dataclass(frozen=True, slots=True)
class SourceStatus:
    """The market's state and the source's health at one moment."""

    source: str
    market: MarketState
    state: SourceState
    message: str = ""
    at_ns: int = field(default_factory=time.time_ns)

    def same_as(self, other: SourceStatus | None) -> bool:
        """True when `other` says the same thing (ignoring when it was said)."""
        return other is not None and (self.source, self.market, self.state, self.message) == (
            other.source,
            other.market,
            other.state,
            other.message,
        )


class TickerStatus(enum.Enum):
    """The outcome for one ticker of a request."""

    OK = "ok"
    INVALID_SYMBOL = "invalid symbol"
    UNKNOWN_TICKER = "unknown ticker"
    LIMIT_EXCEEDED = "limit exceeded"
    NOT_SUBSCRIBED = "not subscribed"
    NO_DATA = "no data"
    RATE_LIMITED = "rate limited"


@dataclass(frozen=True, slots=True)
class TickerResult:
    """The status of one requested ticker, with detail when it is not OK."""

    ticker: str
    status: TickerStatus
    message: str = ""
