"""PriceCache: the latest price per ticker, thread-safe, with a version counter."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Sequence

from tickwire.v1 import market_data_pb2 as pb
from tickwire_server.codec import CachedPrice, Encoder
from tickwire_server.domain import Quote


class PriceCache:
    """Latest update per ticker. Every method is safe to call from any thread.

    `version` counts accepted updates; readers can tell whether anything
    changed between two reads by comparing it. Entries are `CachedPrice`s,
    encoded on first read by the cache's own `Encoder`.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._encoder = Encoder()
        self._prices: dict[str, CachedPrice] = {}
        self._version = 0
        self._skips: dict[str, int] = {}  # sequence numbers to skip at a ticker's next update
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
            encoder = self._encoder
            skips = self._skips
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
                if skips:
                    sequence += skips.pop(ticker, 0)
                entry = CachedPrice(quote, price, prev_price, sequence, encoder)
                prices[ticker] = entry
                out.append(entry)
            self._version += len(out)
        return out

    def accept(self, entries: Sequence[CachedPrice]) -> list[CachedPrice]:
        """Take entries numbered elsewhere (an edge's, from the ingest); return those kept.

        An entry is kept when its sequence is past the ticker's cached one, or
        when it marks the cached price stale (same sequence): a price that
        arrives twice (live and in a snapshot) or late is dropped, so the
        cache never moves back.
        """
        out: list[CachedPrice] = []
        with self._lock:
            prices = self._prices
            for entry in entries:
                previous = prices.get(entry.ticker)
                if (
                    previous is None
                    or entry.sequence > previous.sequence
                    or (entry.sequence == previous.sequence and entry.stale and not previous.stale)
                ):
                    prices[entry.ticker] = entry
                    out.append(entry)
            self._version += len(out)
        return out

    def skip(self, ticker: str, count: int) -> int:
        """Skip `count` sequence numbers at the next update of `ticker`; that update's number."""
        with self._lock:
            self._skips[ticker] = self._skips.get(ticker, 0) + count
            entry = self._prices.get(ticker)
            return (entry.sequence if entry is not None else 0) + 1 + self._skips[ticker]

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
