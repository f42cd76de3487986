"""The default price source: a seeded, correlated GBM market that is always open."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from tickwire_server.domain import PriceBlock, Quote, TickerMeta
from tickwire_server.sources.base import PriceSink, SteppingSource
from tickwire_server.sources.gbm import SHOCK_PROBABILITY, SHOCK_RANGE, GbmState

log = logging.getLogger(__name__)

TRADING_SECONDS_PER_YEAR = 252 * 6.5 * 3600
# Shares traded a minute, in lots of 100, on average (a quiet large cap), spread over the steps.
LOT = 100
LOTS_PER_MINUTE = 80.0


@dataclass(frozen=True, slots=True)
class Profile:
    """How one ticker is simulated: metadata, seed price and annualised drift and volatility."""

    name: str
    sector: str
    price: float
    mu: float
    sigma: float

    def meta(self, ticker: str) -> TickerMeta:
        """`ticker`'s metadata in a source's universe."""
        return TickerMeta(ticker, self.name, self.sector, self.price, active=True)


def random_profile(rng: np.random.Generator) -> Profile:
    """A plausible profile for a symbol without one: price $10-500, drift and volatility."""
    price = math.exp(rng.uniform(math.log(10.0), math.log(500.0)))
    return Profile("", "other", round(price, 2), rng.uniform(-0.05, 0.20), rng.uniform(0.15, 0.60))


PROFILES: Mapping[str, Profile] = {
    "AAPL": Profile("Apple Inc.", "tech", 190.0, 0.12, 0.26),
    "GOOGL": Profile("Alphabet Inc. Class A", "tech", 170.0, 0.12, 0.29),
    "MSFT": Profile("Microsoft Corporation", "tech", 420.0, 0.11, 0.24),
    "AMZN": Profile("Amazon.com, Inc.", "tech", 185.0, 0.13, 0.32),
    "TSLA": Profile("Tesla, Inc.", "auto", 250.0, 0.15, 0.55),
    "NVDA": Profile("NVIDIA Corporation", "tech", 120.0, 0.20, 0.50),
    "META": Profile("Meta Platforms, Inc.", "tech", 500.0, 0.14, 0.36),
    "JPM": Profile("JPMorgan Chase & Co.", "finance", 200.0, 0.09, 0.22),
    "V": Profile("Visa Inc.", "finance", 280.0, 0.09, 0.20),
    "NFLX": Profile("Netflix, Inc.", "tech", 650.0, 0.13, 0.40),
}
DEFAULT_TICKERS: tuple[str, ...] = tuple(PROFILES)


@dataclass(slots=True)
class _Bar:
    """The session's open, high and low of one ticker, and its latest price."""

    open: float
    high: float
    low: float
    last: float

    def update(self, price: float) -> None:
        self.last = price
        self.high = max(self.high, price)
        self.low = min(self.low, price)

    def quote(self, ticker: str, timestamp_ns: int) -> Quote:
        return Quote(
            ticker=ticker,
            price=self.last,
            timestamp_ns=timestamp_ns,
            open=self.open,
            high=self.high,
            low=self.low,
            close=self.last,
        )


