"""Fan-out: 50 subscribers x 500 tickers, the source flat out, every design.

Delivered updates/s counted by lean clients in two processes over the same
window. On a shared 2-core machine one run of a design can be ±20% off the
next, so tickwire and the ceiling are measured in alternating rounds (three
in a full run): each round's ratio compares two runs made back to back, and
the reported figures are medians, with every round's ratio kept alongside.
The naive and SSE peers are thousands of times apart and run once.
"""

from __future__ import annotations

import statistics
from typing import Any

from bench.load import Load, Outcome, run_load

DESIGNS = ("tickwire", "ceiling", "naive", "sse")
PAIRED = ("tickwire", "ceiling")
SUBSCRIBERS = 50
TICKERS = 500


def _measure(design: str, seconds: float) -> Outcome:
    load = Load(
        design=design,
        tickers=TICKERS,
        hz=0.0,
        streams=SUBSCRIBERS,
        per_stream=TICKERS,
        seconds=seconds,
    )
    return run_load(load)


def _row(runs: list[Outcome]) -> dict[str, Any]:
    """One design's figures: medians over its runs."""

    def median(values: list[float]) -> float:
        return float(statistics.median(values))

    return {
        "updates_per_s": round(median([o.updates_per_s for o in runs])),
        "frames_per_s": round(median([o.frames_per_s for o in runs])),
        "mbytes_per_s": round(median([o.bytes_per_s for o in runs]) / 1e6, 1),
        "server_cpu": round(median([o.server_cpu for o in runs]), 3),
        "server_rss_mb": round(max(o.rss_after for o in runs) / 2**20, 1),
        "receiving": min(o.receiving for o in runs),
        "runs": len(runs),
    }


def run(quick: bool) -> dict[str, Any]:
    seconds = 3.0 if quick else 8.0
    rounds = 1 if quick else 3
    runs: dict[str, list[Outcome]] = {design: [] for design in DESIGNS}
    ratios: list[float] = []
    for _ in range(rounds):
        for design in PAIRED:
            runs[design].append(_measure(design, seconds))
        tickwire, ceiling = (runs[d][-1].updates_per_s for d in PAIRED)
        ratios.append(round(tickwire / max(1.0, ceiling), 3))
    for design in DESIGNS:
        if design not in PAIRED:
            runs[design].append(_measure(design, seconds))
    designs = {design: _row(runs[design]) for design in DESIGNS}
    tw = designs["tickwire"]["updates_per_s"]
    return {
        "subscribers": SUBSCRIBERS,
        "tickers": TICKERS,
        "seconds": seconds,
        "rounds": rounds,
        "updates_per_s": tw,
        "ratio_vs_naive": round(tw / max(1, designs["naive"]["updates_per_s"]), 1),
        "ratio_vs_ceiling": round(statistics.median(ratios), 3),
        "ratio_vs_ceiling_rounds": ratios,
        "ratio_vs_sse": round(tw / max(1, designs["sse"]["updates_per_s"]), 1),
        "designs": designs,
    }
