"""The browser path: grpc-web through Envoy against gRPC straight to tickwire, and SSE.

20 subscribers x 100 tickers at 2 Hz. Both tickwire paths are read by the
TypeScript client on Node (`clients/typescript/bench/reader.ts`), one client
and connection per subscriber, as separate browsers would be: over Envoy
with grpc-web (`StreamPrices`, HTTP/1.1, what a browser speaks) and straight
to the server over gRPC (bidi `Subscribe`, HTTP/2). The SSE peer (a JSON
endpoint of the kind web frontends poll today) runs beside them with the
bench's own SSE readers. Reported: publish -> receipt p50/p99 and updates/s
per path, `grpc_web_p99_vs_grpc`, and Envoy's CPU.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.clients import stream_tickers
from bench.load import Load, percentiles, run_load
from bench.proc import ROOT, Procs
from deploy.cluster import envoy_ready

SUBSCRIBERS = 20
TICKERS = 100
HZ = 2.0
READERS = 2  # Node processes, 10 subscribers each
TS = Path(ROOT) / "clients" / "typescript"
READER = TS / "dist" / "bench" / "reader.js"
ENVOY_YAML = Path(ROOT) / "deploy" / "envoy" / "envoy.yaml"
ENVOY = Path(ROOT) / ".venv" / "bin" / "envoy"
DEFAULT_PORTS = {"listen": 8080, "upstream": 50051, "page": 8081, "admin": 9901}


def envoy_config(ports: dict[str, int]) -> str:
    """deploy/envoy/envoy.yaml with other ports (each default port is named there once)."""
    text = ENVOY_YAML.read_text()
    for key, default in DEFAULT_PORTS.items():
        old = f"port_value: {default} }}"
        assert text.count(old) == 1, f"{ENVOY_YAML} must name {old} once"
        text = text.replace(old, f"port_value: {ports[key]} }}")
    return text


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def measure(protocol: str, seconds: float) -> dict[str, Any]:
    """One path, read by the Node client: `grpc-web` through Envoy or `grpc` straight."""
    assert READER.exists(), f"{READER} is missing: `make bench` builds it (npm run build)"
    with Procs() as procs, tempfile.TemporaryDirectory(prefix="tickwire-browser-") as tmp:
        server = procs.start(
            "bench.target", "--tickers", TICKERS, "--hz", HZ, "--max-seconds", seconds + 120,
            name="tickwire",
        )  # fmt: skip
        target = server.expect("ready", 30)["target"]
        envoy = None
        url = f"http://{target}"
        if protocol == "grpc-web":
            ports = {
                "listen": _free_port(),
                "upstream": int(target.rsplit(":", 1)[1]),
                "page": _free_port(),  # nothing serves the page here
                "admin": _free_port(),
            }
            config = Path(tmp) / "envoy.yaml"
            config.write_text(envoy_config(ports))
            envoy = procs.command(
                str(ENVOY), "-c", config, "--disable-hot-restart", "--log-level", "error",
                "--concurrency", "1", name="envoy",
            )  # fmt: skip
            envoy_ready(ports["admin"], timeout=20.0)
            url = f"http://127.0.0.1:{ports['listen']}"
        streams = [stream_tickers(i, TICKERS, TICKERS) for i in range(SUBSCRIBERS)]
        tickers_file = Path(tmp) / "streams.json"
        tickers_file.write_text(json.dumps(streams))
        readers = []
        per = SUBSCRIBERS // READERS
        for n in range(READERS):
            samples = Path(tmp) / f"samples-{n}.f32"
            reader = procs.command(
                "node", READER, "--target", url, "--protocol", protocol,
                "--tickers-file", tickers_file, "--first-stream", n * per, "--streams", per,
                "--latency", "--samples", samples, "--deadline", seconds + 120,
                name=f"reader-{n}",
            )  # fmt: skip
            readers.append((reader, samples))
        for reader, _ in readers:
            reader.expect("connected", 60)
        start = time.time_ns() + int(1e9)
        end = start + int(seconds * 1e9)
        for reader, _ in readers:
            reader.send(f"{start} {end}")
        time.sleep(max(0.0, (start - time.time_ns()) / 1e9))
        server0, envoy0 = server.cpu_seconds(), envoy.cpu_seconds() if envoy else 0.0
        t0 = time.monotonic()
        time.sleep(max(0.0, (end - time.time_ns()) / 1e9))
        server1, envoy1 = server.cpu_seconds(), envoy.cpu_seconds() if envoy else 0.0
        elapsed = time.monotonic() - t0
        envoy_rss = envoy.rss() if envoy else 0
        results = [reader.expect("result", 60) for reader, _ in readers]
        samples_us = np.concatenate(
            [np.fromfile(s, dtype=np.float32) for _, s in readers if os.path.exists(s)]
        )
    out: dict[str, Any] = {
        **percentiles(samples_us.astype(np.float64)),
        "updates_per_s": round(sum(r["updates"] for r in results) / seconds),
        "receiving": sum(r["receiving"] for r in results),
        "server_cpu": round((server1 - server0) / elapsed, 3),
    }
    if envoy is not None:
        out["envoy_cpu"] = round((envoy1 - envoy0) / elapsed, 3)
        out["envoy_rss_mb"] = round(envoy_rss / 2**20, 1)
    return out


def run(quick: bool) -> dict[str, Any]:
    seconds = 3.0 if quick else 10.0
    designs: dict[str, Any] = {
        "grpc_web_envoy": measure("grpc-web", seconds),
        "grpc_direct": measure("grpc", seconds),
    }
    sse = run_load(
        Load(
            design="sse",
            tickers=TICKERS,
            hz=HZ,
            streams=SUBSCRIBERS,
            per_stream=TICKERS,
            seconds=seconds,
            latency=True,
        )
    )
    designs["sse"] = {
        **sse.latency_ms,
        "updates_per_s": round(sse.updates_per_s),
        "server_cpu": sse.server_cpu,
    }
    web, direct = designs["grpc_web_envoy"], designs["grpc_direct"]
    ratio = web.get("p99") and direct.get("p99") and round(web["p99"] / direct["p99"], 2)
    return {
        "subscribers": SUBSCRIBERS,
        "tickers": TICKERS,
        "hz": HZ,
        "seconds": seconds,
        "grpc_web_p50_ms": web.get("p50"),
        "grpc_web_p99_ms": web.get("p99"),
        "grpc_p99_ms": direct.get("p99"),
        "sse_p99_ms": designs["sse"].get("p99"),
        "grpc_web_p99_vs_grpc": ratio,
        "grpc_web_updates_per_s": web["updates_per_s"],
        "envoy_cpu": web.get("envoy_cpu"),
        "designs": designs,
    }
