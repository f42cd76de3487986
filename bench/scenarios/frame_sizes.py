"""Frame sizes: what one written message costs each design, at several sizes.

The fan-out load (50 subscribers of every ticker, the source flat out) over
universes of 50, 500 and 2,000 tickers, so every frame carries that many
updates (about 65 bytes each). For tickwire, the Python ceiling and the Node
peer it reports server CPU per frame written and per million updates
delivered. A cost per frame that stays put while frames grow is the
transport's own per-message floor; one that grows with the frame is per
update, and bigger frames (fewer wake-ups) buy nothing against it.
"""

from __future__ import annotations

from typing import Any

from bench.scenarios import fanout

DESIGNS = ("tickwire", "ceiling", "node")
SIZES = (50, 500, 2000)


def run(quick: bool) -> dict[str, Any]:
    seconds = 2.0 if quick else 6.0
    out: dict[str, Any] = {"subscribers": fanout.SUBSCRIBERS, "seconds": seconds, "designs": {}}
    for size in SIZES:
        for design in DESIGNS:
            outcome = fanout.measure(design, seconds, tickers=size)
            per_frame = (
                outcome.server_cpu / outcome.frames_per_s * 1e6 if outcome.frames_per_s else None
            )
            out["designs"].setdefault(design, {})[f"updates_{size}"] = {
                "updates_per_s": round(outcome.updates_per_s),
                "frames_per_s": round(outcome.frames_per_s),
                "bytes_per_frame": round(outcome.bytes_per_s / max(1.0, outcome.frames_per_s)),
                "server_cpu": outcome.server_cpu,
                "server_us_per_frame": None if per_frame is None else round(per_frame, 1),
                "server_cpu_s_per_m_updates": outcome.server_cpu_s_per_m_updates,
            }
    for size in SIZES:
        row = {d: out["designs"][d][f"updates_{size}"] for d in DESIGNS}
        out[f"us_per_frame_{size}"] = ", ".join(
            f"{d} {row[d]['server_us_per_frame']}" for d in DESIGNS
        )
    return out
