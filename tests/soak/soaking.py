"""The reliability suite's server, scale, baseline and canary (fixtures: conftest.py).

`make test` runs these attacks short (seconds); `make soak` runs them at full
scale (SOAK=full, minutes) and writes bench/results/soak.json. Every attack
runs against one long-lived server process, as a real one would meet them
one after another, and ends by checking what users rely on: the process is
alive, a canary stream kept receiving, and descriptors, threads and tasks
came back to their baseline, memory within a stated bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from processes import SERVING, Usage
from prometheus_client.parser import text_string_to_metric_families

from tickwire.v1 import market_data_pb2 as pb
from tickwire.v1 import market_data_pb2_grpc as rpc

FULL = os.environ.get("SOAK") == "full"
RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results" / "soak.json"
# How far above its baseline the server's memory may settle after an attack. The
# allocator keeps an attack's high-water mark (about 0.3 MB per stalled stream:
# 240 at once in the full run); the same attack again adds nothing.
RSS_BOUND_MB = 75.0
CANARY = "AAPL"


@dataclass(frozen=True)
class Scale:
    """How hard each attack pushes: full for `make soak`, short for `make test`."""

    fuzz_cases: int = 1000 if FULL else 40
    cycles: int = 10_000 if FULL else 300
    stalled_per_layer: int = 60 if FULL else 4
    storm_seconds: float = 20.0 if FULL else 2.0
    universe_streams: int = 50 if FULL else 6
    idle_connections: int = 1000 if FULL else 100
    shutdown_streams: int = 500 if FULL else 60


SCALE = Scale()
SERVER_ARGS = (
    "--interval", "0.05",
    "--max-lag", "1",
    "--heartbeat-interval", "1",
    "--max-universe", "3000",
    "--max-connection-idle", "2",
    "--handshake-timeout", "2",
    "--max-streams-per-client", "100000",  # every attacker here is one address
    "--log-level", "WARNING",
)  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SoakServer(Usage):
    """A tickwire-server process with its metrics port, read from /proc and /metrics."""

    def __init__(self, *extra: str) -> None:
        self.metrics_port = _free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tickwire_server", "--host", "127.0.0.1", "--port", "0",
             "--metrics-port", str(self.metrics_port), *SERVER_ARGS, *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        self.pid = self.process.pid
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        serving = SERVING.search(line.encode())
        assert serving, line
        self.target = serving.group(1).decode()
        self.stderr: list[str] = []
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr.append(line)

    def alive(self) -> bool:
        return self.process.poll() is None

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """Every sample of /metrics, keyed by (name, sorted labels)."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as answer:
            text = answer.read().decode()
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }

    def metric(self, name: str, **labels: str) -> float:
        return self.metrics().get((name, tuple(sorted(labels.items()))), 0.0)

    def usage(self) -> dict[str, float]:
        return {
            "rss_mb": round(self.rss_mb(), 1),
            "fds": self.fds(),
            "threads": self.threads(),
            "tasks": self.metric("tickwire_tasks"),
        }

    def stop(self) -> int:
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(30)


@dataclass
class Baseline:
    """What the idle server holds: an attack must leave it back there."""

    usage: dict[str, float]

    def settled(self, server: SoakServer, wait: float = 30.0) -> dict[str, float]:
        """Wait until descriptors, threads, tasks and memory are back; assert they came back."""
        deadline = time.monotonic() + wait
        while True:
            now = server.usage()
            back = (
                now["fds"] <= self.usage["fds"] + 2
                and now["threads"] <= self.usage["threads"] + 2
                and now["tasks"] <= self.usage["tasks"] + 1
                and now["rss_mb"] <= self.usage["rss_mb"] + RSS_BOUND_MB
            )
            if back or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert server.alive(), "".join(server.stderr[-20:])
        assert back, f"not back to baseline {self.usage} (RSS + {RSS_BOUND_MB} MB): {now}"
        return now


@dataclass
class Canary:
    """A StreamPrices stream beside the attack, counting what it receives."""

    updates: int = 0
    max_gap: float = 0.0
    error: str | None = None


@contextlib.asynccontextmanager
async def canary(target: str) -> AsyncIterator[Canary]:
    """Keep a stream of the canary ticker open meanwhile; it must go on receiving."""
    seen = Canary()
    async with grpc.aio.insecure_channel(
        target, options=[("grpc.use_local_subchannel_pool", 1)]
    ) as channel:
        call = rpc.MarketDataStub(channel).StreamPrices(pb.StreamPricesRequest(tickers=[CANARY]))

        async def read() -> None:
            last = time.monotonic()
            try:
                async for message in call:
                    now = time.monotonic()
                    if message.WhichOneof("response") == "prices":
                        seen.updates += len(message.prices.updates)
                        seen.max_gap = max(seen.max_gap, now - last)
                        last = now
            except grpc.aio.AioRpcError as error:
                seen.error = f"{error.code().name}: {error.details()}"

        reader = asyncio.create_task(read())
        try:
            yield seen
        finally:
            call.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader


def track_peak(server: SoakServer, record: dict[str, Any]) -> None:
    record["peak_rss_mb"] = round(max(record.get("peak_rss_mb", 0.0), server.rss_mb()), 1)


def canary_figures(seen: Canary) -> dict[str, Any]:
    assert seen.error is None, seen.error
    assert seen.updates > 0, "the canary received nothing during the attack"
    return {"updates": seen.updates, "max_gap_s": round(seen.max_gap, 3)}
