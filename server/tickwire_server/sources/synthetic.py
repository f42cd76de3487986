"""The synthetic source: a deterministic market on a clock that tests can step.

Prices follow the simulator's model (correlated GBM, the same profiles), on
a $0.01 tick grid, and every update carries a per-second bar as Massive's
aggregates do: open, high, low, close, volume in round lots shaped over the
trading day, vwap and transactions. Ticks fall at fixed times on the
source's clock, `hz` a second, and are produced in order whenever the
clock has passed them: the same seed and the same steps of the clock give
the same prices and the same sequence per ticker, however late the loop
runs or how many clients watch. The real clock is only the default;
`ManualClock` is the one tests step.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from tickwire_server.domain import Quote, TickerMeta
from tickwire_server.sources.base import PriceSink, SteppingSource
from tickwire_server.sources.gbm import GbmState, gbm_step
from tickwire_server.sources.simulator import (
    DEFAULT_TICKERS,
    PROFILES,
    TRADING_SECONDS_PER_YEAR,
    Profile,
    random_profile,
)

log = logging.getLogger(__name__)

TICK = 0.01  # the price grid, dollars
LOT = 100  # shares in a round lot
SESSION_OPEN_UTC_S = 14 * 3600 + 30 * 60  # 09:30 New York in winter, as seconds of a UTC day
SESSION_S = int(6.5 * 3600)


class Clock(Protocol):
    """Where the source reads the time: nanoseconds since the Unix epoch."""

    def now_ns(self) -> int: ...


class RealClock:
    def now_ns(self) -> int:
        return time.time_ns()


class ManualClock:
    """A clock that moves only when told: `advance(seconds)`."""

    def __init__(self, start_ns: int = 1_767_364_200 * 10**9) -> None:  # 2026-01-02 14:30 UTC
        self._now = start_ns

    def now_ns(self) -> int:
        return self._now

    def advance(self, seconds: float) -> None:
        if not seconds >= 0.0:
            raise ValueError(f"a clock moves forward, not by {seconds}")
        self._now += round(seconds * 1e9)


def on_grid(price: float) -> float:
    """`price` rounded to the tick grid, never below one tick."""
    return max(TICK, round(round(price / TICK) * TICK, 2))


def intraday_shape(timestamp_ns: int) -> float:
    """Relative trading activity at that time of day: a U, high at the open and the close."""
    seconds = (timestamp_ns // 10**9 - SESSION_OPEN_UTC_S) % 86_400
    if seconds >= SESSION_S:
        return 0.15  # outside the regular session: thin
    x = seconds / SESSION_S
    return 0.4 + 4.8 * (x - 0.5) ** 2


def _lots(ticker: str) -> float:
    """Typical round lots a second at the busiest time of day: 5 to 54, by symbol."""
    return 5.0 + zlib.crc32(ticker.encode()) % 50


@dataclass(slots=True)
class _Ticker:
    profile: Profile
    price: float  # on the grid
    lots: float  # typical round lots a second at the top of the shape
    rng: np.random.Generator | None = None  # its own, for a ticker that joined an open universe


class SyntheticMarket:
    """The deterministic core: the universe, its GBM state, and the ticks the clock has passed."""

    def __init__(self, tickers: Sequence[str], *, hz: float, seed: int) -> None:
        if not (hz > 0.0 and math.isfinite(hz)):
            raise ValueError(f"hz must be a positive number, got {hz}")
        self.hz = hz
        self.seed = seed
        self._rng = np.random.default_rng(seed)
        self._dt = (1.0 / hz) / TRADING_SECONDS_PER_YEAR
        self._gbm = GbmState(shock_probability=0.0)
        self._tickers: dict[str, _Ticker] = {}  # the universe, stepped together (correlated)
        self._joined: dict[str, _Ticker] = {}  # joined later: each on its own generator
        self._next_ns: int | None = None  # the clock time of the next tick
        for ticker in tickers:
            profile = PROFILES.get(ticker) or self._profile_for(ticker)
            self._tickers[ticker] = _Ticker(profile, on_grid(profile.price), _lots(ticker))
            self._gbm.add(ticker, profile.price, profile.mu, profile.sigma, profile.sector)

    def __contains__(self, ticker: object) -> bool:
        return ticker in self._tickers or ticker in self._joined

    @property
    def tickers(self) -> list[str]:
        return [*self._tickers, *self._joined]

    def profile(self, ticker: str) -> Profile:
        return self._state(ticker).profile

    def last(self, ticker: str, timestamp_ns: int) -> Quote:
        """The current price of `ticker` as a quote with no bar."""
        price = self._state(ticker).price
        return Quote(ticker, price, timestamp_ns, close=price)

    def join(self, ticker: str) -> None:
        """Add a ticker outside the universe, on a generator of its own (seed and symbol).

        The universe's prices stay the same whoever joins what, and so do the
        joiner's: they depend on the seed, the symbol and the ticks since it joined.
        """
        if ticker in self:
            return
        profile = self._profile_for(ticker)
        rng = np.random.default_rng([self.seed, zlib.crc32(ticker.encode()), 1])
        self._joined[ticker] = _Ticker(profile, on_grid(profile.price), _lots(ticker), rng)

    def _state(self, ticker: str) -> _Ticker:
        return self._tickers.get(ticker) or self._joined[ticker]

    def due(self, now_ns: int) -> list[list[Quote]]:
        """Every tick the clock has passed since the last call, oldest first (one batch each)."""
        period_ns = round(1e9 / self.hz)
        if self._next_ns is None:
            self._next_ns = now_ns - now_ns % period_ns + period_ns
            return []
        batches = []
        while self._next_ns <= now_ns:
            batches.append(self._tick(self._next_ns))
            self._next_ns += period_ns
        return batches

    def _profile_for(self, ticker: str) -> Profile:
        """A profile of its own for a symbol without one, from the seed and the symbol alone."""
        return random_profile(np.random.default_rng([self.seed, zlib.crc32(ticker.encode())]))

    def _tick(self, timestamp_ns: int) -> list[Quote]:
        shape = intraday_shape(timestamp_ns)
        quotes = []
        if self._tickers:
            prices = self._gbm.step(self._rng, self._dt)
            # The bar's draws for the whole universe, one array call each.
            wiggle = np.abs(self._rng.normal(0.0, 1.0, (len(prices), 2)))
            volume = self._rng.gamma(2.0, 0.5, len(prices))
            for i, (ticker, state) in enumerate(self._tickers.items()):
                quotes.append(
                    self._bar(
                        ticker,
                        state,
                        float(prices[i]),
                        wiggle[i],
                        float(volume[i]),
                        shape,
                        timestamp_ns,
                    )
                )
        for ticker, state in self._joined.items():
            rng = state.rng
            assert rng is not None
            p = state.profile
            z = rng.normal(size=1)
            price = float(gbm_step(np.array([state.price]), p.mu, p.sigma, self._dt, z)[0])
            wiggle = np.abs(rng.normal(0.0, 1.0, 2))
            quotes.append(
                self._bar(
                    ticker, state, price, wiggle, float(rng.gamma(2.0, 0.5)), shape, timestamp_ns
                )
            )
        return quotes

    def _bar(
        self,
        ticker: str,
        state: _Ticker,
        price: float,
        wiggle: np.ndarray,
        volume_draw: float,
        shape: float,
        timestamp_ns: int,
    ) -> Quote:
        """One tick's quote: the close on the grid, and a bar around it from `state`'s last."""
        open_ = state.price
        close = on_grid(price)
        spread = max(TICK, abs(close - open_))
        high = on_grid(max(open_, close) + float(wiggle[0]) * spread * 0.5)
        low = on_grid(min(open_, close) - float(wiggle[1]) * spread * 0.5)
        lots = max(1, round(state.lots * shape * volume_draw / self.hz))
        state.price = close
        return Quote(
            ticker,
            close,
            timestamp_ns,
            open=open_,
            high=high,
            low=low,
            close=close,
            volume=float(lots * LOT),
            vwap=round((open_ + high + low + close) / 4, 4),
            transactions=max(1, round(lots * 0.6)),
        )


class SyntheticSource(SteppingSource):
    """A PriceSource over `SyntheticMarket`: always open, its universe fixed unless open.

    With `open_universe` any well-formed symbol is served (it joins the
    market, deterministically from the seed and the symbol); otherwise a
    ticker outside the universe is unknown.
    """

    name = "synthetic"

    def __init__(
        self,
        *,
        tickers: Sequence[str] = DEFAULT_TICKERS,
        hz: float = 1.0,
        seed: int | None = None,
        open_universe: bool = False,
        clock: Clock | None = None,
    ) -> None:
        super().__init__()
        self.clock: Clock = clock if clock is not None else RealClock()
        self.market = SyntheticMarket(tickers, hz=hz, seed=seed if seed is not None else 0)
        self._open_universe = open_universe

    async def start(self, sink: PriceSink) -> None:
        if self.running:
            return
        now = self.clock.now_ns()
        self.market.due(now)  # the first call sets where the ticks begin
        self._begin(sink, [self.market.last(t, now) for t in self.market.tickers], self._run())

    def add_ticker(self, ticker: str) -> None:
        """Serve `ticker`: in the universe already, or joining an open one."""
        if ticker in self.market:
            return
        if self._open_universe:  # otherwise `knows` said no: the hub acked it UNKNOWN_TICKER
            self.market.join(ticker)
            if self._sink is not None:  # its first price, as the simulator gives one
                self._sink.publish([self.market.last(ticker, self.clock.now_ns())])

    def remove_ticker(self, ticker: str) -> bool:
        """The universe is produced whether watched or not: every ticker is kept."""
        return False

    def knows(self, ticker: str) -> bool:
        return self._open_universe or ticker in self.market

    def tickers(self) -> list[TickerMeta]:
        return [self.market.profile(t).meta(t) for t in sorted(self.market.tickers)]

    def advance(self) -> None:
        """Publish every tick the clock has passed (the run loop calls it; tests may too)."""
        if self._sink is None:
            return
        for batch in self.market.due(self.clock.now_ns()):
            if batch:
                self._sink.publish(batch)

    async def _run(self) -> None:
        period = 1.0 / self.market.hz
        try:
            while True:
                await asyncio.sleep(period)
                try:
                    self.advance()
                except Exception:
                    log.exception("synthetic tick failed")
        except asyncio.CancelledError:
            log.info("synthetic source stopped")
            raise
