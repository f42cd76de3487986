"""The benchmark scenarios, in the order `python -m bench` runs them.

Each module has `run(quick: bool) -> dict`: its metrics, plus per-design
detail under "designs" where it compares designs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.scenarios import (
    auth,
    browser,
    candles,
    cluster,
    fanout,
    frame_sizes,
    latency,
    metrics,
    simulator,
    slow_consumer,
    streams,
    synthetic,
)

Scenario = Callable[[bool], dict[str, Any]]

SCENARIOS: dict[str, Scenario] = {
    "fanout": fanout.run,
    "frame_sizes": frame_sizes.run,
    "latency": latency.run,
    "streams": streams.run,
    "slow_consumer": slow_consumer.run,
    "simulator": simulator.run,
    "auth": auth.run,
    "metrics": metrics.run,
    "synthetic": synthetic.run,
    "browser": browser.run,
    "candles": candles.run,
    "cluster": cluster.run,
}
