"""Fan-out of tickwire in two configurations, in alternating rounds: the ratio of the medians.

What one feature costs is measured side by side: 50 subscribers x 500
tickers, the source flat out, the two configurations one after the other
in each round (three in a full run), the median of each and every round's
ratio (b / a) reported.
"""

from __future__ import annotations

import statistics
from typing import Any

from bench.load import Load, run_load

SUBSCRIBERS = 50
TICKERS = 500


def fanout(env: dict[str, str], seconds: float) -> float:
    """Delivered updates/s of one fan-out run with `env` on server and clients."""
    load = Load(
        design="tickwire",
        tickers=TICKERS,
        hz=0.0,
        streams=SUBSCRIBERS,
        per_stream=TICKERS,
        seconds=seconds,
        server_env=env,
        client_env=env,
    )
    return run_load(load).updates_per_s


def compare(
    names: tuple[str, str], envs: tuple[dict[str, str], dict[str, str]], quick: bool
) -> dict[str, Any]:
    """Fan-out with `envs[0]` against `envs[1]`: medians and each round's ratio, keyed by name."""
    seconds = 3.0 if quick else 8.0
    rounds = 1 if quick else 3
    runs: tuple[list[float], list[float]] = ([], [])
    ratios: list[float] = []
    for _ in range(rounds):
        for env, out in zip(envs, runs, strict=True):
            out.append(fanout(env, seconds))
        ratios.append(round(runs[1][-1] / max(1.0, runs[0][-1]), 3))
    a, b = names
    return {
        f"fanout_{a}_updates_per_s": round(statistics.median(runs[0])),
        f"fanout_{b}_updates_per_s": round(statistics.median(runs[1])),
        "fanout_ratio": round(statistics.median(ratios), 3),
        "fanout_ratio_rounds": ratios,
    }
