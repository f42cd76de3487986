"""Latency: 100 subscribers x 500 tickers at 2 Hz, publish -> client receipt.

Every update carries the time it was published (`time.time_ns()`, the same
clock for server and clients on one machine); clients stamp receipt. Reported
per design: p50/p99/p99.9 over all updates received in the window, and
deliveries/s. The ceiling (one encoding per publish, every stream woken and
written, nothing else) is the floor the transport sets on this machine;
`p99_vs_ceiling` is tickwire's p99 over it, the median of alternating rounds
(each round's ratio kept alongside).
"""

from __future__ import annotations

import statistics
from typing import Any

from bench.load import Load, run_load

DESIGNS = ("tickwire", "ceiling", "naive", "sse")
PAIRED = ("tickwire", "ceiling")
SUBSCRIBERS = 100
TICKERS = 500
HZ = 2.0


def _measure(design: str, seconds: float) -> dict[str, Any]:
    load = Load(
        design=design,
        tickers=TICKERS,
        hz=HZ,
        streams=SUBSCRIBERS,
        per_stream=TICKERS,
        seconds=seconds,
        latency=True,
    )
    outcome = run_load(load)
    return {
        **outcome.latency_ms,
        "updates_per_s": round(outcome.updates_per_s),
        "server_cpu": outcome.server_cpu,
        "server_cpu_s_per_m_updates": outcome.server_cpu_s_per_m_updates,
        "client_cpu_s_per_m_updates": outcome.client_cpu_s_per_m_updates,
        "server_rss_mb": round(outcome.rss_after / 2**20, 1),
    }


def run(quick: bool) -> dict[str, Any]:
    """tickwire and the ceiling in alternating rounds (three in a full run); the others once."""
    seconds = 3.0 if quick else 10.0
    rounds = 1 if quick else 3
    runs: dict[str, list[dict[str, Any]]] = {design: [] for design in DESIGNS}
    ratios: list[float] = []
    for _ in range(rounds):
        for design in PAIRED:
            runs[design].append(_measure(design, seconds))
        tw, floor = (runs[d][-1].get("p99") for d in PAIRED)
        if tw and floor:
            ratios.append(round(tw / floor, 2))
    for design in DESIGNS:
        if design not in PAIRED:
            runs[design].append(_measure(design, seconds))
    designs = {d: _median_run(runs[d]) for d in DESIGNS}
    tw = designs["tickwire"]
    return {
        "subscribers": SUBSCRIBERS,
        "tickers": TICKERS,
        "hz": HZ,
        "seconds": seconds,
        "rounds": rounds,
        "p50_ms": tw.get("p50"),
        "p99_ms": tw.get("p99"),
        "p999_ms": tw.get("p99.9"),
        "ceiling_p99_ms": designs["ceiling"].get("p99"),
        "p99_vs_ceiling": statistics.median(ratios) if ratios else None,
        "p99_vs_ceiling_rounds": ratios,
        "updates_per_s": tw["updates_per_s"],
        "server_cpu": tw["server_cpu"],
        "designs": designs,
    }


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run whose p99 is the median of the design's runs (its percentiles belong together)."""
    ranked = sorted(runs, key=lambda r: r.get("p99") or 0.0)
    return {**ranked[len(ranked) // 2], "runs": len(runs)}
