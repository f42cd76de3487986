"""Lean load clients: count what arrives, stamp latency, decode nothing else.

One client process opens many streams (`python -m bench.clients grpc ...`),
prints `{"event": "connected"}` once every stream has its first message, then
reads one line `START_NS END_NS` on stdin: only what arrives in that window
counts. It ends by printing one JSON `{"event": "result", ...}` line. Latency
samples (publish → receipt, in µs, same clock) go to `--samples` as float32.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from array import array
from collections import Counter
from dataclasses import dataclass, field
from itertools import repeat

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import Message

from bench.feed import ticker_names
from tickwire.v1 import market_data_pb2 as pb
from tickwire_server.auth import mint
from tickwire_server.grpc_loop import drain_completion_notices

METHOD = "/tickwire.v1.MarketData/StreamPrices"
_F = descriptor_pb2.FieldDescriptorProto
TYPE_BYTES, TYPE_UINT64, TYPE_MESSAGE = _F.TYPE_BYTES, _F.TYPE_UINT64, _F.TYPE_MESSAGE
LABEL_REPEATED, LABEL_OPTIONAL = _F.LABEL_REPEATED, _F.LABEL_OPTIONAL
MAX_SAMPLES = 4_000_000


@dataclass
class Stats:
    """What one client process saw inside the window."""

    updates: int = 0
    frames: int = 0
    bytes: int = 0
    conflated: int = 0
    connected: int = 0
    receiving: int = 0
    details: str = ""
    statuses: Counter[str] = field(default_factory=Counter)
    samples: array[float] = field(default_factory=lambda: array("f"))


@dataclass
class Window:
    """The measurement window, in `time.time_ns()`; open-ended until set."""

    start: int = 1 << 62
    end: int = 1 << 62
    set: asyncio.Event = field(default_factory=asyncio.Event)


def stream_tickers(index: int, universe: int, per_stream: int) -> list[str]:
    """The tickers stream `index` asks for: `per_stream` consecutive ones, wrapping."""
    names = ticker_names(universe)
    start = (index * per_stream) % universe
    return [names[(start + k) % universe] for k in range(per_stream)]


def _counting_frame() -> type[Message]:
    """A message class reading a `SubscribeResponse{prices}` with updates left as bytes.

    Field numbers and wire types match tickwire.v1 (`prices` = 1, `updates` = 1,
    `conflated` = 2), so counting needs no decoding of the updates themselves.
    """
    proto = descriptor_pb2.FileDescriptorProto(name="bench_count.proto", package="bench")
    batch = proto.message_type.add(name="Batch")
    batch.field.add(name="updates", number=1, type=TYPE_BYTES, label=LABEL_REPEATED)
    batch.field.add(name="conflated", number=2, type=TYPE_UINT64, label=LABEL_OPTIONAL)
    frame = proto.message_type.add(name="Frame")
    frame.field.add(
        name="prices", number=1, type=TYPE_MESSAGE, type_name=".bench.Batch", label=LABEL_OPTIONAL
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("bench.Frame"))


CountingFrame = _counting_frame()


def _stamp(element: bytes) -> int:
    """The publish time (ns) of one encoded `PriceUpdate`."""
    stamp = pb.PriceUpdate.FromString(element).timestamp
    return stamp.seconds * 1_000_000_000 + stamp.nanos


def _record(raw: bytes, now: int, stats: Stats, latency: bool) -> int:
    """Count one frame's updates; stamp their latency when asked. Returns the count."""
    elements = CountingFrame.FromString(raw).prices.updates  # type: ignore[attr-defined]
    n = len(elements)
    if latency and n and len(stats.samples) < MAX_SAMPLES:
        # A publish stamps all its updates alike: when the first and the last
        # element of a frame agree, that is every element's stamp.
        first, last = _stamp(elements[0]), _stamp(elements[n - 1])
        if first == last:
            stats.samples.extend(repeat((now - first) / 1000.0, n))
        else:
            stats.samples.extend((now - _stamp(e)) / 1000.0 for e in elements)
    if n:
        stats.updates += n
        stats.frames += 1
        stats.bytes += len(raw)
    return n


async def grpc_stream(
    call: grpc.aio.UnaryStreamCall, stats: Stats, win: Window, latency: bool, pause: float
) -> None:
    """Read one stream: first message, then count inside the window."""
    got = False
    try:
        first = await call.read()
        if first is grpc.aio.EOF:
            return
        stats.connected += 1
        if pause:  # a consumer that stops reading: wait, then drain what the server kept
            await asyncio.sleep(pause)
            while (raw := await call.read()) is not grpc.aio.EOF:
                msg = pb.SubscribeResponse.FromString(raw)
                stats.updates += len(msg.prices.updates)
                stats.conflated += msg.prices.conflated
                stats.frames += 1
            stats.statuses["OK"] += 1
            return
        while (raw := await call.read()) is not grpc.aio.EOF:
            now = time.time_ns()
            if now < win.start:
                continue
            if now >= win.end:
                break
            if _record(raw, now, stats, latency):
                got = True
        stats.statuses["open"] += 1
    except grpc.aio.AioRpcError as exc:
        stats.statuses[exc.code().name] += 1
        stats.details = exc.details() or ""
        if os.environ.get("BENCH_VERBOSE") and exc.code() == grpc.StatusCode.CANCELLED:
            print(f"stream: {exc.code().name}: {exc.details()} (got first: {got})", file=sys.stderr)
    except asyncio.CancelledError:
        stats.statuses["open"] += 1
    finally:
        stats.receiving += got
        call.cancel()


