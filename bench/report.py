"""Results out: the table on stdout, `latest.json` and the `latest.png` chart.

The JSON is nested, scenario -> metric -> value (so `fanout.ratio_vs_naive`
is `data["fanout"]["ratio_vs_naive"]`), with a `machine` section (cores,
memory, versions) and `targets` (each target, its value and whether it holds).
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

import grpc
import psutil


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    return {
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "grpcio": grpc.__version__,
        "platform": platform.platform(),
        # A noisy run shows here: what else the machine ran, at the start (and the end, added then).
        "loadavg_start": [round(v, 2) for v in os.getloadavg()],
    }


def loadavg() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def targets(data: dict[str, Any]) -> dict[str, Any]:
    """Each DESIGN.md target with the measured value and whether it holds."""
    fan, lat, st, sim, auth, met, syn = (
        data.get(k, {})
        for k in ("fanout", "latency", "streams", "simulator", "auth", "metrics", "synthetic")
    )
    checks = {
        "fanout.ratio_vs_ceiling >= 0.9": (fan.get("ratio_vs_ceiling"), lambda v: v >= 0.9),
        "fanout.cpu_efficiency_vs_ceiling >= 0.9": (
            fan.get("cpu_efficiency_vs_ceiling"),
            lambda v: v >= 0.9,
        ),
        "latency.p99_vs_ceiling <= 1.0": (lat.get("p99_vs_ceiling"), lambda v: v <= 1.0),
        "streams.count >= 10000": (st.get("count"), lambda v: v >= 10_000),
        "streams.p99_vs_ceiling <= 1.1": (st.get("p99_vs_ceiling"), lambda v: v <= 1.1),
        "simulator.step_ms_10000 <= 2": (sim.get("step_ms_10000"), lambda v: v <= 2),
        "simulator.ratio_vs_cholesky >= 10": (sim.get("ratio_vs_cholesky"), lambda v: v >= 10),
        "auth.fanout_ratio >= 0.9": (auth.get("fanout_ratio"), lambda v: v >= 0.9),
        "metrics.fanout_ratio >= 0.9": (met.get("fanout_ratio"), lambda v: v >= 0.9),
        "synthetic.cost_ratio_vs_simulator >= 1": (
            syn.get("cost_ratio_vs_simulator"),
            lambda v: v >= 1,
        ),
        "candles.fanout_ratio >= 0.9": (
            data.get("candles", {}).get("fanout_ratio"),
            lambda v: v >= 0.9,
        ),
        "auth.streams_connected_jwt >= 10000": (
            auth.get("streams_connected_jwt"),
            lambda v: v >= 10_000,
        ),
    }
    return {
        name: {"value": value, "holds": None if value is None else bool(test(value))}
        for name, (value, test) in checks.items()
    }


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return "—" if value is None else str(value)


def table(data: dict[str, Any]) -> str:
    """A markdown table: one row per scenario metric, then per-design rows, then targets."""
    lines = ["| scenario | metric | value |", "|---|---|---|"]
    for scenario, metrics in data.items():
        if scenario in ("machine", "targets", "quick") or not isinstance(metrics, dict):
            continue
        for metric, value in metrics.items():
            if isinstance(value, dict) or metric == "note":
                continue
            if isinstance(value, list) and value and isinstance(value[0], dict):
                if metric != "naive_steps":
                    continue
                shown = "; ".join(  # the naive peer's paced steps, the rate it kept up with
                    f"{s['hz']:g} Hz {_fmt(s['updates_per_s'])}/s "
                    f"{'kept up' if s['kept_up'] else 'fell behind'}"
                    for s in value
                )
            elif isinstance(value, list):
                shown = ", ".join(map(_fmt, value))
            else:
                shown = _fmt(value)
            lines.append(f"| {scenario} | {metric} | {shown} |")
    lines += [
        "",
        "| design | fan-out updates/s | server CPU | server / client CPU-s per M updates "
        "| latency p50 / p99 / p99.9 ms |",
        "|---|---|---|---|---|",
    ]
    fan = data.get("fanout", {}).get("designs", {})
    lat = data.get("latency", {}).get("designs", {})
    for design in dict.fromkeys([*fan, *lat]):
        f, lt = fan.get(design, {}), lat.get(design, {})
        pct = " / ".join(_fmt(lt.get(k)) for k in ("p50", "p99", "p99.9")) if lt else "—"
        per_m = " / ".join(
            _fmt(f.get(k)) for k in ("server_cpu_s_per_m_updates", "client_cpu_s_per_m_updates")
        )
        lines.append(
            f"| {design} | {_fmt(f.get('updates_per_s'))} | {_fmt(f.get('server_cpu'))} "
            f"| {per_m if f else '—'} | {pct} |"
        )
    lines += ["", "| target | value | holds |", "|---|---|---|"]
    for name, check in data.get("targets", {}).items():
        holds = {True: "yes", False: "**no**", None: "—"}[check["holds"]]
        lines.append(f"| {name} | {_fmt(check['value'])} | {holds} |")
    return "\n".join(lines)


_COLOURS = {
    "tickwire": "#1f77b4",
    "ceiling": "#7f7f7f",
    "node": "#2ca02c",
    "naive": "#d62728",
    "sse": "#ff7f0e",
}


def chart(data: dict[str, Any], path: Path) -> None:
    """Fan-out throughput per design and latency percentiles per design, one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.6))
    fan = data.get("fanout", {}).get("designs", {})
    names = list(fan)
    values = [fan[n]["updates_per_s"] for n in names]
    bars = left.bar(names, values, color=[_COLOURS.get(n, "#9467bd") for n in names])
    left.set_yscale("log")
    left.set_ylabel("delivered updates/s (log)")
    left.set_title("Fan-out: 50 subscribers x 500 tickers, source flat out")
    for bar, value in zip(bars, values, strict=True):
        left.annotate(f"{value:,.0f}", (bar.get_x() + bar.get_width() / 2, value), ha="center",
                      va="bottom", fontsize=8)  # fmt: skip
    lat = data.get("latency", {}).get("designs", {})
    keys = ("p50", "p99", "p99.9")
    width = 0.8 / max(1, len(lat))
    for i, (name, row) in enumerate(lat.items()):
        xs = [k + i * width for k in range(len(keys))]
        right.bar(xs, [row.get(k, 0) for k in keys], width, label=name,
                  color=_COLOURS.get(name, "#9467bd"))  # fmt: skip
    right.set_xticks([k + width * (len(lat) - 1) / 2 for k in range(len(keys))], keys)
    right.set_yscale("log")
    right.set_ylabel("publish -> client, ms (log)")
    right.set_title("Latency: 100 subscribers x 500 tickers at 2 Hz")
    right.axhline(5, color="grey", linestyle="--", linewidth=0.8)
    if lat:
        right.legend()
    cores = data.get("machine", {}).get("cores")
    fig.suptitle(f"tickwire bench ({cores} cores, loopback, one run)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(data: dict[str, Any], out_dir: Path, stem: str = "latest") -> tuple[Path, Path]:
    """Write `<stem>.json` and `<stem>.png` into `out_dir`; return both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, png_path = out_dir / f"{stem}.json", out_dir / f"{stem}.png"
    tmp = json_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(json_path)
    chart(data, png_path)
    return json_path, png_path
