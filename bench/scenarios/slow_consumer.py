"""Slow consumer: 49 healthy streams and one that stops reading, 500 tickers at 10 Hz.

Run twice, same load: 50 healthy streams, then 49 healthy + 1 that reads its
first message and then nothing for longer than the server's `max_lag`. The
healthy p99 should not move beyond noise, server memory should stay flat,
and the slow stream should have been conflated, then ended with
RESOURCE_EXHAUSTED (it reads what was buffered once it wakes up).
"""

from __future__ import annotations

import re
from typing import Any

from bench.load import Load, run_load

TICKERS = 500
HZ = 10.0
MAX_LAG = 2.0


def run(quick: bool) -> dict[str, Any]:
    seconds = 6.0 if quick else 10.0
    common = dict(
        design="tickwire",
        tickers=TICKERS,
        hz=HZ,
        per_stream=TICKERS,
        seconds=seconds,
        latency=True,
        server_args=["--max-lag", MAX_LAG],
    )
    baseline = run_load(Load(streams=50, **common))  # type: ignore[arg-type]
    with_slow = run_load(
        Load(streams=49, slow_streams=1, slow_pause=seconds - 1.0, **common)  # type: ignore[arg-type]
    )
    slow = with_slow.slow
    return {
        "tickers": TICKERS,
        "hz": HZ,
        "max_lag_s": MAX_LAG,
        "healthy_p99_ms": with_slow.latency_ms.get("p99"),
        "baseline_p99_ms": baseline.latency_ms.get("p99"),
        "healthy_p50_ms": with_slow.latency_ms.get("p50"),
        "baseline_p50_ms": baseline.latency_ms.get("p50"),
        "healthy_updates_per_s": round(with_slow.updates_per_s),
        "baseline_updates_per_s": round(baseline.updates_per_s),
        "server_rss_growth_mb": round((with_slow.rss_after - with_slow.rss_connected) / 2**20, 1),
        "baseline_rss_growth_mb": round((baseline.rss_after - baseline.rss_connected) / 2**20, 1),
        "slow_status": next(iter(slow.get("statuses", {})), "none"),
        "slow_frames_read": slow.get("frames", 0),
        "slow_updates_read": slow.get("updates", 0),
        "slow_conflated_server": _conflated(slow.get("details", "")),
        "slow_details": slow.get("details", ""),
    }


def _conflated(details: str) -> int:
    """The count of conflated updates the server put in its RESOURCE_EXHAUSTED message."""
    found = re.search(r"\((\d+) updates conflated\)", details)
    return int(found.group(1)) if found else 0
