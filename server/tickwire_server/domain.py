"""Plain domain types shared by sources, the cache and the hub (no protobuf here)."""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field


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
