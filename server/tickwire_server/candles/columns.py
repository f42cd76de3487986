"""BlockBars: one ticker list's forming 5s bars, kept in columns while blocks of it arrive.

A block of a ticker list (`PriceBlock`) ticks every bar of the list at
once: instead of a bar object touched per price, the bars' running values
are held as arrays and each block is a handful of array operations. They
start from the bars' own values and take each block as `Bar.tick` takes a
price, so the bars end exactly as if ticked one price at a time; `store`
writes them back before anything reads a bar.
"""

from __future__ import annotations

import numpy as np

from tickwire_server.candles.bars import Bar
from tickwire_server.domain import PriceBlock


class BlockBars:
    """The forming 5s bar of every ticker of one list, one window, in columns."""

    __slots__ = (
        "tickers",
        "keys",
        "bars",
        "end",
        "last_ns",
        "high",
        "low",
        "close",
        "volume",
        "pv",
        "price_sum",
        "transactions",
    )

    def __init__(self, tickers: tuple[str, ...], bars: list[Bar]) -> None:
        self.tickers = tickers
        self.keys = frozenset(tickers)
        self.bars = bars
        self.end = bars[0].end
        self.last_ns = max(bar.last_ns for bar in bars)
        self.high = np.array([bar.high for bar in bars])
        self.low = np.array([bar.low for bar in bars])
        self.close = np.array([bar.close for bar in bars])
        self.volume = np.array([bar.volume for bar in bars])
        self.pv = np.array([bar.pv for bar in bars])
        self.price_sum = np.array([bar.price_sum for bar in bars])
        self.transactions = np.array([bar.transactions for bar in bars], np.int64)

    @classmethod
    def of(cls, block: PriceBlock, bars: list[Bar | None]) -> BlockBars | None:
        """Columns of `bars` (each ticker's forming 5s bar), if `block` may go on in them.

        The caller adds `block` at once: `store` writes every bar's last price time.

        They may when every ticker has a bar with a price, all of one window
        that holds the block's time, and none with a price after it.
        """
        t = block.timestamp_ns
        first = bars[0] if bars else None
        if first is None or not first.start <= t < first.end:
            return None
        held: list[Bar] = []
        for bar in bars:
            if bar is None or bar.start != first.start or bar.last_ns > t or not bar.transactions:
                return None
            held.append(bar)
        return cls(block.tickers, held)

    def takes(self, block: PriceBlock) -> bool:
        """True when `block` is of this list and window, and not older than the last one."""
        return (
            block.tickers is self.tickers or block.tickers == self.tickers
        ) and self.last_ns <= block.timestamp_ns < self.end

    def add(self, block: PriceBlock) -> None:
        """Tick every bar with its ticker's price (as `Bar.tick`, in time order)."""
        prices = block.prices
        np.maximum(self.high, prices, out=self.high)
        np.minimum(self.low, prices, out=self.low)
        self.close = prices
        self.last_ns = block.timestamp_ns
        sizes = block.sizes
        if sizes is not None:
            self.volume += sizes
            self.pv += prices * sizes
        self.price_sum += prices
        self.transactions += 1

    def store(self) -> None:
        """Write the running values back into the bars (each has taken a block since `of`)."""
        last = self.last_ns
        for bar, high, low, close, volume, pv, price_sum, count in zip(
            self.bars,
            self.high.tolist(),
            self.low.tolist(),
            self.close.tolist(),
            self.volume.tolist(),
            self.pv.tolist(),
            self.price_sum.tolist(),
            self.transactions.tolist(),
            strict=True,
        ):
            bar.high, bar.low, bar.close, bar.last_ns = high, low, close, last
            bar.volume, bar.pv, bar.price_sum, bar.transactions = volume, pv, price_sum, count
