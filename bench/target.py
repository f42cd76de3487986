"""The server under test: a real `TickwireServer` fed by the benchmark `Feed`.

`python -m bench.target --tickers 500 --hz 0` serves tickwire on a free
loopback port with a source that publishes as fast as the loop allows.
With BENCH_SOURCE=synthetic it serves the synthetic source over the same
universe, bursting every ticker at BENCH_BURST_HZ; with BENCH_SOURCE=simulator
the simulator, stepping BENCH_BURST_HZ times a second. Either way metrics
are served, and the ready line names their port (accepted updates are read there).
With BENCH_ROLE=ingest it runs the feed as a cluster's ingest, publishing to
BENCH_BUS_URL on BENCH_BUS_SHARDS subjects; with BENCH_ROLE=edge it serves
what comes from there.
"""

from __future__ import annotations

import asyncio
import os
import time

import numpy as np

from bench.feed import Feed, drive
from bench.serving import ServeArgs, announce, parse, run, until_stopped
from tickwire_server import app
from tickwire_server.app import TickwireServer
from tickwire_server.config import Settings
from tickwire_server.domain import (
    MarketState,
    PriceBlock,
    SourceState,
    SourceStatus,
    TickerMeta,
)
from tickwire_server.scenario.controls import MAX_BURST_S
from tickwire_server.sources.base import PriceSink, PriceSource
from tickwire_server.sources.simulator import SimulatorSource
from tickwire_server.sources.synthetic import SyntheticSource


class FeedSource:
    """A `PriceSource` over a fixed universe that publishes `Feed` batches.

    Flat out (`hz` 0) it publishes one batch of every ticker per loop turn, as a
    `PriceBlock`: the source the simulator and REST polls are.
    """

    name = "bench"

    def __init__(self, feed: Feed, hz: float) -> None:
        self._feed = feed
        self._hz = hz
        self._tickers = tuple(feed.tickers)
        self._known = frozenset(feed.tickers)
        self._sink: PriceSink | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self, sink: PriceSink) -> None:
        self._sink = sink
        feed = self._feed
        self._publish(feed.next_prices(), time.time_ns())
        self._task = asyncio.create_task(drive(feed.next_prices, self._publish, self._hz))

    def _publish(self, prices: list[float], ts: int) -> None:
        if self._sink is not None:
            self._sink.publish(PriceBlock(self._tickers, np.array(prices), ts))

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait([task])
        self._sink = None

    def add_ticker(self, ticker: str) -> None:
        """The universe is fixed: nothing to start."""

    def remove_ticker(self, ticker: str) -> bool:
        """The universe is fixed: nothing to stop."""
        return False

    def knows(self, ticker: str) -> bool:
        return ticker in self._known

    def tickers(self) -> list[TickerMeta]:
        return [TickerMeta(t, active=True) for t in self._feed.tickers]

    def status(self) -> SourceStatus:
        return SourceStatus(self.name, MarketState.OPEN, SourceState.HEALTHY)


async def serve(args: ServeArgs) -> None:
    if os.environ.get("BENCH_NO_DRAIN"):  # lever off: grpc reads one notice per loop turn
        setattr(app, "drain_completion_notices", lambda loop: False)  # noqa: B010
    secret = os.environ.get("BENCH_JWT_SECRET")  # the auth scenario: every stream's own token
    kind = os.environ.get("BENCH_SOURCE", "")  # the synthetic scenario
    burst_hz = float(os.environ.get("BENCH_BURST_HZ", "100"))
    role = os.environ.get("BENCH_ROLE", "standalone")
    settings = Settings(
        role=role,
        bus_url=os.environ.get("BENCH_BUS_URL", "nats://127.0.0.1:4222"),
        bus_shards=int(os.environ.get("BENCH_BUS_SHARDS", "16")),
        node_name=os.environ.get("BENCH_NODE", ""),
        host=args.host,
        port=args.port,
        max_lag=args.max_lag,
        heartbeat_interval=30.0,
        max_tickers_per_stream=max(1000, args.tickers),
        max_streams_per_client=100_000,  # every bench client connects from 127.0.0.1
        log_level="WARNING",
        auth="jwt" if secret else "none",
        jwt_secret=secret,
        metrics_port=0 if os.environ.get("BENCH_METRICS") or kind else None,
        # Candles aggregate as they do by default; no history is written unless asked.
        candles=not os.environ.get("BENCH_NO_CANDLES"),
        history_url=os.environ.get("BENCH_HISTORY_URL", "none"),
    )
    source = None if role == "edge" else _source(kind, args)  # an edge's comes from the bus
    async with TickwireServer(settings, source=source) as server:
        if not os.environ.get("BENCH_DEFAULT_GC"):  # lever off: Python's default collector
            app.tune_gc()  # as tickwire-server does
        if kind == "synthetic" and server.controls is not None:
            server.controls.burst([], burst_hz, MAX_BURST_S)
        metrics = server.metrics
        announce(server.target, **({"metrics_port": metrics.port} if metrics else {}))
        await until_stopped(args.max_seconds)


def _source(kind: str, args: ServeArgs) -> PriceSource:
    """The benchmark feed, or the synthetic source or the simulator over the same universe."""
    names = Feed(args.tickers).tickers
    burst_hz = float(os.environ.get("BENCH_BURST_HZ", "100"))
    if kind == "synthetic":
        return SyntheticSource(tickers=names, hz=1.0, seed=1)
    if kind == "simulator":
        return SimulatorSource(tickers=names, interval=1.0 / burst_hz, seed=1)
    return FeedSource(Feed(args.tickers), args.hz)


def main() -> None:
    args = parse(prog="bench.target")
    run(lambda: serve(args), args.uvloop)


if __name__ == "__main__":
    main()
