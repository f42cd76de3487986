"""Tests of the GBM math: exact step, factor-model correlations, shocks and the state store.

Statistical tests use a fixed seed and tolerances of about 5 standard errors
taken from the sampling distribution of each statistic (stated next to it).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from tickwire_server.sources.gbm import (
    FloatArray,
    GbmState,
    TickerParams,
    cholesky_step,
    draw_shocks,
    gbm_step,
)

SEED = 20_240_611
DT = 0.5 / (252 * 6.5 * 3600)  # half a trading second, in years
N_STEPS = 20_000
Z_SCORE = 5.0

# ticker -> (sector, mu, sigma)
UNIVERSE = {
    "T1": ("tech", 0.12, 0.25),
    "T2": ("tech", 0.10, 0.40),
    "T3": ("tech", 0.20, 0.50),
    "F1": ("finance", 0.08, 0.20),
    "F2": ("finance", 0.09, 0.22),
    "A1": ("auto", 0.15, 0.55),
    "O1": ("other", 0.05, 0.30),
}
RHO = {"tech": 0.6, "finance": 0.5}
RHO_CROSS = 0.3

Stepper = Callable[[GbmState, np.random.Generator, float], FloatArray]


def _expected_rho(a: str, b: str) -> float:
    sa, sb = UNIVERSE[a][0], UNIVERSE[b][0]
    return RHO.get(sa, RHO_CROSS) if sa == sb else RHO_CROSS


def _universe_state() -> GbmState:
    state = GbmState(shock_probability=0.0)
    for ticker, (sector, mu, sigma) in UNIVERSE.items():
        state.add(ticker, 100.0, mu, sigma, sector)
    return state


def _log_returns(
    state: GbmState, step: Stepper, rng: np.random.Generator, steps: int
) -> FloatArray:
    prices = np.empty((steps + 1, len(state)))
    prices[0] = state.prices
    for k in range(steps):
        prices[k + 1] = step(state, rng, DT)
    return np.diff(np.log(prices), axis=0)


def _factor_step(state: GbmState, rng: np.random.Generator, dt: float) -> FloatArray:
    return state.step(rng, dt)


def test_gbm_step_matches_the_exact_formula() -> None:
    prices = np.array([100.0, 25.5, 640.0, 3.0])
    mu = np.array([0.1, -0.2, 0.0, 0.5])
    sigma = np.array([0.3, 0.6, 0.0, 0.1])
    z = np.array([0.5, -1.25, 2.0, 0.0])
    dt = 1.0 / 252
    expected = [
        p * math.exp((m - s * s / 2) * dt + s * math.sqrt(dt) * zz)
        for p, m, s, zz in zip(prices, mu, sigma, z, strict=True)
    ]
    np.testing.assert_allclose(gbm_step(prices, mu, sigma, dt, z), expected, rtol=1e-14)
    assert prices[0] == 100.0  # inputs untouched


@pytest.mark.parametrize("step", [_factor_step, cholesky_step], ids=["factor", "cholesky"])
def test_normals_have_the_sector_correlations(step: Stepper) -> None:
    state = _universe_state()
    tickers = state.tickers
    returns = _log_returns(state, step, np.random.default_rng(SEED), N_STEPS)
    mu = np.array([UNIVERSE[t][1] for t in tickers])
    sigma = np.array([UNIVERSE[t][2] for t in tickers])
    z = (returns - (mu - sigma**2 / 2) * DT) / (sigma * math.sqrt(DT))

    # Sample variance of N(0, 1) draws: SE = sqrt(2 / N).
    np.testing.assert_allclose(z.var(axis=0), 1.0, atol=Z_SCORE * math.sqrt(2 / N_STEPS))
    # Sample correlation of a bivariate normal: SE = (1 - rho^2) / sqrt(N),
    # about 0.0045 for rho = 0.6 and 0.0064 for rho = 0.3 at N = 20,000.
    corr = np.atleast_2d(np.corrcoef(returns, rowvar=False))
    for i, a in enumerate(tickers):
        for j, b in enumerate(tickers[:i]):
            rho = _expected_rho(a, b)
            tolerance = Z_SCORE * (1 - rho**2) / math.sqrt(N_STEPS)
            assert corr[i, j] == pytest.approx(rho, abs=tolerance), (a, b)


def test_correlation_matrix_follows_the_sector_rules() -> None:
    state = _universe_state()
    tickers = state.tickers
    expected = [[1.0 if a == b else _expected_rho(a, b) for b in tickers] for a in tickers]
    np.testing.assert_allclose(state.correlation_matrix(), expected, atol=1e-12)


def test_log_return_mean_and_variance_follow_gbm() -> None:
    mu, sigma, dt = 0.5, 0.4, 0.25
    n_tickers, steps = 4_000, 25
    state = GbmState(rho_cross=0.0, sector_rho={}, shock_probability=0.0)
    for k in range(n_tickers):
        state.add(f"X{k}", 50.0, mu, sigma, "other")
    rng = np.random.default_rng(SEED)
    log_prices = [np.log(state.prices)]
    for _ in range(steps):
        log_prices.append(np.log(state.step(rng, dt)))
    returns = np.diff(np.array(log_prices), axis=0).ravel()  # iid: no common factor here
    n = returns.size
    variance = sigma**2 * dt

    # SE of the mean = sigma sqrt(dt) / sqrt(N) = 6.3e-4; the Ito term sigma^2 dt / 2 is 0.02.
    mean_se = sigma * math.sqrt(dt) / math.sqrt(n)
    assert returns.mean() == pytest.approx((mu - sigma**2 / 2) * dt, abs=Z_SCORE * mean_se)
    # SE of the variance of normals = var * sqrt(2 / N) = 1.8e-4.
    var_se = variance * math.sqrt(2 / n)
    assert returns.var() == pytest.approx(variance, abs=Z_SCORE * var_se)


def test_shocks_are_rare_and_sized_two_to_five_percent() -> None:
    p, n_tickers, steps = 0.001, 10_000, 100
    state = GbmState(shock_probability=p, shock_range=(0.02, 0.05), capacity=n_tickers)
    for k in range(n_tickers):
        state.add(f"X{k}", 100.0, 0.0, 0.0, "tech")  # no diffusion: any move is a shock
    rng = np.random.default_rng(SEED)
    before = state.prices
    moves = []
    for _ in range(steps):
        after = state.step(rng, DT)
        moves.append(after / before - 1.0)
        before = after
    move = np.concatenate(moves)
    shocks = move[move != 0.0]
    n = move.size

    # Shock count is Binomial(N, p): SE = sqrt(N p (1 - p)) = 31.6 at N = 1e6.
    assert shocks.size == pytest.approx(n * p, abs=Z_SCORE * math.sqrt(n * p * (1 - p)))
    size = np.abs(shocks)
    assert size.min() >= 0.02 - 1e-12
    assert size.max() <= 0.05 + 1e-12
    # Uniform size: mean 0.035, SE = (0.03 / sqrt(12)) / sqrt(k).
    assert size.mean() == pytest.approx(0.035, abs=Z_SCORE * 0.03 / math.sqrt(12 * size.size))
    # Fair sign: SE of the up fraction = 0.5 / sqrt(k).
    up = float(np.mean(shocks > 0))
    assert up == pytest.approx(0.5, abs=Z_SCORE * 0.5 / math.sqrt(size.size))


def test_shock_parameters_are_honoured() -> None:
    rng = np.random.default_rng(SEED)
    hit, multiplier = draw_shocks(rng, 1_000, 0.0, 0.02, 0.05)
    assert hit.size == 0 and multiplier.size == 0

    hit, multiplier = draw_shocks(rng, 1_000, 1.0, 0.1, 0.1)
    assert hit.tolist() == list(range(1_000))
    np.testing.assert_allclose(np.abs(multiplier - 1.0), 0.1)

    quiet = GbmState(shock_probability=0.0)
    quiet.add("X", 100.0, 0.0, 0.0, "other")
    for _ in range(1_000):
        quiet.step(rng, DT)
    assert quiet.prices.tolist() == [100.0]


def test_swap_remove_keeps_the_other_tickers_intact() -> None:
    state = GbmState(shock_probability=0.0)
    added = {
        f"S{k}": TickerParams(10.0 * (k + 1), 0.01 * k, 0.0, ["tech", "finance", "x"][k % 3])
        for k in range(7)
    }
    for ticker, p in added.items():
        state.add(ticker, p.price, p.mu, p.sigma, p.sector)

    for gone in ["S2", "S0", "S6"]:  # middle, first, then whatever is last
        state.remove(gone)
        del added[gone]
        assert sorted(state.tickers) == sorted(added)
        assert {t: state.params(t) for t in added} == added

    # Prices and drifts stay aligned with `tickers` after the swaps: with sigma = 0
    # a step multiplies each price by exactly exp(mu dt).
    dt = 1.0
    new = state.step(np.random.default_rng(SEED), dt)
    expected = [added[t].price * math.exp(added[t].mu * dt) for t in state.tickers]
    np.testing.assert_allclose(new, expected, rtol=1e-14)
    assert "S2" not in state
    with pytest.raises(KeyError):
        state.remove("S2")


def test_capacity_doubles_and_keeps_every_ticker() -> None:
    state = GbmState(capacity=1)
    for k in range(100):
        state.add(f"C{k}", 1.0 + k, 0.001 * k, 0.01 * k, "tech")
    assert len(state) == 100
    assert state.capacity == 128
    for k in range(100):
        assert state.params(f"C{k}") == TickerParams(1.0 + k, 0.001 * k, 0.01 * k, "tech")
    with pytest.raises(ValueError, match="already present"):
        state.add("C5", 1.0, 0.0, 0.1, "tech")


def test_cholesky_factor_follows_ticker_changes() -> None:
    state = _universe_state()
    rng = np.random.default_rng(SEED)
    assert cholesky_step(state, rng, DT).shape == (7,)
    state.remove("T2")
    assert cholesky_step(state, rng, DT).shape == (6,)
    state.add("F3", 50.0, 0.1, 0.2, "finance")
    assert cholesky_step(state, rng, DT).shape == (7,)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rho_cross": 1.0},
        {"rho_cross": 0.5, "sector_rho": {"tech": 0.4}},
        {"shock_probability": 1.5},
        {"shock_range": (0.05, 0.02)},
        {"capacity": 0},
    ],
)
def test_invalid_parameters_are_rejected(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        GbmState(**kwargs)  # type: ignore[arg-type]
