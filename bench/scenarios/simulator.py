"""Simulator: factor-model GBM step vs a full-Cholesky step, and add/remove cost.

In process, no server: `GbmState.step` at 100, 1,000 and 10,000 tickers
against `cholesky_step`, which draws the same correlations through an n x n
Cholesky factor. The factor is computed once per ticker set and cached (at
10,000 tickers that takes seconds and ~2.4 GB), so the Cholesky step time is
the O(n^2) product alone; adding or removing a ticker forces a new factor,
which is what `cholesky_refactor_ms` reports.
"""

from __future__ import annotations

import functools
import gc
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from tickwire_server.sources.gbm import GbmState, cholesky_step

SIZES = (100, 1_000, 10_000)
SECTORS = ("tech", "finance", "auto", "health", "energy")
DT = 0.5 / (252 * 6.5 * 3600)


def make_state(n: int, seed: int = 1) -> GbmState:
    """A state of `n` tickers over a few sectors with plausible parameters."""
    rng = np.random.default_rng(seed)
    state = GbmState(capacity=max(16, n))
    for i in range(n):
        state.add(
            f"S{i}",
            float(rng.uniform(10, 500)),
            float(rng.uniform(-0.05, 0.2)),
            float(rng.uniform(0.15, 0.6)),
            SECTORS[i % len(SECTORS)],
        )
    return state


def median_ms(fn: Callable[[], object], reps: int) -> float:
    """Median wall time of `fn` in milliseconds over `reps` calls (after one warm-up)."""
    fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def run(quick: bool) -> dict[str, Any]:
    rng = np.random.default_rng(7)
    out: dict[str, Any] = {}
    for n in SIZES:
        state = make_state(n)
        out[f"step_ms_{n}"] = round(
            median_ms(functools.partial(state.step, rng, DT), 50 if quick else 300), 4
        )
        start = time.perf_counter()
        cholesky_step(state, rng, DT)  # factorises and caches
        factor_ms = (time.perf_counter() - start) * 1e3
        reps = 3 if n == 10_000 and quick else 10 if n == 10_000 else 50
        chol = median_ms(functools.partial(cholesky_step, state, rng, DT), reps)
        out[f"cholesky_step_ms_{n}"] = round(chol, 4)
        out[f"cholesky_refactor_ms_{n}"] = round(factor_ms, 1)
        out[f"ratio_{n}"] = round(chol / out[f"step_ms_{n}"], 1)
        if n == SIZES[-1]:
            state._cholesky = None  # free the factor before timing add/remove
            gc.collect()
            ops = 2_000
            start = time.perf_counter()
            for i in range(ops):
                state.add(f"NEW{i}", 100.0, 0.1, 0.3, "tech")
            add_us = (time.perf_counter() - start) / ops * 1e6
            start = time.perf_counter()
            for i in range(ops):
                state.remove(f"NEW{i}")
            remove_us = (time.perf_counter() - start) / ops * 1e6
            out["add_us_10000"] = round(add_us, 2)
            out["remove_us_10000"] = round(remove_us, 2)
        del state
        gc.collect()
    out["ratio_vs_cholesky"] = out[f"ratio_{SIZES[-1]}"]
    out["note"] = (
        "Cholesky factor computed once per ticker set and cached; its step is the "
        "O(n^2) product only. Adding/removing a ticker costs it a new factor "
        "(cholesky_refactor_ms_*)."
    )
    return out
