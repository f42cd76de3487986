"""Streams: 10,000 concurrent streams of 10 tickers each against one server process.

A 1,000-ticker universe published at 1 Hz; stream i asks for 10 consecutive
tickers. Reports how many streams connected and received updates in the
window, server memory per stream (RSS with all streams open minus RSS
before, divided by the count) and publish -> receipt latency, beside the
ceiling peer serving the same streams, tickers and rate with pre-encoded
frames: `p99_vs_ceiling` says how much of the p99 is tickwire's and how
much grpc.aio's one message per stream.
"""

from __future__ import annotations

import statistics
from typing import Any

from bench.load import Load, run_load

PER_STREAM = 10
TICKERS = 1000
HZ = 1.0


def _load(design: str, quick: bool) -> Load:
    return Load(
        design=design,
        tickers=TICKERS,
        hz=HZ,
        streams=2000 if quick else 10_000,
        per_stream=PER_STREAM,
        seconds=3.0 if quick else 8.0,
        client_procs=2,
        streams_per_channel=100,
        latency=True,
        settle=2.0,
        connect_timeout=180.0,
    )


def run(quick: bool) -> dict[str, Any]:
    """tickwire, then the ceiling at the same streams, tickers and rate (alternating rounds)."""
    rounds = 1 if quick else 2
    ratios: list[float] = []
    outcomes = []
    ceilings = []
    for _ in range(rounds):
        outcomes.append(run_load(_load("tickwire", quick)))
        ceilings.append(run_load(_load("ceiling", quick)))
        tw, floor = outcomes[-1].latency_ms.get("p99"), ceilings[-1].latency_ms.get("p99")
        if tw and floor:
            ratios.append(round(tw / floor, 2))
    outcome = sorted(outcomes, key=lambda o: o.latency_ms.get("p99") or 0.0)[len(outcomes) // 2]
    ceiling = sorted(ceilings, key=lambda o: o.latency_ms.get("p99") or 0.0)[len(ceilings) // 2]
    count = outcome.streams
    grown = outcome.rss_connected - outcome.rss_before
    return {
        "count": outcome.connected,
        "asked": count,
        "receiving": outcome.receiving,
        "tickers_per_stream": PER_STREAM,
        "hz": HZ,
        "bytes_per_stream": round(grown / max(1, outcome.connected)),
        "server_rss_mb": round(outcome.rss_connected / 2**20, 1),
        "updates_per_s": round(outcome.updates_per_s),
        "p50_ms": outcome.latency_ms.get("p50"),
        "p99_ms": outcome.latency_ms.get("p99"),
        "server_cpu": outcome.server_cpu,
        "server_cpu_s_per_m_updates": outcome.server_cpu_s_per_m_updates,
        "client_cpu_s_per_m_updates": outcome.client_cpu_s_per_m_updates,
        "statuses": outcome.statuses,
        "ceiling_connected": ceiling.connected,
        "ceiling_p50_ms": ceiling.latency_ms.get("p50"),
        "ceiling_p99_ms": ceiling.latency_ms.get("p99"),
        "ceiling_server_cpu": ceiling.server_cpu,
        "ceiling_server_cpu_s_per_m_updates": ceiling.server_cpu_s_per_m_updates,
        "p99_vs_ceiling": statistics.median(ratios) if ratios else None,
        "p99_vs_ceiling_rounds": ratios,
    }
