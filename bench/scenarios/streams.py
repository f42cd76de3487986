"""Streams: 10,000 concurrent streams of 10 tickers each against one server process.

A 1,000-ticker universe published at 1 Hz; stream i asks for 10 consecutive
tickers. Reports how many streams connected and received updates in the
window, server memory per stream (RSS with all streams open minus RSS
before, divided by the count) and publish -> receipt latency.
"""

from __future__ import annotations

from typing import Any

from bench.load import Load, run_load

PER_STREAM = 10
TICKERS = 1000
HZ = 1.0


def run(quick: bool) -> dict[str, Any]:
    count = 2000 if quick else 10_000
    seconds = 3.0 if quick else 8.0
    load = Load(
        design="tickwire",
        tickers=TICKERS,
        hz=HZ,
        streams=count,
        per_stream=PER_STREAM,
        seconds=seconds,
        client_procs=2,
        streams_per_channel=100,
        latency=True,
        settle=2.0,
        connect_timeout=180.0,
    )
    outcome = run_load(load)
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
        "statuses": outcome.statuses,
    }
