"""One measured load: a server process, client processes, a common window.

`run_load` starts the server, waits for it to serve, starts the clients,
waits until every stream has its first message, then opens the same
measurement window for all of them and reads the server's CPU and memory
around it. Everything is killed when it returns or fails.
"""

from __future__ import annotations

import os
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.peers import node_ceiling
from bench.proc import Proc, Procs

GRPC_SERVERS = {
    "tickwire": "bench.target",
    "naive": "bench.peers.naive",
    "ceiling": "bench.peers.ceiling",
    "sse": "bench.peers.sse",
}


@dataclass
class Load:
    """What to run: a design, its universe and rate, and the client side."""

    design: str
    tickers: int
    hz: float
    streams: int
    per_stream: int
    seconds: float
    client_procs: int = 2
    streams_per_channel: int = 1
    latency: bool = False
    settle: float = 1.0
    connect_timeout: float = 60.0
    server_args: list[str] = field(default_factory=list)
    server_env: dict[str, str] = field(default_factory=dict)
    client_env: dict[str, str] = field(default_factory=dict)
    client_nice: int = 0
    slow_streams: int = 0
    slow_pause: float = 0.0
    # 0: one standalone server. N: a cluster of NATS, an ingest running the
    # feed and N edges, the client processes spread over the edges.
    edges: int = 0
    bus_shards: int = 16
    # The first this many tickers are all the clients ask for (None: all of them).
    client_universe: int | None = None


@dataclass
class Outcome:
    """What a load measured."""

    updates_per_s: float
    frames_per_s: float
    bytes_per_s: float
    server_cpu: float
    rss_before: int
    rss_connected: int
    rss_after: int
    streams: int
    connected: int
    receiving: int
    latency_ms: dict[str, float]
    connect_seconds: float  # from starting the clients to every stream's first message
    statuses: dict[str, int]
    slow: dict[str, Any]
    client_cpu: float = 0.0  # cores, every client process together, over the window
    accepted_per_s: float = 0.0  # updates the server accepted (when it serves metrics)
    cpu_by_process: dict[str, float] = field(default_factory=dict)  # cores, in a cluster

    @property
    def server_cpu_s_per_m_updates(self) -> float | None:
        """Server CPU-seconds per million delivered updates: what a design costs per update."""
        return _per_m(self.server_cpu, self.updates_per_s)

    @property
    def client_cpu_s_per_m_updates(self) -> float | None:
        """Client CPU-seconds per million delivered updates (the same lean clients for all)."""
        return _per_m(self.client_cpu, self.updates_per_s)

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def _per_m(cores: float, updates_per_s: float) -> float | None:
    return round(cores / updates_per_s * 1e6, 4) if updates_per_s > 0 else None


def percentiles(samples_us: np.ndarray) -> dict[str, float]:
    """p50, p99, p99.9 and max in milliseconds (empty when there are no samples)."""
    if samples_us.size == 0:
        return {}
    p50, p99, p999 = np.percentile(samples_us, [50, 99, 99.9]) / 1000.0
    return {
        "p50": round(float(p50), 3),
        "p99": round(float(p99), 3),
        "p99.9": round(float(p999), 3),
        "max": round(float(samples_us.max()) / 1000.0, 3),
        "samples": int(samples_us.size),
    }


