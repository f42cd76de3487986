"""The load every server under test gets: the same tickers, the same price moves.

A `Feed` yields batches of (ticker, price) for a fixed universe, one move per
ticker per batch (or the prices alone, in ticker order, for a server that
takes columns); `drive` calls a publish function with each batch, either
flat out (one batch per event-loop turn) or at a fixed rate.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from typing import TypeVar


def ticker_names(count: int) -> list[str]:
    """`count` distinct well-formed symbols: T0000, T0001, ..."""
    return [f"T{i:04d}" for i in range(count)]


class Feed:
    """A seeded random walk over `count` tickers, one batch at a time."""

    def __init__(self, count: int, seed: int = 7) -> None:
        self.tickers = ticker_names(count)
        self._rng = random.Random(seed)
        self._prices = [round(self._rng.uniform(10.0, 500.0), 2) for _ in self.tickers]
        # A ring of pre-drawn relative moves keeps the per-batch cost tiny and equal for all.
        self._moves = [1.0 + self._rng.gauss(0.0, 2e-4) for _ in range(4099)]
        self._cursor = 0

    def next_prices(self) -> list[float]:
        """One new price for every ticker, in the order of `tickers` (the list is reused)."""
        moves = self._moves
        start = self._cursor
        self._cursor = (start + len(self._prices)) % len(moves)
        m = len(moves)
        prices = self._prices
        for i in range(len(prices)):
            prices[i] = prices[i] * moves[(start + i) % m]
        return prices

    def next_batch(self) -> list[tuple[str, float]]:
        """One new price for every ticker, as (ticker, price) pairs."""
        return list(zip(self.tickers, self.next_prices(), strict=True))


T = TypeVar("T")
Publish = Callable[[list[tuple[str, float]], int], None]


async def drive(next_batch: Callable[[], T], publish: Callable[[T, int], None], hz: float) -> None:
    """Publish batches from `next_batch` forever: flat out when `hz` is 0, else `hz` a second.

    `publish` gets the batch and its timestamp (`time.time_ns()` just before the
    call), the clock clients measure latency against.
    """
    loop = asyncio.get_running_loop()
    if hz <= 0:
        while True:
            batch = next_batch()
            publish(batch, time.time_ns())
            await asyncio.sleep(0)
    period = 1.0 / hz
    due = loop.time()
    while True:
        due += period
        batch = next_batch()
        await asyncio.sleep(max(0.0, due - loop.time()))
        publish(batch, time.time_ns())
        late = loop.time() - due
        if late > period:  # fell behind: skip missed ticks rather than burst
            due += (late // period) * period
