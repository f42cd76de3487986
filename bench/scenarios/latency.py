"""Latency: 100 subscribers x 500 tickers at 2 Hz, publish -> client receipt.

Every update carries the time it was published (`time.time_ns()`, the same
clock for server and clients on one machine); clients stamp receipt. Reported
per design: p50/p99/p99.9 over all updates received in the window, and
deliveries/s. The ceiling (one encoding per publish, every stream woken and
written, nothing else) is the floor the transport sets on this machine;
`p99_vs_ceiling` is tickwire's p99 over it.
"""

from __future__ import annotations

from typing import Any

from bench.load import Load, run_load

DESIGNS = ("tickwire", "ceiling", "naive", "sse")
SUBSCRIBERS = 100
TICKERS = 500
HZ = 2.0


def run(quick: bool) -> dict[str, Any]:
    seconds = 3.0 if quick else 10.0
    designs: dict[str, Any] = {}
    for design in DESIGNS:
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
        designs[design] = {
            **outcome.latency_ms,
            "updates_per_s": round(outcome.updates_per_s),
            "server_cpu": outcome.server_cpu,
            "server_rss_mb": round(outcome.rss_after / 2**20, 1),
        }
    tw = designs["tickwire"]
    floor = designs["ceiling"].get("p99")
    return {
        "subscribers": SUBSCRIBERS,
        "tickers": TICKERS,
        "hz": HZ,
        "seconds": seconds,
        "p50_ms": tw.get("p50"),
        "p99_ms": tw.get("p99"),
        "p999_ms": tw.get("p99.9"),
        "ceiling_p99_ms": floor,
        "p99_vs_ceiling": round(tw["p99"] / floor, 2) if floor and tw.get("p99") else None,
        "updates_per_s": tw["updates_per_s"],
        "server_cpu": tw["server_cpu"],
        "designs": designs,
    }
