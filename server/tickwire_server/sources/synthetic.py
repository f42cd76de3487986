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
import contextlib
import logging
import math
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from tickwire_server.domain import (
    MarketState,
    PriceBlock,
    Quote,
    SourceState,
    SourceStatus,
    TickerMeta,
)
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
THIN = 0.15  # relative activity outside the regular session
MAX_BEHIND_NS = 10**9  # on the real clock, ticks older than this are skipped, not produced
BATCHES_PER_TURN = 16  # on the real clock, ticks produced per event-loop turn at most


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


class SourceClock:
    """The clock the source runs on: a base clock (real or manual) that can be paused.

    While paused, time stands still for the source: no tick falls, no stale
    mark or burst step comes due; on resuming, the schedule carries on from
    where it stood (nothing missed is produced).
    """

    def __init__(self, base: Clock) -> None:
        self.base = base
        self._held_ns = 0  # time spent paused so far
        self._paused_at: int | None = None

    @property
    def manual(self) -> bool:
        return isinstance(self.base, ManualClock)

    @property
    def paused(self) -> bool:
        return self._paused_at is not None

    def now_ns(self) -> int:
        base = self._paused_at if self._paused_at is not None else self.base.now_ns()
        return base - self._held_ns

    def pause(self) -> None:
        if self._paused_at is None:
            self._paused_at = self.base.now_ns()

    def resume(self) -> None:
        if self._paused_at is not None:
            self._held_ns += self.base.now_ns() - self._paused_at
            self._paused_at = None


def on_grid(price: float) -> float:
    """`price` rounded to the tick grid, never below one tick."""
    return max(TICK, round(round(price / TICK) * TICK, 2))