def run_load(load: Load) -> Outcome:
    """Run `load` once and measure it."""
    kind = "sse" if load.design == "sse" else "grpc"
    with Procs() as procs, tempfile.TemporaryDirectory(prefix="tickwire-bench-") as tmp:
        life = load.seconds + load.connect_timeout + 60
        servers, targets, metrics_port = _start_servers(procs, tmp, load, life)
        serving = servers[-len(targets) :]  # the processes holding the streams

        def rss() -> int:
            return sum(s.rss() for s in serving)

        rss_before = rss()
        clients = []
        opening = time.monotonic()
        specs = _split(load.streams, load.client_procs)
        if load.slow_streams:
            specs.append((load.streams, load.slow_streams))
        for n, (first, count) in enumerate(specs):
            slow = first >= load.streams
            samples = os.path.join(tmp, f"samples-{n}.f32")
            args: list[object] = [
                kind, "--target", targets[n % len(targets)],
                "--streams", count, "--first-stream", first,
                "--streams-per-channel", load.streams_per_channel,
                "--universe", load.client_universe or load.tickers,
                "--per-stream", load.per_stream,
                "--deadline", load.seconds + load.connect_timeout + 30,
            ]  # fmt: skip
            if slow:
                args += ["--pause", load.slow_pause]
            elif load.latency:
                args += ["--latency", "--samples", samples]
            client = procs.start("bench.clients", *args, name=f"client-{n}", **load.client_env)
            if load.client_nice:
                os.setpriority(os.PRIO_PROCESS, client.pid, load.client_nice)
            clients.append((client, samples))
        for client, _ in clients:
            client.expect("connected", load.connect_timeout)
        connect_seconds = time.monotonic() - opening
        rss_connected = rss()
        start = time.time_ns() + int(load.settle * 1e9)
        end = start + int(load.seconds * 1e9)
        for client, _ in clients:
            client.send(f"{start} {end}")
        time.sleep(max(0.0, (start - time.time_ns()) / 1e9))
        readers = [c for c, _ in clients]
        cpus0, t0 = [s.cpu_seconds() for s in servers], time.monotonic()
        client_cpu0 = sum(c.cpu_seconds() for c in readers)
        accepted0 = _accepted(metrics_port)
        time.sleep(max(0.0, (end - time.time_ns()) / 1e9))
        cpus1, t1 = [s.cpu_seconds() for s in servers], time.monotonic()
        client_cpu1 = sum(c.cpu_seconds() for c in readers)
        cpu0, cpu1 = sum(cpus0), sum(cpus1)
        by_process = {
            s.name: round((b - a) / (t1 - t0), 3)
            for s, a, b in zip(servers, cpus0, cpus1, strict=True)
        }
        accepted1 = _accepted(metrics_port)
        rss_after = rss()
        wait = load.slow_pause + 30 if load.slow_streams else 30
        results = [c.expect("result", wait) for c, _ in clients]
        healthy = results[: len(results) - (1 if load.slow_streams else 0)]
        samples_us = np.concatenate(
            [np.fromfile(s, dtype=np.float32) for _, s in clients if os.path.exists(s)]
            or [np.empty(0, dtype=np.float32)]
        )
    statuses: dict[str, int] = {}
    for r in healthy:
        for code, count in r["statuses"].items():
            statuses[code] = statuses.get(code, 0) + count
    return Outcome(
        updates_per_s=sum(r["updates"] for r in healthy) / load.seconds,
        frames_per_s=sum(r["frames"] for r in healthy) / load.seconds,
        bytes_per_s=sum(r["bytes"] for r in healthy) / load.seconds,
        server_cpu=round((cpu1 - cpu0) / (t1 - t0), 3),
        client_cpu=round((client_cpu1 - client_cpu0) / (t1 - t0), 3),
        rss_before=rss_before,
        rss_connected=rss_connected,
        rss_after=rss_after,
        streams=load.streams,
        connected=sum(r["connected"] for r in healthy),
        receiving=sum(r["receiving"] for r in healthy),
        latency_ms=percentiles(samples_us.astype(np.float64)),
        connect_seconds=round(connect_seconds, 3),
        statuses=statuses,
        slow=results[-1] if load.slow_streams else {},
        accepted_per_s=round((accepted1 - accepted0) / (t1 - t0)),
        cpu_by_process=by_process if load.edges else {},
    )


def _start_servers(
    procs: Procs, tmp: str, load: Load, life: float
) -> tuple[list[Proc], list[str], int | None]:
    """The processes `load` measures (streams' servers last), their targets, a metrics port."""
    if load.design == "node":  # Node itself, not a Python launcher: its CPU is node's
        node = node_ceiling.start(procs, tmp, load.tickers, load.hz, life)
        return [node], [node.expect("ready", 30)["target"]], None
    module = GRPC_SERVERS[load.design]
    common = ["--tickers", load.tickers, "--hz", load.hz, "--max-seconds", life]
    servers: list[Proc] = []
    env = dict(load.server_env)
    if load.edges:
        bus = _start_nats(procs, tmp)
        servers.append(bus[0])
        env |= {"BENCH_BUS_URL": bus[1], "BENCH_BUS_SHARDS": str(load.bus_shards)}
        ingest = procs.start(
            module, *common, *load.server_args, name="ingest",
            **env, BENCH_ROLE="ingest", BENCH_NODE="ingest",
        )  # fmt: skip
        ingest.expect("ready", 30)
        servers.append(ingest)
    targets = []
    ready: dict[str, Any] = {}
    for n in range(max(1, load.edges)):
        role = {"BENCH_ROLE": "edge", "BENCH_NODE": f"edge-{n}"} if load.edges else {}
        server = procs.start(
            module, *common, *load.server_args, name=f"edge-{n}" if load.edges else load.design,
            **env, **role,
        )  # fmt: skip
        ready = server.expect("ready", 30)
        targets.append(ready["target"])
        servers.append(server)
    return servers, targets, None if load.edges else ready.get("metrics_port")


def _start_nats(procs: Procs, tmp: str) -> tuple[Proc, str]:
    """Debian's nats-server with JetStream on a free port; the process and its URL."""
    import shutil
    import socket

    binary = shutil.which("nats-server")
    if binary is None:
        raise RuntimeError("nats-server is not installed (make installs Debian's package)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    bus = procs.command(
        binary, "-js", "-sd", os.path.join(tmp, "js"), "-a", "127.0.0.1", "-p", port, name="nats"
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return bus, f"nats://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nats-server did not start")


def _accepted(port: int | None) -> float:
    """The server's `tickwire_updates_accepted_total`, scraped (0 without metrics)."""
    if port is None:
        return 0.0
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        for line in reply.read().decode().splitlines():
            if line.startswith("tickwire_updates_accepted_total "):
                return float(line.split()[1])
    return 0.0


def _split(streams: int, procs: int) -> list[tuple[int, int]]:
    """(first stream, count) per client process, as even as possible."""
    procs = max(1, min(procs, streams))
    base, extra = divmod(streams, procs)
    out, first = [], 0
    for i in range(procs):
        count = base + (i < extra)
        out.append((first, count))
        first += count
    return out
