"""What every benchmark server process shares: its flags, the ready line, a bounded life.

A server process prints one JSON line `{"event": "ready", "target": ...}` on
stdout once it serves, then runs until SIGTERM/SIGINT or `--max-seconds`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import grpc

from bench.feed import Feed, Publish, drive
from tickwire_server.app import tune_gc
from tickwire_server.grpc_loop import drain_completion_notices


@dataclass(frozen=True)
class ServeArgs:
    """Flags every benchmark server takes."""

    host: str
    port: int
    tickers: int
    hz: float
    max_seconds: float
    uvloop: bool
    max_lag: float


def parse(argv: list[str] | None = None, prog: str = "") -> ServeArgs:
    """Parse the common server flags."""
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--tickers", type=int, default=500, help="universe size")
    parser.add_argument("--hz", type=float, default=0.0, help="batches per second; 0 = flat out")
    parser.add_argument("--max-seconds", type=float, default=300.0, help="exit after this long")
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop")
    parser.add_argument("--max-lag", type=float, default=10.0)
    ns = parser.parse_args(argv)
    if ns.host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("benchmark servers listen on loopback only")
    return ServeArgs(**vars(ns))


def announce(target: str, **extra: Any) -> None:
    """Print the ready line the harness waits for."""
    print(json.dumps({"event": "ready", "target": target, "pid": os.getpid(), **extra}), flush=True)


async def until_stopped(max_seconds: float) -> None:
    """Return on SIGTERM/SIGINT or after `max_seconds`, whichever comes first."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with asyncio.timeout(max_seconds):
            await stop.wait()
    except TimeoutError:
        print(f"{sys.argv[0]}: max lifetime reached, exiting", file=sys.stderr)


# The transport options tickwire's server sets that decide whether 10,000
# streams opening at once are all taken: every grpc.aio peer gets them too.
PEER_OPTIONS = [
    ("grpc.so_reuseport", 0),
    ("grpc.server.max_pending_requests", 20_000),
    ("grpc.server.max_pending_requests_hard_limit", 40_000),
    ("grpc.max_concurrent_streams", 1000),
]


async def serve_grpc(
    server: grpc.aio.Server, args: ServeArgs, feed: Feed, publish: Publish, *, tuned: bool = False
) -> None:
    """Serve a grpc.aio peer: bind, start, drive `feed` into `publish`, announce, stop.

    Every grpc.aio design gets the completion drain; `tuned` also gives it
    tickwire-server's collector tuning.
    """
    port = server.add_insecure_port(f"{args.host}:{args.port}")
    await server.start()
    drain_completion_notices(asyncio.get_running_loop())
    if tuned:
        tune_gc()
    source = asyncio.create_task(drive(feed.next_batch, publish, args.hz))
    announce(f"{args.host}:{port}")
    await until_stopped(args.max_seconds)
    source.cancel()
    await server.stop(0.5)


def run(main: Callable[[], Coroutine[Any, Any, None]], use_uvloop: bool) -> None:
    """Run `main` on the default loop or on uvloop."""
    if os.environ.get("BENCH_GC") == "off":
        import gc

        gc.disable()
    if use_uvloop:
        import uvloop

        uvloop.run(main())
    else:
        asyncio.run(main())