async def run_grpc(args: argparse.Namespace) -> Stats:
    stats = Stats()
    win = Window()
    per_channel = max(1, args.streams_per_channel)
    options: list[tuple[str, int]] = [("grpc.use_local_subchannel_pool", 1)]
    if args.pause:  # a slow mobile-like client: no window growth beyond 64 KiB
        options += [("grpc.http2.bdp_probe", 0), ("grpc.http2.lookahead_bytes", 65536)]
    channels = [
        grpc.aio.insecure_channel(args.target, options=options)
        for _ in range((args.streams + per_channel - 1) // per_channel)
    ]
    if not os.environ.get("BENCH_NO_DRAIN"):
        drain_completion_notices(asyncio.get_running_loop())  # see tickwire_server.grpc_loop
    tasks: list[asyncio.Task[None]] = []
    secret = os.environ.get("BENCH_JWT_SECRET")  # the auth scenario: one token per stream
    for i in range(args.streams):  # all at once: the burst after a server restart
        method = channels[i // per_channel].unary_stream(
            METHOD,
            request_serializer=pb.StreamPricesRequest.SerializeToString,
            response_deserializer=None,
        )
        tickers = stream_tickers(args.first_stream + i, args.universe, args.per_stream)
        metadata = None
        if secret:
            token = mint(secret, f"bench-{args.first_stream + i}", ["read"], ttl=3600)
            metadata = (("authorization", f"Bearer {token}"),)
        call = method(
            pb.StreamPricesRequest(tickers=tickers), metadata=metadata, wait_for_ready=True
        )
        tasks.append(asyncio.create_task(grpc_stream(call, stats, win, args.latency, args.pause)))
    await _window(stats, win, args.streams, tasks, args.deadline)
    for channel in channels:
        await channel.close(None)
    return stats


async def sse_stream(client: object, url: str, stats: Stats, win: Window, latency: bool) -> None:
    """Read one server-sent-events stream of JSON snapshots."""
    import httpx

    assert isinstance(client, httpx.AsyncClient)
    got = False
    try:
        async with client.stream("GET", url) as response:
            stats.connected += 1
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                now = time.time_ns()
                if now < win.start:
                    continue
                if now >= win.end:
                    break
                prices = json.loads(line[5:])["prices"]
                stats.updates += len(prices)
                stats.frames += 1
                stats.bytes += len(line)
                got = True
                if latency and len(stats.samples) < MAX_SAMPLES:
                    stats.samples.extend((now - p["ts"]) / 1000.0 for p in prices)
        stats.statuses["open"] += 1
    except httpx.HTTPError as exc:
        stats.statuses[type(exc).__name__] += 1
    finally:
        stats.receiving += got


async def run_sse(args: argparse.Namespace) -> Stats:
    import httpx

    stats = Stats()
    win = Window()
    limits = httpx.Limits(max_connections=args.streams + 1)
    async with httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(30.0)) as client:
        tasks = []
        for i in range(args.streams):
            tickers = stream_tickers(args.first_stream + i, args.universe, args.per_stream)
            url = f"http://{args.target}/prices?tickers={','.join(tickers)}"
            tasks.append(asyncio.create_task(sse_stream(client, url, stats, win, args.latency)))
        await _window(stats, win, args.streams, tasks, args.deadline)
    return stats


async def _window(
    stats: Stats, win: Window, streams: int, tasks: list[asyncio.Task[None]], deadline: float
) -> None:
    """Announce readiness, take the window from stdin, wait for it to pass."""
    loop = asyncio.get_running_loop()
    stop_at = loop.time() + deadline
    while stats.connected + sum(stats.statuses.values()) < streams and loop.time() < stop_at:
        await asyncio.wait(tasks, timeout=0.05)  # poll; returns early if streams end
    print(json.dumps({"event": "connected", "streams": stats.connected}), flush=True)
    line = await loop.run_in_executor(None, sys.stdin.readline)
    start, end = (int(x) for x in line.split()) if line.strip() else (0, 0)
    win.start, win.end = start, end
    wait = max(0.0, (end - time.time_ns()) / 1e9) + 0.5
    _, pending = await asyncio.wait(tasks, timeout=min(wait, max(0.0, stop_at - loop.time())))
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.clients")
    parser.add_argument("kind", choices=["grpc", "sse"])
    parser.add_argument("--target", required=True)
    parser.add_argument("--streams", type=int, default=1)
    parser.add_argument("--first-stream", type=int, default=0)
    parser.add_argument("--streams-per-channel", type=int, default=1)
    parser.add_argument("--universe", type=int, default=500)
    parser.add_argument("--per-stream", type=int, default=500)
    parser.add_argument("--latency", action="store_true")
    parser.add_argument("--pause", type=float, default=0.0, help="stop reading this long")
    parser.add_argument("--samples", default="", help="write latency samples here")
    parser.add_argument("--deadline", type=float, default=120.0, help="hard limit, seconds")
    args = parser.parse_args()
    host = args.target.rsplit(":", 1)[0].strip("[]")
    if host not in ("127.0.0.1", "localhost", "::1") and not args.target.startswith("unix:"):
        parser.error("benchmark clients target loopback only")
    runner = run_grpc if args.kind == "grpc" else run_sse
    stats = asyncio.run(runner(args))
    if args.samples:
        with open(args.samples, "wb") as out:
            stats.samples.tofile(out)
    result = {k: v for k, v in vars(stats).items() if k != "samples"}
    result.update(event="result", statuses=dict(stats.statuses), samples=len(stats.samples))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
