"""PriceCache: the latest price per ticker, thread-safe, with a version counter."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from tickwire.v1 import market_data_pb2 as pb
from tickwire_server import wire
from tickwire_server.domain import Quote


@dataclass(slots=True)
class CachedPrice:
    """The latest update of one ticker, encoded once for every subscriber.

    `update` is the live message (state LIVE); `element` is its encoding as a
    `PriceBatch.updates` element. The snapshot encoding is made on first use.
    """

    update: pb.PriceUpdate
    element: bytes
    _snapshot: bytes | None = field(default=None, repr=False)

    @property
    def ticker(self) -> str:
        return self.update.ticker

    @property
    def price(self) -> float:
        return self.update.price

    @property
    def sequence(self) -> int:
        return self.update.sequence

    def snapshot_element(self) -> bytes:
        """The update flagged DATA_STATE_SNAPSHOT, encoded as a batch element."""
        if self._snapshot is None:
            self._snapshot = wire.update_element(self.as_state(pb.DATA_STATE_SNAPSHOT))
        return self._snapshot

    def as_state(self, state: pb.DataState) -> pb.PriceUpdate:
        """A copy of the update with another data state."""
        copy = pb.PriceUpdate()
        copy.CopyFrom(self.update)
        copy.state = state
        return copy


def build_update(quote: Quote, previous: pb.PriceUpdate | None) -> pb.PriceUpdate:
    """The live PriceUpdate for `quote`, with change fields against `previous`."""
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
        timestamp=wire.timestamp(quote.timestamp_ns),
        sequence=(previous.sequence + 1) if previous is not None else 1,
        state=pb.DATA_STATE_LIVE,
    )
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
                if not (quote.price > 0.0 and math.isfinite(quote.price)):
                    self.rejected += 1
                    continue
                previous = prices.get(quote.ticker)
                update = build_update(quote, previous.update if previous else None)
                entry = CachedPrice(update, wire.update_element(update))
                prices[quote.ticker] = entry
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

    def forget(self, ticker: str) -> None:
        """Drop a ticker's entry (the source no longer serves it)."""
        with self._lock:
            self._prices.pop(ticker, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._prices)
