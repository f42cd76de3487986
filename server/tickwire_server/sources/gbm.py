"""Correlated geometric Brownian motion with rare shocks, vectorised on numpy (no asyncio).

Each step draws standard normals through a sector factor model,

    Z_i = sqrt(rho_cross)·M + sqrt(rho_s(i) − rho_cross)·S_s(i) + sqrt(1 − rho_s(i))·eps_i,

with one market factor M, one factor S_s per sector and idiosyncratic eps_i, all
independent N(0, 1). So Var Z_i = 1, corr(Z_i, Z_j) = rho_s within sector s and
rho_cross across sectors; a sector without its own value uses rho_s = rho_cross
(no sector factor). That is O(n) per step and O(1) per added or removed ticker.
Prices then move by the exact GBM step and, rarely, by a multiplicative jump.

`cholesky_step` draws the same correlations through a full n×n Cholesky factor;
it exists only as a reference for tests and benchmarks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IndexArray = npt.NDArray[np.intp]
_T = TypeVar("_T", bound=np.generic)

RHO_CROSS = 0.3
SECTOR_RHO: Mapping[str, float] = {"tech": 0.6, "finance": 0.5}
SHOCK_PROBABILITY = 0.001
SHOCK_RANGE = (0.02, 0.05)


def gbm_step(
    prices: FloatArray,
    mu: FloatArray | float,
    sigma: FloatArray | float,
    dt: float,
    z: FloatArray,
) -> FloatArray:
    """One exact GBM step `S·exp((mu − sigma²/2)·dt + sigma·sqrt(dt)·z)`, as a new array.

    `mu` and `sigma` are annualised, `dt` is in years, `z` holds one N(0, 1) draw per price.
    """
    exponent = (mu - 0.5 * sigma * sigma) * dt + sigma * (math.sqrt(dt) * z)
    return prices * np.exp(exponent)


def factor_normals(
    rng: np.random.Generator,
    market_loading: float,
    sector_loading: FloatArray,
    idio_loading: FloatArray,
    sector_index: IndexArray,
    n_sectors: int,
) -> FloatArray:
    """Draw correlated standard normals through the sector factor model.

    Args:
        rng: The generator to draw from.
        market_loading: sqrt(rho_cross), shared by every ticker.
        sector_loading: Per ticker sqrt(rho_s − rho_cross) (0 without a sector factor).
        idio_loading: Per ticker sqrt(1 − rho_s).
        sector_index: Per ticker index of its sector factor, in [0, n_sectors).
        n_sectors: How many sector factors to draw.

    Returns:
        One N(0, 1) draw per ticker with the model's correlations.
    """
    market = rng.standard_normal()
    sectors = rng.standard_normal(n_sectors)
    eps = rng.standard_normal(len(idio_loading))
    z = sector_loading * sectors[sector_index]
    z += idio_loading * eps
    z += market_loading * market
    return z


def draw_shocks(
    rng: np.random.Generator, n: int, probability: float, low: float, high: float
) -> tuple[IndexArray, FloatArray]:
    """Pick the tickers hit by a jump this step and their price multipliers.

    Each of `n` tickers is hit independently with `probability`; a hit moves the
    price by a factor 1 ± u with u uniform in [low, high] and a fair random sign.

    Returns:
        The indices hit and, for each, its multiplier.
    """
    if probability <= 0.0 or n == 0:
        return np.empty(0, dtype=np.intp), np.empty(0, dtype=np.float64)
    hit = np.flatnonzero(rng.random(n) < probability)
    size = rng.uniform(low, high, hit.size)
    sign = np.where(rng.random(hit.size) < 0.5, -1.0, 1.0)
    return hit, 1.0 + sign * size


@dataclass(frozen=True, slots=True)
class TickerParams:
    """One ticker's current price and GBM parameters."""

    price: float
    mu: float
    sigma: float
    sector: str


