"""Fan-out: 50 subscribers x 500 tickers, the source flat out, every design.

Delivered updates/s counted by lean clients in two processes over the same
window; ratios are tickwire against naive and against the ceiling, same run.
"""

from __future__ import annotations

from typing import Any

from bench.load import Load, run_load

DESIGNS = ("tickwire", "ceiling", "naive", "sse")
SUBSCRIBERS = 50
TICKERS = 500


def run(quick: bool) -> dict[str, Any]:
    seconds = 3.0 if quick else 8.0
    designs: dict[str, Any] = {}
    for design in DESIGNS:
        load = Load(
            design=design,
            tickers=TICKERS,
            hz=0.0,
            streams=SUBSCRIBERS,
            per_stream=TICKERS,
            seconds=seconds,
        )
        outcome = run_load(load)
        designs[design] = {
            "updates_per_s": round(outcome.updates_per_s),
            "frames_per_s": round(outcome.frames_per_s),
            "mbytes_per_s": round(outcome.bytes_per_s / 1e6, 1),
            "server_cpu": outcome.server_cpu,
            "server_rss_mb": round(outcome.rss_after / 2**20, 1),
            "receiving": outcome.receiving,
        }
    tw = designs["tickwire"]["updates_per_s"]
    return {
        "subscribers": SUBSCRIBERS,
        "tickers": TICKERS,
        "seconds": seconds,
        "updates_per_s": tw,
        "ratio_vs_naive": round(tw / max(1, designs["naive"]["updates_per_s"]), 1),
        "ratio_vs_ceiling": round(tw / max(1, designs["ceiling"]["updates_per_s"]), 3),
        "ratio_vs_sse": round(tw / max(1, designs["sse"]["updates_per_s"]), 1),
        "designs": designs,
    }
