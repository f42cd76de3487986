"""Fan-out: 50 subscribers x 500 tickers, the source flat out, every design.

Delivered updates/s counted by lean clients in two processes over the same
window. On a shared 2-core machine one run of a design can be ±20% off the
next, so tickwire and the ceiling are measured in alternating rounds (three
in a full run): each round's ratio compares two runs made back to back, and
the reported figures are medians, with every round's ratio kept alongside.
The naive and SSE peers are thousands of times apart and run once.

Flat out the naive peer collapses (its queues grow without bound), which
measures the collapse, not the design. So it is also stepped through paced
rates from 1 Hz, doubling while it keeps up and halving while it does not
(see `naive_sustainable`): `naive_sustainable_updates_per_s` is what it
delivered at the highest rate it kept up with, and `ratio_vs_naive` divides
tickwire's flat-out figure by that.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from bench.load import Load, Outcome, run_load

DESIGNS = ("tickwire", "ceiling", "node", "naive", "sse")
PAIRED = ("tickwire", "ceiling", "node")
SUBSCRIBERS = 50
TICKERS = 500


def measure(design: str, seconds: float, tickers: int = TICKERS) -> Outcome:
    """One run of the fan-out load: every subscriber takes all `tickers`, the source flat out."""
    load = Load(
        design=design,
        tickers=tickers,
        hz=0.0,
        streams=SUBSCRIBERS,
        per_stream=tickers,
        seconds=seconds,
    )
    return run_load(load)


def _row(runs: list[Outcome]) -> dict[str, Any]:
    """One design's figures: medians over its runs."""

    def median(values: list[float]) -> float:
        return float(statistics.median(values))

    return {
        "updates_per_s": round(median([o.updates_per_s for o in runs])),
        "frames_per_s": round(median([o.frames_per_s for o in runs])),
        "mbytes_per_s": round(median([o.bytes_per_s for o in runs]) / 1e6, 1),
        "server_cpu": round(median([o.server_cpu for o in runs]), 3),
        "client_cpu": round(median([o.client_cpu for o in runs]), 3),
        "server_cpu_s_per_m_updates": _median_of([o.server_cpu_s_per_m_updates for o in runs]),
        "client_cpu_s_per_m_updates": _median_of([o.client_cpu_s_per_m_updates for o in runs]),
        "server_rss_mb": round(max(o.rss_after for o in runs) / 2**20, 1),
        "receiving": min(o.receiving for o in runs),
        "runs": len(runs),
    }


def _median_of(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(statistics.median(known), 4) if known else None


NAIVE_FIRST_HZ = 1.0
NAIVE_BATCHES = 6  # batches in a step's window, whatever its rate


def naive_sustainable(quick: bool) -> dict[str, Any]:
    """The naive peer at paced rates: doubling from 1 Hz while it keeps up, halving while not.

    It keeps up when it delivers what was asked (90% or more: a window holds
    a whole number of batches) and its p99 stays under the time between two
    batches: it has sent one batch (25,000 messages, one per update per
    subscriber) before the next arrives. Falling behind, its queues grow
    for as long as the run lasts. Each step's window holds as many batches.
    """
    steps: list[dict[str, Any]] = []
    best = 0.0
    hz, direction = NAIVE_FIRST_HZ, 0
    for _ in range(3 if quick else 7):
        load = Load(
            design="naive", tickers=TICKERS, hz=hz, streams=SUBSCRIBERS, per_stream=TICKERS,
            seconds=NAIVE_BATCHES / hz, latency=True,
        )  # fmt: skip
        outcome = run_load(load)
        asked = hz * TICKERS * SUBSCRIBERS
        p99 = outcome.latency_ms.get("p99")
        kept_up = p99 is not None and p99 < 1000.0 / hz and outcome.updates_per_s >= 0.9 * asked
        steps.append({
            "hz": hz,
            "asked_per_s": round(asked),
            "updates_per_s": round(outcome.updates_per_s),
            "p99_ms": p99,
            "kept_up": kept_up,
        })  # fmt: skip
        if kept_up:
            best = max(best, outcome.updates_per_s)
            if direction < 0:
                break  # the first rate it keeps up with, coming down
            hz, direction = hz * 2, 1
        else:
            if direction > 0:
                break  # the first rate it misses, going up
            hz, direction = hz / 2, -1
    return {"sustainable_updates_per_s": round(best), "steps": steps}


def run(quick: bool) -> dict[str, Any]:
    seconds = 3.0 if quick else 8.0
    rounds = 1 if quick else 3
    runs: dict[str, list[Outcome]] = {design: [] for design in DESIGNS}
    ratios: list[float] = []
    vs_node: list[float] = []
    efficiency: dict[str, list[float]] = {"ceiling": [], "node": []}
    for _ in range(rounds):
        for design in PAIRED:
            runs[design].append(measure(design, seconds))
        tickwire, ceiling, node = (runs[d][-1] for d in PAIRED)
        ratios.append(round(tickwire.updates_per_s / max(1.0, ceiling.updates_per_s), 3))
        vs_node.append(round(tickwire.updates_per_s / max(1.0, node.updates_per_s), 3))
        for name, peer in (("ceiling", ceiling), ("node", node)):
            mine, theirs = tickwire.server_cpu_s_per_m_updates, peer.server_cpu_s_per_m_updates
            if mine and theirs:
                efficiency[name].append(round(theirs / mine, 3))
    for design in DESIGNS:
        if design not in PAIRED:
            runs[design].append(measure(design, seconds))
    designs = {design: _row(runs[design]) for design in DESIGNS}
    tw = designs["tickwire"]["updates_per_s"]
    naive = naive_sustainable(quick)
    return {
        "subscribers": SUBSCRIBERS,
        "tickers": TICKERS,
        "seconds": seconds,
        "rounds": rounds,
        "updates_per_s": tw,
        "ratio_vs_naive": round(tw / max(1, naive["sustainable_updates_per_s"]), 1),
        "naive_sustainable_updates_per_s": naive["sustainable_updates_per_s"],
        "naive_flat_out_updates_per_s": designs["naive"]["updates_per_s"],
        "ratio_vs_naive_flat_out": round(tw / max(1, designs["naive"]["updates_per_s"]), 1),
        "ratio_vs_ceiling": round(statistics.median(ratios), 3),
        "ratio_vs_ceiling_rounds": ratios,
        "ratio_vs_node": round(statistics.median(vs_node), 3),
        "ratio_vs_node_rounds": vs_node,
        # The peer's server CPU per update over tickwire's: 1.0 is as lean as the peer.
        "cpu_efficiency_vs_ceiling": _median_of(efficiency["ceiling"]),
        "cpu_efficiency_vs_ceiling_rounds": efficiency["ceiling"],
        "cpu_efficiency_vs_node": _median_of(efficiency["node"]),
        "cpu_efficiency_vs_node_rounds": efficiency["node"],
        "ratio_vs_sse": round(tw / max(1, designs["sse"]["updates_per_s"]), 1),
        "naive_steps": naive["steps"],
        "designs": designs,
    }
