"""PriceCache: the latest price per ticker, thread-safe, with a version counter."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Sequence

from tickwire.v1 import market_data_pb2 as pb
from tickwire_server import wire
from tickwire_server.domain import Quote


class CachedPrice:
    """The latest update of one ticker, encoded at most once for every subscriber.

    `element` is the update encoded as a `PriceBatch.updates` element; `update`
    is the same as a message (state LIVE, or STALE once the source said it is
    no longer refreshed). The cache's hot path keeps only the quote and the
    price it moved from: the element is encoded on first read, so a price
    replaced before any stream takes it is never encoded at all, and the
    message is decoded from the element only when someone asks for it. The
    snapshot encoding is made on first use. Entries are safe to read from
    any thread: two first reads at once may both encode, to the same bytes.
    """

    __slots__ = (
        "ticker",
        "price",
        "sequence",
        "_quote",
        "_previous_price",
        "_element",
        "_update",
        "_snapshot",
    )

    def __init__(self, quote: Quote, price: float, previous_price: float, sequence: int) -> None:
        """A LIVE entry for `quote` (price `price`), moved from `previous_price`."""
        self.ticker = quote.ticker
        self.price = price
        self.sequence = sequence
        self._quote: Quote | None = quote
        self._previous_price = previous_price
        self._element: bytes | None = None
        self._update: pb.PriceUpdate | None = None
        self._snapshot: bytes | None = None

    @classmethod
    def of(cls, update: pb.PriceUpdate) -> CachedPrice:
        """An entry holding `update` as it is (any state)."""
        entry = cls.__new__(cls)
        entry.ticker = update.ticker
        entry.price = update.price
        entry.sequence = update.sequence
        entry._quote = None
        entry._previous_price = update.previous_price
        entry._element = wire.update_element(update)
        entry._update = update
        entry._snapshot = None
        return entry

    @property
    def element(self) -> bytes:
        """The update as one `PriceBatch.updates` element (encoded on first read)."""
        element = self._element
        if element is None:
            assert self._quote is not None  # only live entries are built without an element
            element = wire.live_element(self._quote, self._previous_price, self.sequence)
            self._element = element
        return element

    @property
    def update(self) -> pb.PriceUpdate:
        """The update as a message (decoded from `element` on first use; do not mutate)."""
        if self._update is None:
            self._update = pb.PriceBatch.FromString(self.element).updates[0]
        return self._update

    @property
    def stale(self) -> bool:
        """True when the source stopped refreshing this price."""
        return self._quote is None and self.update.state == pb.DATA_STATE_STALE

    def snapshot_element(self) -> bytes:
        """The update flagged DATA_STATE_SNAPSHOT (STALE if stale), encoded as a batch element."""
        if self.stale:
            return self.element
        if self._snapshot is None:
            self._snapshot = wire.update_element(self.as_state(pb.DATA_STATE_SNAPSHOT))
        return self._snapshot

    def snapshot_update(self) -> pb.PriceUpdate:
        """A copy of the update for a snapshot read: state SNAPSHOT, or STALE if stale."""
        return self.as_state(pb.DATA_STATE_STALE if self.stale else pb.DATA_STATE_SNAPSHOT)

    def as_state(self, state: pb.DataState) -> pb.PriceUpdate:
        """A copy of the update with another data state."""
        copy = pb.PriceUpdate()
        copy.CopyFrom(self.update)
        copy.state = state
        return copy

    def __repr__(self) -> str:
        return f"CachedPrice({self.ticker!r}, {self.price!r}, sequence={self.sequence})"


def build_update(quote: Quote, previous: pb.PriceUpdate | None) -> pb.PriceUpdate:
    """The live PriceUpdate for `quote`, with change fields against `previous`.

    The reference for `wire.live_element`, which encodes the same message
    without building it (the cache's hot path).
    """
    price = quote.price
    prev_price = previous.price if previous is not None else price
    change = price - prev_price
    if change > 0:
        direction = pb.DIRECTION_UP
    elif change < 0:
        direction = pb.DIRECTION_DOWN
    else:
        direction = pb.DIRECTION_FLAT
    update = pb.PriceUpdate(
        ticker=quote.ticker,
        price=price,
        previous_price=prev_price,
        change=change,
        change_percent=(change / prev_price * 100.0) if prev_price else 0.0,
        direction=direction,
        sequence=(previous.sequence + 1) if previous is not None else 1,
        state=pb.DATA_STATE_LIVE,
    )
    # Set in place: cheaper than building a Timestamp for the constructor to copy.
    stamp = update.timestamp
    stamp.seconds, stamp.nanos = divmod(quote.timestamp_ns, 1_000_000_000)
    for name in ("open", "high", "low", "close", "volume", "vwap", "transactions"):
        value = getattr(quote, name)
        if value is not None:
            setattr(update, name, value)
    return update


class PriceCache:
    """Latest update per ticker. Every method is safe to call from any thread.

    `version` counts accepted updates; readers can tell whether anything
    changed between two reads by comparing it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._prices: dict[str, CachedPrice] = {}
        self._version = 0
        self.rejected = 0

    @property
    def version(self) -> int:
        return self._version

    def apply(self, quotes: Sequence[Quote]) -> list[CachedPrice]:
        """Accept a batch of quotes; return the new cache entries in order.

        A quote whose price is not a finite positive number is skipped and
        counted in `rejected`; it never fails the rest of the batch.
        """
        out: list[CachedPrice] = []
        with self._lock:
            prices = self._prices
            for quote in quotes:
                price = quote.price
                if not (price > 0.0 and math.isfinite(price)):
                    self.rejected += 1
                    continue
                ticker = quote.ticker
                previous = prices.get(ticker)
                if previous is None:
                    prev_price, sequence = price, 1
                else:
                    prev_price, sequence = previous.price, previous.sequence + 1
                entry = CachedPrice(quote, price, prev_price, sequence)
                prices[ticker] = entry
                out.append(entry)
            self._version += len(out)
        return out

    def get(self, ticker: str) -> CachedPrice | None:
        """The latest entry for `ticker`, or None when it has no price yet."""
        with self._lock:
            return self._prices.get(ticker)

    def snapshot(self, tickers: Iterable[str] | None = None) -> list[CachedPrice]:
        """Entries for `tickers` that have a price (all entries when None), by ticker."""
        with self._lock:
            if tickers is None:
                return [self._prices[t] for t in sorted(self._prices)]
            return [p for t in tickers if (p := self._prices.get(t)) is not None]

    def mark_stale(self, tickers: Iterable[str]) -> list[CachedPrice]:
        """Flag the cached prices of `tickers` DATA_STATE_STALE; return the new entries.

        Tickers without a price, or already stale, are skipped. The sequence
        stays (no new price was accepted, so `version` does not move); the
        next accepted quote of a ticker makes it LIVE again.
        """
        out: list[CachedPrice] = []
        with self._lock:
            prices = self._prices
            for ticker in tickers:
                entry = prices.get(ticker)
                if entry is None or entry.stale:
                    continue
                prices[ticker] = stale = CachedPrice.of(entry.as_state(pb.DATA_STATE_STALE))
                out.append(stale)
        return out

    def forget(self, ticker: str) -> None:
        """Drop a ticker's entry (the source no longer serves it)."""
        with self._lock:
            self._prices.pop(ticker, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._prices)
