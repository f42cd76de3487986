"""Cluster: one standalone process against NATS, an ingest and one or two edges, in one run.

Every layout serves the same clients from the same feed; each process is
its own (nats-server, the ingest, each edge), and the server CPU is theirs
summed. Reported, for each layout:

- fan-out, 50 subscribers x 500 tickers at 100 batches a second (2.5M
  deliveries/s asked): deliveries/s, server CPU (cores, and per process),
  and CPU-seconds per million delivered updates, the figure that predicts
  how a layout scales once clients run elsewhere and cores are added;
- the bus hop: 100 subscribers x 500 tickers at 2 Hz, publish -> client
  p50/p99, standalone against one edge in alternating rounds, and the p99
  the hop adds (the median of the rounds, each kept);
- 10,000 streams of 10 tickers (1,000 at 1 Hz) on two edges against one
  standalone process: p50 and p99;
- the sharding of price subjects (one per ticker, 16 hash buckets, one
  for all), with one edge: its clients asking for every ticker, and asking
  for a tenth of them (where an edge subscribes only to what it needs).

The source is paced: flat out, a 2-core machine spends one core on the
ingest's publishing and the edges fall behind (NATS drops what a slow
subscriber cannot take), which measures the machine, not the layout.
"""

from __future__ import annotations

import statistics
from typing import Any

from bench.load import Load, Outcome, run_load

LAYOUTS = {"standalone": 0, "one_edge": 1, "two_edges": 2}
SHARDS = {"per_ticker": 0, "buckets_16": 16, "one_subject": 1}


def cpu_per_m(outcome: Outcome) -> dict[str, float | None]:
    """Server CPU-seconds per million delivered updates (every process of the layout), and
    the clients'."""
    return {
        "cpu_s_per_m_updates": outcome.server_cpu_s_per_m_updates,
        "client_cpu_s_per_m_updates": outcome.client_cpu_s_per_m_updates,
    }


def fanout(quick: bool) -> dict[str, Any]:
    seconds = 3.0 if quick else 8.0
    out: dict[str, Any] = {}
    for name, edges in LAYOUTS.items():
        load = Load(
            design="tickwire", tickers=500, hz=100.0, streams=50, per_stream=500,
            seconds=seconds, edges=edges,
        )  # fmt: skip
        outcome = run_load(load)
        out[name] = {
            "updates_per_s": round(outcome.updates_per_s),
            "server_cpu": outcome.server_cpu,
            **cpu_per_m(outcome),
            "cpu_by_process": outcome.cpu_by_process,
        }
    return out


def hop(quick: bool) -> dict[str, Any]:
    """Standalone and one edge in alternating rounds; each round's p99 difference is kept."""
    seconds = 3.0 if quick else 10.0
    runs: dict[str, list[dict[str, Any]]] = {"standalone": [], "one_edge": []}
    added: list[float] = []
    for _ in range(1 if quick else 3):
        for name in runs:
            load = Load(
                design="tickwire", tickers=500, hz=2.0, streams=100, per_stream=500,
                seconds=seconds, latency=True, edges=LAYOUTS[name],
            )  # fmt: skip
            outcome = run_load(load)
            runs[name].append({**outcome.latency_ms, "updates_per_s": round(outcome.updates_per_s)})
        alone, through = (runs[n][-1].get("p99") for n in runs)
        if alone and through:
            added.append(round(through - alone, 2))
    out: dict[str, Any] = {
        name: sorted(rs, key=lambda r: r.get("p99") or 0.0)[len(rs) // 2]
        for name, rs in runs.items()
    }
    out["p99_added_ms"] = statistics.median(added) if added else None
    out["p99_added_ms_rounds"] = added
    return out


def streams(quick: bool) -> dict[str, Any]:
    count = 2000 if quick else 10_000
    out: dict[str, Any] = {}
    for name in ("standalone", "two_edges"):
        load = Load(
            design="tickwire", tickers=1000, hz=1.0, streams=count, per_stream=10,
            seconds=3.0 if quick else 8.0, client_procs=2, streams_per_channel=100,
            latency=True, settle=2.0, connect_timeout=180.0, edges=LAYOUTS[name],
        )  # fmt: skip
        outcome = run_load(load)
        out[name] = {
            "connected": outcome.connected,
            "p50_ms": outcome.latency_ms.get("p50"),
            "p99_ms": outcome.latency_ms.get("p99"),
            "server_cpu": outcome.server_cpu,
            **cpu_per_m(outcome),
        }
    return out


def sharding(quick: bool) -> dict[str, Any]:
    seconds = 3.0 if quick else 6.0
    out: dict[str, Any] = {}
    for interest, wanted in (("all_tickers", 500), ("a_tenth", 50)):
        for name, shards in SHARDS.items():
            load = Load(
                design="tickwire", tickers=500, hz=20.0, streams=50, per_stream=wanted,
                seconds=seconds, edges=1, bus_shards=shards, client_universe=wanted,
            )  # fmt: skip
            outcome = run_load(load)
            out[f"{interest}.{name}"] = {
                "updates_per_s": round(outcome.updates_per_s),
                **cpu_per_m(outcome),
                "cpu_by_process": outcome.cpu_by_process,
            }
    return out


def run(quick: bool) -> dict[str, Any]:
    fan = fanout(quick)
    bus = hop(quick)
    many = streams(quick)
    shard = sharding(quick)
    return {
        "standalone_cpu_s_per_m": fan["standalone"]["cpu_s_per_m_updates"],
        "one_edge_cpu_s_per_m": fan["one_edge"]["cpu_s_per_m_updates"],
        "two_edges_cpu_s_per_m": fan["two_edges"]["cpu_s_per_m_updates"],
        "one_edge_updates_per_s": fan["one_edge"]["updates_per_s"],
        "two_edges_updates_per_s": fan["two_edges"]["updates_per_s"],
        "bus_hop_p99_added_ms": bus["p99_added_ms"],
        "bus_hop_p99_added_ms_rounds": bus["p99_added_ms_rounds"],
        "streams_two_edges_p50_ms": many["two_edges"]["p50_ms"],
        "streams_two_edges_p99_ms": many["two_edges"]["p99_ms"],
        "streams_standalone_p99_ms": many["standalone"]["p99_ms"],
        "fanout": fan,
        "hop": bus,
        "streams": many,
        "sharding": shard,
    }