class SimulatorSource(SteppingSource):
    """Simulated prices for a default universe plus any ticker a subscriber asks for.

    Every `interval` seconds all active tickers take one correlated GBM step of
    `interval` trading seconds, and the sink gets one `PriceBlock` of them all.
    """

    name = "simulator"

    def __init__(
        self,
        *,
        tickers: Sequence[str] = DEFAULT_TICKERS,
        interval: float = 0.5,
        seed: int | None = None,
        shock_probability: float = SHOCK_PROBABILITY,
        shock_range: tuple[float, float] = SHOCK_RANGE,
    ) -> None:
        """Set up the default universe; nothing runs until `start`.

        Args:
            tickers: The default universe: always simulated, never removed.
            interval: Seconds between steps (also the simulated time per step).
            seed: Seed of the generator behind prices and random profiles.
            shock_probability: Chance per ticker and step of a jump (0 disables jumps).
            shock_range: Bounds of a jump's relative size.

        Raises:
            ValueError: `interval` is not positive or a shock parameter is out of range.
        """
        if not interval > 0.0:
            raise ValueError(f"interval must be positive, got {interval}")
        super().__init__()
        self._interval = interval
        self._dt = interval / TRADING_SECONDS_PER_YEAR
        self._rng = np.random.default_rng(seed)
        # Trade sizes come from a generator of their own, so prices stay as they were.
        self._sizes = np.random.default_rng(None if seed is None else [seed, 1])
        self._lots_per_step = LOTS_PER_MINUTE * interval / 60.0
        self._gbm = GbmState(shock_probability=shock_probability, shock_range=shock_range)
        self._defaults = frozenset(tickers)
        self._profiles: dict[str, Profile] = {}
        self._bars: dict[str, _Bar] = {}
        self._unpublished: set[str] = set()  # added, first price not yet out
        # The stepped tickers as one tuple, made again when the set changes (GBM's version).
        self._order: tuple[int, tuple[str, ...]] = (-1, ())
        for ticker in tickers:
            self._activate(ticker)

    async def start(self, sink: PriceSink) -> None:
        """Publish the current prices and start stepping; a no-op when already running."""
        if self.running:
            return
        now = time.time_ns()
        self._begin(sink, [self._bars[t].quote(t, now) for t in self._gbm.tickers], self._run())

    def add_ticker(self, ticker: str) -> None:
        """Start simulating `ticker`; its first price is published on the next loop turn."""
        if ticker in self._gbm:
            return
        self._activate(ticker)
        if self.running:
            self._unpublished.add(ticker)
            asyncio.get_running_loop().call_soon(self._publish_one, ticker)

    def remove_ticker(self, ticker: str) -> bool:
        """Stop simulating `ticker` unless it is a default (a no-op when absent).

        Its state is forgotten, so memory follows the active set however many
        symbols clients try; if it comes back it starts afresh.
        """
        if ticker in self._defaults:
            return False
        if ticker in self._gbm:
            self._gbm.remove(ticker)
            self._profiles.pop(ticker, None)
            self._bars.pop(ticker, None)
            self._unpublished.discard(ticker)
        return True

    def resume(self, prices: dict[str, float]) -> None:
        """Walk on from `prices` (a standby ingest taking over goes on from the leader's)."""
        for ticker, price in prices.items():
            if price > 0.0 and ticker in self._gbm:
                self._gbm.set_price(ticker, price)
                self._bars[ticker].update(price)

    def knows(self, ticker: str) -> bool:
        """Always True: the simulator can make up prices for any well-formed symbol."""
        return True

    def tickers(self) -> list[TickerMeta]:
        """Metadata of the active tickers, sorted by ticker."""
        return [self._profiles[ticker].meta(ticker) for ticker in sorted(self._gbm.tickers)]

    def _activate(self, ticker: str) -> None:
        profile = self._profiles.get(ticker)
        if profile is None:
            profile = self._profiles[ticker] = PROFILES.get(ticker) or random_profile(self._rng)
        bar = self._bars.get(ticker)
        if bar is None:
            bar = self._bars[ticker] = _Bar(
                profile.price, profile.price, profile.price, profile.price
            )
        self._gbm.add(ticker, bar.last, profile.mu, profile.sigma, profile.sector)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time() + self._interval
        try:
            while True:
                await asyncio.sleep(due - loop.time())
                try:
                    self._step()
                except Exception:
                    log.exception("simulator step failed")
                due += self._interval
                late = loop.time() - due
                if late > 0.0:  # fell behind: skip the missed ticks rather than burst
                    due += math.ceil(late / self._interval) * self._interval
        except asyncio.CancelledError:
            log.info("simulator stopped")
            raise

    def _step(self) -> None:
        gbm = self._gbm
        prices = gbm.step(self._rng, self._dt)
        now = time.time_ns()
        sizes = self._sizes.gamma(2.0, self._lots_per_step / 2.0, len(prices))
        if self._order[0] != gbm.version:  # a ticker came or went: the list is new
            self._order = (gbm.version, tuple(gbm.tickers))
        tickers = self._order[1]
        bars = [self._bars[ticker] for ticker in tickers]
        for bar, price in zip(bars, prices.tolist(), strict=True):
            bar.update(price)
        self._unpublished.clear()  # a step publishes every ticker
        if tickers and self._sink is not None:
            self._sink.publish(
                PriceBlock(
                    tickers,
                    prices,
                    now,
                    open=np.array([bar.open for bar in bars]),
                    high=np.array([bar.high for bar in bars]),
                    low=np.array([bar.low for bar in bars]),
                    close=prices,
                    sizes=np.maximum(1.0, np.round(sizes)) * LOT,
                )
            )

    def _publish_one(self, ticker: str) -> None:
        """The first price of a new ticker, unless a step already published it."""
        if ticker not in self._unpublished or self._sink is None:
            return
        self._unpublished.discard(ticker)
        self._sink.publish([self._bars[ticker].quote(ticker, time.time_ns())])