def intraday_shape(timestamp_ns: int) -> float:
    """Relative trading activity at that time of day: a U, high at the open and the close."""
    seconds = (timestamp_ns // 10**9 - SESSION_OPEN_UTC_S) % 86_400
    if seconds >= SESSION_S:
        return THIN  # outside the regular session
    x = seconds / SESSION_S
    return 0.4 + 4.8 * (x - 0.5) ** 2


def _lots(ticker: str) -> float:
    """Typical round lots a second at the busiest time of day: 5 to 54, by symbol."""
    return 5.0 + zlib.crc32(ticker.encode()) % 50


@dataclass(slots=True)
class _Ticker:
    profile: Profile
    # The last price published (on the grid, or as pushed) and the typical round
    # lots a second at the top of the shape. The universe's move to arrays once
    # the market is made (`_closes`, `_lot_sizes`); these stay its starting values.
    price: float
    lots: float
    rng: np.random.Generator | None = None  # its own, for a ticker that joined an open universe


@dataclass(slots=True)
class Stall:
    """A ticker that stopped updating at `since_ns`; its price turns stale at `stale_at_ns`."""

    since_ns: int
    stale_at_ns: int
    stale: bool = False


class Stalls(dict[str, Stall]):
    """The stalled tickers of a market, by ticker, and when each turns stale."""

    def stall(self, ticker: str, now_ns: int, stale_after_ns: int) -> None:
        """Stall `ticker` from `now_ns` (or since its stall, if stalled) until resumed."""
        since = self[ticker].since_ns if ticker in self else now_ns
        self[ticker] = Stall(since, now_ns + stale_after_ns)

    def resume(self, ticker: str) -> bool:
        """Let `ticker` update again; False when it was not stalled."""
        return self.pop(ticker, None) is not None

    def stale_due(self, now_ns: int) -> list[str]:
        """Stalled tickers whose price turned stale by `now_ns`, not reported before."""
        out = []
        for ticker, stall in self.items():
            if not stall.stale and stall.stale_at_ns <= now_ns:
                stall.stale = True
                out.append(ticker)
        return out

    def next_stale_ns(self) -> list[int]:
        """When the stalls not stale yet turn stale (a list, for `min` with other times)."""
        return [s.stale_at_ns for s in self.values() if not s.stale]


@dataclass(slots=True)
class Burst:
    """Tickers ticking `hz` times a second until `ends_ns`, instead of at the market's rate."""

    tickers: tuple[str, ...]
    hz: float
    next_ns: int
    ends_ns: int
    cached: np.ndarray | None = None  # the tickers' GBM slots, once looked up

    @property
    def period_ns(self) -> int:
        return max(1, round(1e9 / self.hz))


class SyntheticMarket:
    """The deterministic core: the universe, its GBM state, and the ticks the clock has passed.

    Besides the regular ticks (`hz` a second for the whole universe, stepped
    together so prices stay correlated) it keeps what the controls set:
    stalled tickers (they stop ticking; `stale_due` says when their price
    turns stale) and bursts (some tickers ticking faster for a while). While
    `producing` is False (a closed market, a faulty source) no tick is
    produced, and none is made up later.
    """

    def __init__(
        self,
        tickers: Sequence[str],
        *,
        hz: float,
        seed: int,
        prices: Mapping[str, float] | None = None,
    ) -> None:
        """A market of `tickers`, from their profiles' prices or the given `prices`.

        A ticker whose given price is 0 is in the universe without a price
        until one is pushed (or the first tick).
        """
        if not (hz > 0.0 and math.isfinite(hz)):
            raise ValueError(f"hz must be a positive number, got {hz}")
        self.hz = hz
        self.seed = seed
        self.producing = True
        self.thin = False  # extended hours: trading as thin as outside the session
        self.skipped = 0  # ticks skipped for falling behind a real clock
        self._rng = np.random.default_rng(seed)
        self._dt = (1.0 / hz) / TRADING_SECONDS_PER_YEAR
        self._gbm = GbmState(shock_probability=0.0)
        self._tickers: dict[str, _Ticker] = {}  # the universe, stepped together (correlated)
        self._joined: dict[str, _Ticker] = {}  # joined later: each on its own generator
        self._next_ns: int | None = None  # the clock time of the next tick
        self._stalls = Stalls()
        self._bursts: list[Burst] = []
        self._unpriced: set[str] = set()
        for ticker in tickers:
            profile = PROFILES.get(ticker) or self._profile_for(ticker)
            given = (prices or {}).get(ticker)
            price = given if given is not None and given > 0 else on_grid(profile.price)
            if given is not None and not given > 0:
                self._unpriced.add(ticker)
            self._tickers[ticker] = _Ticker(profile, price, _lots(ticker))
            self._gbm.add(ticker, price, profile.mu, profile.sigma, profile.sector)
        # The universe's last published prices and lot sizes, by GBM slot (the order above).
        self._slot = {ticker: i for i, ticker in enumerate(self._tickers)}
        self._names = tuple(self._tickers)  # one tuple for every regular tick's block
        self._closes = np.array([s.price for s in self._tickers.values()], dtype=float)
        self._lot_sizes = np.array([s.lots for s in self._tickers.values()], dtype=float)

    def __contains__(self, ticker: object) -> bool:
        return ticker in self._tickers or ticker in self._joined

    @property
    def tickers(self) -> list[str]:
        return [*self._tickers, *self._joined]

    @property
    def joined(self) -> list[str]:
        """Tickers that joined after the start (an open universe)."""
        return list(self._joined)

    def profile(self, ticker: str) -> Profile:
        return self._state(ticker).profile

    def first_prices(self, timestamp_ns: int) -> list[Quote]:
        """The prices the market starts from, as quotes with no bar."""
        return [self.last(t, timestamp_ns) for t in self.tickers if t not in self._unpriced]

    def last(self, ticker: str, timestamp_ns: int) -> Quote:
        """The last published price of `ticker` as a quote with no bar."""
        price = self._price(ticker)
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

    # Time -----------------------------------------------------------------

    def due(
        self, now_ns: int, max_behind_ns: int | None = None, max_batches: int | None = None
    ) -> list[Sequence[Quote]]:
        """Every tick the clock has passed since the last call, oldest first (one batch each).

        Regular ticks and burst ticks interleave by time; at the same time
        the regular tick goes first. With `max_behind_ns`, ticks older than
        that are skipped (counted in `skipped`), so a market asked for more
        than the machine produces falls behind by that much at most instead
        of for ever; without it (a stepped clock) every tick is produced.
        With `max_batches`, at most that many come per call; the rest are
        due at the next.
        """
        period_ns = round(1e9 / self.hz)
        if self._next_ns is None:
            self._next_ns = now_ns - now_ns % period_ns + period_ns
            return []
        if max_behind_ns is not None:
            floor = now_ns - max_behind_ns
            self._next_ns += self._skip(self._next_ns, floor, period_ns) * period_ns
            for b in self._bursts:
                b.next_ns += self._skip(b.next_ns, floor, b.period_ns) * b.period_ns
        batches: list[Sequence[Quote]] = []
        while True:
            self._bursts = [b for b in self._bursts if b.next_ns < b.ends_ns]
            burst = min(self._bursts, key=lambda b: b.next_ns, default=None)
            if burst is not None and burst.next_ns < self._next_ns and burst.next_ns <= now_ns:
                batch = self._burst_tick(burst) if self.producing else []
                burst.next_ns += burst.period_ns
            elif self._next_ns <= now_ns:
                batch = self._tick(self._next_ns) if self.producing else []
                self._next_ns += period_ns
            else:
                return batches
            if batch:
                batches.append(batch)
                if max_batches is not None and len(batches) >= max_batches:
                    return batches

    def _skip(self, next_ns: int, floor_ns: int, period_ns: int) -> int:
        """How many ticks from `next_ns` fall before `floor_ns` (counted skipped)."""
        if next_ns >= floor_ns:
            return 0
        missed = (floor_ns - next_ns) // period_ns + 1
        self.skipped += missed
        return missed

    def stale_due(self, now_ns: int) -> list[str]:
        """Stalled tickers whose price turned stale by `now_ns`, not reported before."""
        return self._stalls.stale_due(now_ns)

    def next_event_ns(self) -> int | None:
        """The clock time of the next tick, burst tick or stale mark (None before `due`)."""
        if self._next_ns is None:
            return None
        times = [self._next_ns, *(b.next_ns for b in self._bursts if b.next_ns < b.ends_ns)]
        times += self._stalls.next_stale_ns()
        return min(times)

    # Controls -------------------------------------------------------------

    def push(self, ticker: str, price: float, timestamp_ns: int, **bar: float | None) -> Quote:
        """An update of `ticker` at exactly `price`, its walk moved there.

        Bar fields left out (`open`, `high`, `low`, `volume`, `vwap`,
        `transactions`) are derived: it opens at the last price.

        Raises:
            KeyError: `ticker` is not in the market.
            ValueError: the bar does not hold together (high below the price, ...).
        """
        state = self._state(ticker)
        open_ = _given(bar, "open", self._price(ticker))
        high = _given(bar, "high", max(open_, price))
        low = _given(bar, "low", min(open_, price))
        if not low <= min(open_, price) <= max(open_, price) <= high:
            raise ValueError(
                f"the bar does not hold together: low {low} and high {high} must take in "
                f"the open {open_} and the price {price}"
            )
        lots = max(1, round(state.lots * intraday_shape(timestamp_ns) / self.hz))
        volume = _given(bar, "volume", float(lots * LOT))
        transactions = round(_given(bar, "transactions", max(1.0, round(volume / LOT * 0.6))))
        vwap = _given(bar, "vwap", round((open_ + high + low + price) / 4, 4))
        self._set_price(ticker, price)
        self._set_level(ticker, price)
        self._unpriced.discard(ticker)
        return Quote(
            ticker,
            price,
            timestamp_ns,
            open=open_,
            high=high,
            low=low,
            close=price,
            volume=volume,
            vwap=vwap,
            transactions=transactions,
            size=volume,  # each update is its own small bar: what it traded is its volume
        )

    def current(self, ticker: str, timestamp_ns: int) -> Quote:
        """An update of `ticker` at where its walk stands now (after a stall or a fault).

        It draws nothing, so it leaves every later tick as it would have been.
        """
        return self._quotes((ticker,), np.array([self._level(ticker)]), np.zeros((1, 2)),
                            np.ones(1), 1.0, timestamp_ns, self.hz)[0]  # fmt: skip

    def stall(self, ticker: str, now_ns: int, stale_after_ns: int) -> None:
        """Stop ticking `ticker` from `now_ns`; its price turns stale `stale_after_ns` later."""
        self._state(ticker)  # KeyError when not in the market
        self._stalls.stall(ticker, now_ns, stale_after_ns)

    def resume(self, ticker: str) -> bool:
        """Tick `ticker` again; False when it was not stalled."""
        return self._stalls.resume(ticker)

    def stalls(self) -> dict[str, Stall]:
        return dict(self._stalls)

    def burst(self, tickers: Sequence[str], hz: float, now_ns: int, duration_ns: int) -> Burst:
        """Tick `tickers` `hz` times a second for `duration_ns` from `now_ns`."""
        for ticker in tickers:
            self._state(ticker)  # KeyError when not in the market
        burst = Burst(tuple(tickers), hz, 0, now_ns + duration_ns)
        burst.next_ns = now_ns + burst.period_ns
        self._bursts.append(burst)
        return burst

    def bursts(self) -> list[Burst]:
        """The bursts still running."""
        return [b for b in self._bursts if b.next_ns < b.ends_ns]

    # Making ticks ---------------------------------------------------------

    def _profile_for(self, ticker: str) -> Profile:
        """A profile of its own for a symbol without one, from the seed and the symbol alone."""
        return random_profile(np.random.default_rng([self.seed, zlib.crc32(ticker.encode())]))

    def _level(self, ticker: str) -> float:
        """Where the walk of `ticker` stands (off the grid for the universe)."""
        if ticker in self._gbm:
            return self._gbm.params(ticker).price
        return self._joined[ticker].price

    def _set_level(self, ticker: str, price: float) -> None:
        if ticker in self._gbm:
            self._gbm.set_price(ticker, price)

    def _held(self) -> set[str]:
        """Tickers the regular tick leaves out: stalled, or ticking in a burst."""
        held = set(self._stalls)
        for burst in self._bursts:
            held.update(burst.tickers)
        return held

    def _tick(self, timestamp_ns: int) -> Sequence[Quote]:
        """The regular tick: every ticker steps (the draws never depend on the controls).

        Stalled tickers walk on unseen; bursting ones keep their burst's walk.
        """
        shape = THIN if self.thin else intraday_shape(timestamp_ns)
        held = self._held()
        quotes: Sequence[Quote] = []
        joiners: list[Quote] = []  # tickers off the universe's arrays
        if self._tickers:
            bursting = {t: self._level(t) for t in held if t in self._gbm and t not in self._stalls}
            prices = self._gbm.step(self._rng, self._dt)
            for ticker, level in bursting.items():
                self._gbm.set_price(ticker, level)
            # The bar's draws for the whole universe, one array call each.
            wiggle = np.abs(self._rng.normal(0.0, 1.0, (len(prices), 2)))
            volume = self._rng.gamma(2.0, 0.5, len(prices))
            names = self._names
            if held:
                keep = np.fromiter((t not in held for t in names), bool, len(names))
                names = tuple(t for t in names if t not in held)
                prices, wiggle, volume = prices[keep], wiggle[keep], volume[keep]
            quotes = self._quotes(names, prices, wiggle, volume, shape, timestamp_ns, self.hz)
        for ticker, state in self._joined.items():
            rng = state.rng
            assert rng is not None
            p = state.profile
            z = rng.normal(size=1)
            price = gbm_step(np.array([state.price]), p.mu, p.sigma, self._dt, z)
            wiggle = np.abs(rng.normal(0.0, 1.0, (1, 2)))
            volume = rng.gamma(2.0, 0.5, 1)
            if ticker not in held:
                joiners += self._quotes(
                    (ticker,), price, wiggle, volume, shape, timestamp_ns, self.hz
                )
        return [*quotes, *joiners] if joiners else quotes

    def _burst_tick(self, burst: Burst) -> Sequence[Quote]:
        """One tick of a burst: its tickers step by its period, on the market's generator.

        The universe's tickers step together in one array operation; the
        draws are the same whichever of them are stalled.
        """
        timestamp_ns = burst.next_ns
        shape = THIN if self.thin else intraday_shape(timestamp_ns)
        dt = (1.0 / burst.hz) / TRADING_SECONDS_PER_YEAR
        n = len(burst.tickers)
        z = self._rng.normal(size=n)
        wiggle = np.abs(self._rng.normal(0.0, 1.0, (n, 2)))
        volume = self._rng.gamma(2.0, 0.5, n)
        others: list[int] = []  # joined an open universe: off the universe's arrays
        if self._stalls or self._joined:
            names = burst.tickers
            keep = np.fromiter(
                (t not in self._stalls and t in self._tickers for t in names), bool, n
            )
            others = [i for i, t in enumerate(names) if t in self._joined and t not in self._stalls]
            names = tuple(t for t in names if t not in self._stalls and t in self._tickers)
            slots = self._gbm.slots(names)
            kept = z[keep], wiggle[keep], volume[keep]
        else:  # the plain case: the same tickers every tick, looked up once
            names = burst.tickers  # the same tuple every tick: the server reuses its work
            if burst.cached is None:
                burst.cached = self._gbm.slots(names)
            slots = burst.cached
            kept = z, wiggle, volume
        levels = self._gbm.walk(slots, kept[0], dt)
        quotes = self._quotes(names, levels, kept[1], kept[2], shape, timestamp_ns, burst.hz, slots)
        joiners: list[Quote] = []
        for i in others:
            ticker = burst.tickers[i]
            state = self._joined[ticker]
            p = state.profile
            level = gbm_step(np.array([state.price]), p.mu, p.sigma, dt, z[i : i + 1])
            joiners += self._quotes(
                (ticker,), level, wiggle[i : i + 1], volume[i : i + 1], shape, timestamp_ns,
                burst.hz,
            )  # fmt: skip
        return [*quotes, *joiners] if joiners else quotes

    def _quotes(
        self,
        tickers: tuple[str, ...],
        prices: np.ndarray,
        wiggle: np.ndarray,
        volume_draws: np.ndarray,
        shape: float,
        timestamp_ns: int,
        hz: float,
        slots: np.ndarray | None = None,
    ) -> Sequence[Quote]:
        """One tick's quotes of `tickers` (all universe tickers at `slots`, or looked up)."""
        if not tickers:
            return []
        if slots is None and tickers[0] in self._slot:
            slots = np.fromiter((self._slot[t] for t in tickers), np.intp, len(tickers))
        joined = self._joined.get(tickers[0]) if slots is None else None  # one at a time
        if joined is not None:
            opens, lot_sizes = np.array([joined.price]), np.array([joined.lots])
        else:
            opens, lot_sizes = self._closes[slots], self._lot_sizes[slots]
        quotes, closes = _bars(
            tickers, opens, lot_sizes, prices, wiggle, volume_draws, shape, timestamp_ns, hz
        )
        if joined is not None:
            joined.price = float(closes[0])
        else:
            self._closes[slots] = closes
        return quotes

    def _price(self, ticker: str) -> float:
        """The last published price of `ticker`."""
        slot = self._slot.get(ticker)
        return float(self._closes[slot]) if slot is not None else self._joined[ticker].price

    def _set_price(self, ticker: str, price: float) -> None:
        slot = self._slot.get(ticker)
        if slot is not None:
            self._closes[slot] = price
        else:
            self._joined[ticker].price = price


def _bars(
    tickers: tuple[str, ...],
    opens: np.ndarray,
    lot_sizes: np.ndarray,
    prices: np.ndarray,
    wiggle: np.ndarray,
    volume_draws: np.ndarray,
    shape: float,
    timestamp_ns: int,
    hz: float,
) -> tuple[PriceBlock, np.ndarray]:
    """One tick's quotes in array operations, as a block, and their closes: each close on
    the grid, with a bar around it from the ticker's last price (`opens`)."""
    closes = _grid(prices)
    spread = np.maximum(TICK, np.abs(closes - opens))
    highs = _grid(np.maximum(opens, closes) + wiggle[:, 0] * spread * 0.5)
    lows = _grid(np.minimum(opens, closes) - wiggle[:, 1] * spread * 0.5)
    lots = np.maximum(1.0, np.round(lot_sizes * (shape / hz) * volume_draws))
    vwaps = np.round((opens + highs + lows + closes) / 4, 4)
    trades = np.maximum(1.0, np.round(lots * 0.6)).astype(np.int64)
    volumes = lots * LOT
    block = PriceBlock(
        tickers,
        closes,
        timestamp_ns,
        open=opens,
        high=highs,
        low=lows,
        close=closes,
        volume=volumes,
        vwap=vwaps,
        transactions=trades,
        sizes=volumes,  # each update is its own small bar, its volume what it traded
    )
    return block, closes


def _grid(prices: np.ndarray) -> np.ndarray:
    """`on_grid` over an array."""
    return np.maximum(TICK, np.round(np.round(prices / TICK) * TICK, 2))


def _given(bar: dict[str, float | None], name: str, default: float) -> float:
    value = bar.get(name)
    return default if value is None else value


class Market(Protocol):
    """What the controls of `SyntheticSource` ask of its market (a replay offers it too)."""

    producing: bool
    thin: bool

    def __contains__(self, ticker: object) -> bool:
        """Whether the market serves `ticker`."""

    @property
    def tickers(self) -> list[str]:
        """The tickers with a price now (what a fault marks stale and a recovery resends)."""

    def join(self, ticker: str) -> None: ...

    def push(self, ticker: str, price: float, timestamp_ns: int, **bar: float | None) -> Quote: ...

    def current(self, ticker: str, timestamp_ns: int) -> Quote: ...

    def stall(self, ticker: str, now_ns: int, stale_after_ns: int) -> None: ...

    def resume(self, ticker: str) -> bool: ...

    def stalls(self) -> dict[str, Stall]: ...

    def burst(self, tickers: Sequence[str], hz: float, now_ns: int, duration_ns: int) -> Burst: ...

    def bursts(self) -> list[Burst]: ...

    def next_event_ns(self) -> int | None: ...


class SyntheticSource(SteppingSource):
    """A PriceSource over `SyntheticMarket` that the scenario controls drive.

    The market is open and the source healthy until told otherwise. With
    `open_universe` any well-formed symbol is served (it joins the market,
    deterministically from the seed and the symbol); otherwise a ticker
    outside the universe is unknown. Every control first produces what the
    clock has passed, so its effect lands at the same point of the series
    however late the event loop runs.
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
        prices: Mapping[str, float] | None = None,
        quiet_joins: bool = False,
    ) -> None:
        """See the class; `prices` gives the universe and its exact first prices (0: none
        until pushed), and with `quiet_joins` a ticker joining an open universe has no
        price until pushed or ticked."""
        super().__init__()
        self.clock = SourceClock(clock if clock is not None else RealClock())
        self.prices = dict(prices) if prices is not None else None
        self.universe = list(prices) if prices is not None else list(tickers)
        self.hz = hz
        self.seed = seed if seed is not None else 0
        self.market: Market = self._seed_market()
        self.open_universe = open_universe
        self.quiet_joins = quiet_joins
        self._wake = asyncio.Event()

    @property
    def synthetic(self) -> SyntheticMarket:
        """The market as the synthetic one (a replay has another)."""
        assert isinstance(self.market, SyntheticMarket)
        return self.market

    async def start(self, sink: PriceSink) -> None:
        if self.running:
            return
        now = self.clock.now_ns()
        market = self.synthetic
        market.due(now)  # the first call sets where the ticks begin
        self._begin(sink, market.first_prices(now), self._run())

    def add_ticker(self, ticker: str) -> None:
        """Serve `ticker`: in the universe already, or joining an open one."""
        if ticker in self.market:
            return
        if self.open_universe:  # otherwise `knows` said no: the hub acked it UNKNOWN_TICKER
            self.market.join(ticker)
            if not self.quiet_joins:
                self._publish([self.synthetic.last(ticker, self.clock.now_ns())])

    def remove_ticker(self, ticker: str) -> bool:
        """The universe is produced whether watched or not: every ticker is kept."""
        return False

    def knows(self, ticker: str) -> bool:
        return self.open_universe or ticker in self.market

    def tickers(self) -> list[TickerMeta]:
        market = self.synthetic
        return [market.profile(t).meta(t) for t in sorted(market.tickers)]

    def advance(self) -> None:
        """Publish every tick the clock has passed (the run loop calls it; tests may too)."""
        if self._sink is None:
            return
        now = self.clock.now_ns()
        market = self.synthetic
        if self.clock.manual:  # every tick, however many
            batches = market.due(now)
        else:  # a turn's worth, so that streams are served between turns
            batches = market.due(now, MAX_BEHIND_NS, BATCHES_PER_TURN)
        for batch in batches:
            self._sink.publish(batch)
        stale = market.stale_due(now)
        if stale:
            self._sink.mark_stale(stale)

    # Controls (see tickwire_server.scenario, which validates their input) --

    def set_market(self, market: MarketState) -> SourceStatus:
        """Open, close or enter extended hours (thin volume); a closed market has no ticks."""
        self.advance()
        self.market.thin = market is MarketState.EXTENDED_HOURS
        self._set_status(self._status.state, market, self._status.message)
        return self._status

    def set_health(
        self, state: SourceState, message: str = "", market: MarketState | None = None
    ) -> SourceStatus:
        """Report `state` (and `market`, in the same status).

        Out of HEALTHY the prices stop and turn stale; back in, they go on.
        """
        self.advance()
        was_healthy = self._status.state is SourceState.HEALTHY
        if market is not None:
            self.market.thin = market is MarketState.EXTENDED_HOURS
        self._set_status(state, market or self._status.market, message)
        if was_healthy and state is not SourceState.HEALTHY and self._sink is not None:
            self._sink.mark_stale(self.market.tickers)
        elif state is SourceState.HEALTHY and not was_healthy:
            now = self.clock.now_ns()
            stalled = self.market.stalls()
            self._publish(
                [self.market.current(t, now) for t in self.market.tickers if t not in stalled]
            )
        return self._status

    def reject(self, tickers: Sequence[str], reason: str) -> None:
        """Report `tickers` unknown, as an upstream that turned out not to know them would."""
        if self._sink is not None:
            self._sink.reject(list(tickers), reason)

    def push(self, ticker: str, price: float, **bar: float | None) -> None:
        """Publish one update of `ticker` at exactly `price` now (joining an open universe)."""
        quote = Quote(ticker, price, self.clock.now_ns())
        for name, value in bar.items():
            setattr(quote, name, value)
        self.push_quotes([quote])

    def push_quotes(self, quotes: Sequence[Quote]) -> None:
        """Publish `quotes` in one batch, as given; bar fields left out are derived."""
        self.advance()
        out = []
        for q in quotes:
            if q.ticker not in self.market and self.open_universe:
                self.market.join(q.ticker)
            bar = {"open": q.open, "high": q.high, "low": q.low, "volume": q.volume}
            bar |= {"vwap": q.vwap, "transactions": q.transactions}
            out.append(self.market.push(q.ticker, q.price, q.timestamp_ns, **bar))
        self._publish(out)

    def stall(self, ticker: str, stale_after: float) -> None:
        """Stop updating `ticker`; `stale_after` seconds on, its price turns stale."""
        self.advance()
        self.market.stall(ticker, self.clock.now_ns(), round(stale_after * 1e9))
        self.advance()  # stale at once when stale_after is zero
        self._wake.set()

    def resume(self, ticker: str) -> bool:
        """Update `ticker` again, from now: its current price is published at once."""
        self.advance()
        if not self.market.resume(ticker):
            return False
        self._publish([self.market.current(ticker, self.clock.now_ns())])
        return True

    def burst(self, tickers: Sequence[str], hz: float, duration: float) -> Burst:
        """Tick `tickers` (empty: the whole market) `hz` times a second for `duration` seconds."""
        self.advance()
        burst = self.market.burst(
            tickers or self.market.tickers, hz, self.clock.now_ns(), round(duration * 1e9)
        )
        self._wake.set()
        return burst

    def set_paused(self, paused: bool) -> None:
        """Stop the source's clock, or let it run again."""
        self.advance()
        if paused:
            self.clock.pause()
        else:
            self.clock.resume()
        self._wake.set()

    def advance_clock(self, seconds: float) -> int:
        """Move a manual clock `seconds` forward and produce what it passes; the new time."""
        base = self.clock.base
        if not isinstance(base, ManualClock):
            raise TypeError("the source runs on the real clock (start it with a manual one)")
        base.advance(seconds)
        self.advance()
        return self.clock.now_ns()

    def reset(self) -> None:
        """Back to the seed state: the seed's prices (published now), open and healthy.

        Tickers that joined an open universe stay, from their seed prices;
        the clock keeps its time (and is no longer paused).
        """
        joined = self.synthetic.joined
        self.clock.resume()
        market = self.market = self._seed_market()
        for ticker in joined:
            market.join(ticker)
        now = self.clock.now_ns()
        market.due(now)
        self._set_status(SourceState.HEALTHY, MarketState.OPEN, "")
        self._publish(market.first_prices(now))
        self._wake.set()

    def _seed_market(self) -> SyntheticMarket:
        return SyntheticMarket(self.universe, hz=self.hz, seed=self.seed, prices=self.prices)

    def _set_status(self, state: SourceState, market: MarketState, message: str) -> None:
        self.market.producing = state is SourceState.HEALTHY and market is not MarketState.CLOSED
        self._set_state(state, market, message)

    def _publish(self, quotes: list[Quote]) -> None:
        if self._sink is not None and quotes:
            self._sink.publish(quotes)

    async def _run(self) -> None:
        """Produce ticks as the clock passes them, sleeping until the next one is due.

        A manual or paused clock moves only through the controls, which wake it.
        """
        try:
            while True:
                try:
                    self.advance()
                except Exception:
                    log.exception("synthetic tick failed")
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._delay()):
                        await self._wake.wait()
        except asyncio.CancelledError:
            log.info("synthetic source stopped")
            raise

    def _delay(self) -> float | None:
        """Seconds until the next event on a running real clock; None: wait to be woken."""
        if self.clock.manual or self.clock.paused:
            return None
        due = self.market.next_event_ns()
        if due is None:
            return 1.0 / self.hz
        return max(0.0, (due - self.clock.now_ns()) / 1e9)
