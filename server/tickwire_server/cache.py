"""PriceCache: the latest price per ticker, thread-safe, with a version counter."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Sequence

import numpy as np

from tickwire.v1 import market_data_pb2 as pb
from tickwire_server.codec import CachedPrice, ColumnBatch, Encoder, TickerFields
from tickwire_server.domain import PriceBlock, Quote


class _Rows:
    """The latest block of one ticker list, held as columns: the cache's entries for its tickers.

    A ticker is in one list or in the cache's dict, never in two places.
    `entry` makes a row's `CachedPrice` when someone reads one ticker (kept
    until the next block).
    """

    __slots__ = ("names", "index", "batch", "_entries")

    def __init__(self, names: TickerFields, batch: ColumnBatch) -> None:
        self.names = names
        self.index = {ticker: i for i, ticker in enumerate(names.tickers)}
        self.batch = batch
        self._entries: dict[int, CachedPrice] = {}

    def advance(self, block: PriceBlock) -> ColumnBatch:
        """Take the list's next block: every row moves on from this one."""
        batch = self.batch
        self.batch = ColumnBatch(self.names, block, batch.block.prices, batch.sequence + 1)
        if self._entries:
            self._entries = {}
        return self.batch

    def entry(self, i: int, encoder: Encoder) -> CachedPrice:
        entry = self._entries.get(i)
        if entry is None:
            batch = self.batch
            quote = batch.block[i]
            previous, sequence = batch.previous[i].item(), batch.sequence[i].item()
            entry = CachedPrice(quote, quote.price, previous, sequence, encoder)
            self._entries[i] = entry
        return entry


class PriceCache:
    """Latest update per ticker. Every method is safe to call from any thread.

    `version` counts accepted updates; readers can tell whether anything
    changed between two reads by comparing it. Entries are `CachedPrice`s,
    encoded on first read by the cache's own `Encoder`. A `PriceBlock` is
    kept as it came, in columns (`apply_block`): its tickers' entries are
    made only when one of them is read on its own, and anything else that
    touches one of them (a single quote, a stale mark, a skip) first turns
    its list's rows into entries. Up to `MAX_LISTS` lists are kept so at
    once (a burst of some tickers beside the regular tick of the rest); a
    block that shares tickers with a kept list takes over from it.
    """

    MAX_LISTS = 8

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._encoder = Encoder()
        self._prices: dict[str, CachedPrice] = {}
        self._lists: dict[tuple[str, ...], _Rows] = {}  # kept in columns, oldest first
        self._owner: dict[str, _Rows] = {}  # the list each of their tickers is kept in
        self._last: _Rows | None = None  # the list of the latest block
        self._version = 0
        self._skips: dict[str, int] = {}  # sequence numbers to skip at a ticker's next update
        self.rejected = 0

    @property
    def encoder(self) -> Encoder:
        """The encoder of this cache's entries."""
        return self._encoder

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
            if self._owner:
                self._unpack_any(q.ticker for q in quotes)
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

    def apply_block(self, block: PriceBlock) -> ColumnBatch | None:
        """Accept a whole block in columns; None when it cannot be, and `apply` must take it.

        A block goes in columns when every price is a finite positive
        number and its tickers are distinct; otherwise `apply(block)` takes
        it quote by quote, skipping the bad ones.
        """
        prices = block.prices
        if not bool(np.logical_and(prices > 0.0, np.isfinite(prices)).all()):
            return None
        tickers = block.tickers
        with self._lock:
            rows = self._last
            if rows is None or rows.names.tickers is not tickers:
                rows = self._lists.get(tickers)
            if rows is not None:
                batch = rows.advance(block)
            else:
                if len(set(tickers)) != len(block):
                    return None
                rows, batch = self._pack(block)
            self._last = rows
            self._version += len(block)
        return batch

    def _pack(self, block: PriceBlock) -> tuple[_Rows, ColumnBatch]:
        """Start keeping `block`'s ticker list in columns, going on from the entries it had."""
        self._unpack_any(block.tickers)
        if len(self._lists) >= self.MAX_LISTS:
            self._unpack(next(iter(self._lists.values())))
        names = TickerFields(block.tickers)
        prices = self._prices
        skips = self._skips
        previous = block.prices.copy()
        sequence = np.ones(len(block), np.uint64)
        for i, ticker in enumerate(block.tickers):
            entry = prices.pop(ticker, None)
            if entry is not None:
                previous[i] = entry.price
                sequence[i] += entry.sequence
            if skips:
                sequence[i] += skips.pop(ticker, 0)
        batch = ColumnBatch(names, block, previous, sequence)
        rows = self._lists[block.tickers] = _Rows(names, batch)
        self._owner.update(dict.fromkeys(block.tickers, rows))
        return rows, batch

    def _unpack_any(self, tickers: Iterable[str]) -> None:
        """Turn every kept list holding any of `tickers` into entries."""
        owner = self._owner
        for rows in {owner[t] for t in tickers if t in owner}:
            self._unpack(rows)

    def _unpack(self, rows: _Rows) -> None:
        """Turn a kept list into an entry per ticker."""
        del self._lists[rows.names.tickers]
        if self._last is rows:
            self._last = None
        owner, prices = self._owner, self._prices
        for i, ticker in enumerate(rows.names.tickers):
            prices[ticker] = rows.entry(i, self._encoder)
            del owner[ticker]

    def accept(self, entries: Sequence[CachedPrice]) -> list[CachedPrice]:
        """Take entries numbered elsewhere (an edge's, from the ingest); return those kept.

        An entry is kept when its sequence is past the ticker's cached one, or
        when it marks the cached price stale (same sequence): a price that
        arrives twice (live and in a snapshot) or late is dropped, so the
        cache never moves back.
        """
        out: list[CachedPrice] = []
        with self._lock:
            if self._owner:
                self._unpack_any(e.ticker for e in entries)
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
            self._unpack_any((ticker,))
            self._skips[ticker] = self._skips.get(ticker, 0) + count
            entry = self._prices.get(ticker)
            return (entry.sequence if entry is not None else 0) + 1 + self._skips[ticker]

    def get(self, ticker: str) -> CachedPrice | None:
        """The latest entry for `ticker`, or None when it has no price yet."""
        with self._lock:
            return self._get(ticker)

    def _get(self, ticker: str) -> CachedPrice | None:
        entry = self._prices.get(ticker)
        if entry is None and self._owner:
            rows = self._owner.get(ticker)
            if rows is not None:
                return rows.entry(rows.index[ticker], self._encoder)
        return entry

    def snapshot(self, tickers: Iterable[str] | None = None) -> list[CachedPrice]:
        """Entries for `tickers` that have a price (all entries when None), by ticker."""
        with self._lock:
            if tickers is None:
                tickers = sorted([*self._prices, *self._owner])
            return [p for t in tickers if (p := self._get(t)) is not None]

    def mark_stale(self, tickers: Iterable[str]) -> list[CachedPrice]:
        """Flag the cached prices of `tickers` DATA_STATE_STALE; return the new entries.

        Tickers without a price, or already stale, are skipped. The sequence
        stays (no new price was accepted, so `version` does not move); the
        next accepted quote of a ticker makes it LIVE again.
        """
        out: list[CachedPrice] = []
        tickers = list(tickers)
        with self._lock:
            self._unpack_any(tickers)
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
            self._unpack_any((ticker,))
            self._prices.pop(ticker, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._prices) + len(self._owner)
