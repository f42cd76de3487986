"""Metrics: what counting costs, fan-out with Prometheus metrics served against without.

The server adds to plain counters per batch and per flush and samples the
delivery lag on one flush in sixteen; a scrape does the rest. So fan-out
with `--metrics-port` on should stay within noise of the same run with it off.
"""

from __future__ import annotations

from typing import Any

from bench.scenarios import paired


def run(quick: bool) -> dict[str, Any]:
    return paired.compare(("off", "on"), ({}, {"BENCH_METRICS": "1"}), quick)
