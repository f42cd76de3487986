"""Synthetic: what a burst costs the source, and the highest burst rate a served source sustains.

Two figures. In process, no server: the synthetic market's burst tick and
the simulator's step each produce updates for the same 500 tickers, and
`cost_ratio_vs_simulator` is the simulator's cost per update over the
synthetic one's (1 or more: the synthetic source is not slower). Served: a
tickwire server on the synthetic source bursts all 500 tickers at rising
rates with 50 subscribers of all of them; a rate is sustained while the
server accepts at least 95% of the updates it asks for. The highest such
rate's accepted updates/s is the row's figure, beside the simulator stepping
at the same rate.
"""

from __future__ import annotations

import time
from typing import Any

from bench.feed import ticker_names
from bench.load import Load, run_load
from tickwire_server.domain import Quote
from tickwire_server.sources.simulator import SimulatorSource
from tickwire_server.sources.synthetic import SyntheticMarket

TICKERS = 500
SUBSCRIBERS = 50
RATES = (20, 50, 100, 200, 400, 1000)  # burst Hz per ticker (1,000: the most StartBurst takes)
SUSTAINED = 0.95


class _Collect:
    """A sink that only counts (the source's own cost, no hub)."""

    def __init__(self) -> None:
        self.updates = 0

    def publish(self, quotes: list[Quote]) -> None:
        self.updates += len(quotes)


def synthetic_us_per_update(seconds: float) -> float:
    market = SyntheticMarket(ticker_names(TICKERS), hz=1.0, seed=1)
    market.due(0)
    market.burst(market.tickers, 1000.0, 0, 10**15)
    produced, now, start = 0, 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        now += 10**7  # 10 ms of the market's clock: ten burst ticks
        produced += sum(len(b) for b in market.due(now))
    return (time.perf_counter() - start) / produced * 1e6


def simulator_us_per_update(seconds: float) -> float:
    source = SimulatorSource(tickers=ticker_names(TICKERS), interval=1.0, seed=1)
    sink = _Collect()
    source._sink = sink  # type: ignore[assignment]  # step it by hand, as its task would
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        source._step()
    return (time.perf_counter() - start) / sink.updates * 1e6


def served(kind: str, hz: float, seconds: float) -> dict[str, Any]:
    outcome = run_load(
        Load(
            design="tickwire",
            tickers=TICKERS,
            hz=0.0,
            streams=SUBSCRIBERS,
            per_stream=TICKERS,
            seconds=seconds,
            server_env={"BENCH_SOURCE": kind, "BENCH_BURST_HZ": str(hz)},
        )
    )
    asked = hz * TICKERS
    return {
        "hz": hz,
        "asked_per_s": round(asked),
        "accepted_per_s": outcome.accepted_per_s,
        "delivered_per_s": round(outcome.updates_per_s),
        "server_cpu": outcome.server_cpu,
        "server_cpu_s_per_m_updates": outcome.server_cpu_s_per_m_updates,
        "client_cpu_s_per_m_updates": outcome.client_cpu_s_per_m_updates,
        "sustained": outcome.accepted_per_s >= SUSTAINED * asked,
    }


def run(quick: bool) -> dict[str, Any]:
    synthetic = synthetic_us_per_update(0.5 if quick else 2.0)
    simulator = simulator_us_per_update(0.5 if quick else 2.0)
    out: dict[str, Any] = {
        "synthetic_us_per_update": round(synthetic, 3),
        "simulator_us_per_update": round(simulator, 3),
        "cost_ratio_vs_simulator": round(simulator / synthetic, 2),
    }
    steps: list[dict[str, Any]] = []
    for hz in RATES[:2] if quick else RATES:
        step = served("synthetic", hz, 2.0 if quick else 5.0)
        steps.append(step)
        if not step["sustained"]:
            break
    best = max((s for s in steps if s["sustained"]), key=lambda s: s["hz"], default=steps[0])
    out["burst_steps"] = steps
    out["burst_hz_sustained"] = best["hz"] if best["sustained"] else 0
    out["burst_accepted_per_s"] = best["accepted_per_s"]
    simulated = served("simulator", best["hz"], 2.0 if quick else 5.0)
    out["simulator_at_that_rate"] = simulated
    out["accepted_ratio_vs_simulator"] = round(
        best["accepted_per_s"] / max(1.0, simulated["accepted_per_s"]), 3
    )
    return out