class GbmState:
    """Per-ticker GBM state in growable parallel arrays, stepped in place.

    Adding appends (capacity doubles when full); removing moves the last ticker
    into the freed slot, so slot order is not insertion order: read `tickers`
    alongside the prices `step` returns.
    """

    def __init__(
        self,
        *,
        rho_cross: float = RHO_CROSS,
        sector_rho: Mapping[str, float] = SECTOR_RHO,
        shock_probability: float = SHOCK_PROBABILITY,
        shock_range: tuple[float, float] = SHOCK_RANGE,
        capacity: int = 16,
    ) -> None:
        """Create an empty state.

        Raises:
            ValueError: A correlation, shock parameter or capacity is out of range.
        """
        if not 0.0 <= rho_cross < 1.0:
            raise ValueError(f"rho_cross must be in [0, 1), got {rho_cross}")
        for sector, rho in sector_rho.items():
            if not rho_cross <= rho < 1.0:
                raise ValueError(f"rho of sector {sector!r} must be in [rho_cross, 1), got {rho}")
        if not 0.0 <= shock_probability <= 1.0:
            raise ValueError(f"shock_probability must be in [0, 1], got {shock_probability}")
        low, high = shock_range
        if not 0.0 <= low <= high < 1.0:
            raise ValueError(f"shock_range must satisfy 0 <= low <= high < 1, got {shock_range}")
        if capacity < 1:
            raise ValueError(f"capacity must be positive, got {capacity}")
        self._rho_cross = rho_cross
        self._sector_rho = dict(sector_rho)
        self._market_loading = math.sqrt(rho_cross)
        self._shock_probability = shock_probability
        self._shock_low, self._shock_high = low, high
        self._sectors: list[str] = []
        self._sector_id: dict[str, int] = {}
        self._tickers: list[str] = []
        self._slot: dict[str, int] = {}
        self._n = 0
        self._price = np.empty(capacity)
        self._mu = np.empty(capacity)
        self._sigma = np.empty(capacity)
        self._b = np.empty(capacity)  # sector loading sqrt(rho_s - rho_cross)
        self._c = np.empty(capacity)  # idiosyncratic loading sqrt(1 - rho_s)
        self._sector = np.empty(capacity, dtype=np.intp)
        self._version = 0
        self._cholesky: tuple[int, FloatArray] | None = None

    def __len__(self) -> int:
        return self._n

    def __contains__(self, ticker: object) -> bool:
        return ticker in self._slot

    @property
    def capacity(self) -> int:
        """How many tickers fit before the arrays grow."""
        return len(self._price)

    @property
    def version(self) -> int:
        """Bumped whenever the ticker set changes."""
        return self._version

    @property
    def tickers(self) -> list[str]:
        """Active tickers in slot order (the order of `prices` and `step`)."""
        return list(self._tickers)

    @property
    def prices(self) -> FloatArray:
        """A copy of the active prices in slot order."""
        return self._price[: self._n].copy()

    def params(self, ticker: str) -> TickerParams:
        """The current price and parameters of `ticker` (KeyError if absent)."""
        i = self._slot[ticker]
        sector = self._sectors[int(self._sector[i])]
        return TickerParams(
            float(self._price[i]), float(self._mu[i]), float(self._sigma[i]), sector
        )

    def slots(self, tickers: Sequence[str]) -> npt.NDArray[np.intp]:
        """The slots of `tickers` (valid until a ticker is removed)."""
        return np.fromiter((self._slot[t] for t in tickers), np.intp, len(tickers))

    def walk(self, slots: npt.NDArray[np.intp], z: FloatArray, dt: float) -> FloatArray:
        """Advance only the tickers at `slots` by `dt` years with normals `z`; their prices."""
        prices = gbm_step(self._price[slots], self._mu[slots], self._sigma[slots], dt, z)
        self._price[slots] = prices
        return prices

    def set_price(self, ticker: str, price: float) -> None:
        """Move `ticker` to `price`; it walks on from there (KeyError if absent)."""
        if not price > 0.0:
            raise ValueError(f"need price > 0, got {price}")
        self._price[self._slot[ticker]] = price

    def add(self, ticker: str, price: float, mu: float, sigma: float, sector: str) -> None:
        """Add a ticker in amortised O(1).

        Raises:
            ValueError: `ticker` is already present, or price/sigma are invalid.
        """
        if ticker in self._slot:
            raise ValueError(f"{ticker!r} is already present")
        if not price > 0.0 or not sigma >= 0.0:
            raise ValueError(f"need price > 0 and sigma >= 0, got {price}, {sigma}")
        if self._n == self.capacity:
            self._grow(2 * self.capacity)
        rho = self._sector_rho.get(sector, self._rho_cross)
        i = self._n
        self._price[i] = price
        self._mu[i] = mu
        self._sigma[i] = sigma
        self._b[i] = math.sqrt(rho - self._rho_cross)
        self._c[i] = math.sqrt(1.0 - rho)
        self._sector[i] = self._sector_index(sector)
        self._tickers.append(ticker)
        self._slot[ticker] = i
        self._n += 1
        self._version += 1

    def remove(self, ticker: str) -> None:
        """Remove a ticker in O(1) by moving the last one into its slot (KeyError if absent)."""
        i = self._slot.pop(ticker)
        last = self._n - 1
        if i != last:
            for column in (self._price, self._mu, self._sigma, self._b, self._c, self._sector):
                column[i] = column[last]
            moved = self._tickers[last]
            self._tickers[i] = moved
            self._slot[moved] = i
        self._tickers.pop()
        self._n = last
        self._version += 1

    def step(self, rng: np.random.Generator, dt: float) -> FloatArray:
        """Advance every active ticker by `dt` years in place; returns a copy of the new prices."""
        n = self._n
        z = factor_normals(
            rng,
            self._market_loading,
            self._b[:n],
            self._c[:n],
            self._sector[:n],
            len(self._sectors),
        )
        return self.advance(z, rng, dt)

    def advance(self, z: FloatArray, rng: np.random.Generator, dt: float) -> FloatArray:
        """Advance by `dt` years with the given normals `z`, then apply shocks drawn from `rng`."""
        n = self._n
        prices = self._price[:n]
        prices[:] = gbm_step(prices, self._mu[:n], self._sigma[:n], dt, z)
        hit, multiplier = draw_shocks(
            rng, n, self._shock_probability, self._shock_low, self._shock_high
        )
        prices[hit] *= multiplier
        return prices.copy()

    def correlation_matrix(self) -> FloatArray:
        """The n×n correlation matrix of the model's normals, in slot order."""
        n = self._n
        b = self._b[:n]
        sector = self._sector[:n]
        corr = np.outer(b, b)
        corr *= sector[:, None] == sector[None, :]
        corr += self._rho_cross
        corr[np.diag_indices(n)] += self._c[:n] ** 2
        return corr

    def _sector_index(self, sector: str) -> int:
        index = self._sector_id.get(sector)
        if index is None:
            index = self._sector_id[sector] = len(self._sectors)
            self._sectors.append(sector)
        return index

    def _grow(self, capacity: int) -> None:
        n = self._n
        self._price = _resized(self._price, capacity, n)
        self._mu = _resized(self._mu, capacity, n)
        self._sigma = _resized(self._sigma, capacity, n)
        self._b = _resized(self._b, capacity, n)
        self._c = _resized(self._c, capacity, n)
        self._sector = _resized(self._sector, capacity, n)


def _resized(array: npt.NDArray[_T], capacity: int, keep: int) -> npt.NDArray[_T]:
    bigger = np.empty(capacity, dtype=array.dtype)
    bigger[:keep] = array[:keep]
    return bigger


def cholesky_step(state: GbmState, rng: np.random.Generator, dt: float) -> FloatArray:
    """Reference step drawing the same correlations through a full Cholesky factor.

    The O(n³) factorisation is cached on `state` and redone when its ticker set
    changes; each step then costs an O(n²) product. For tests and benchmarks only.
    """
    cached = state._cholesky
    if cached is None or cached[0] != state.version:
        factor = np.linalg.cholesky(state.correlation_matrix()).astype(np.float64, copy=False)
        cached = state._cholesky = (state.version, factor)
    z = cached[1] @ rng.standard_normal(len(state))
    return state.advance(z, rng, dt)
