"""The ceiling peer: every stream writes pre-encoded `PriceBatch` frames, nothing else.

No cache, hub, validation or per-update work. Flat out (`--hz 0`) it encodes
a ring of feed batches at start; the same feed loop as every other design
runs (so the event loop is as busy as theirs) but a publish only moves the
ring's cursor, and each stream writes the current frame of its tickers as
fast as the transport takes it: the most the transport gives.

Paced (`--hz` > 0, the latency scenario) fresh prices must carry their publish
time, so each publish encodes its batch once (the fastest encoder there is,
tickwire's own) and wakes every stream, which writes the frame of its tickers,
joined once per distinct ticker list: the least time a frame can take from
publish to the wire. Both modes use the same completion drain and garbage-
collector tuning as tickwire.
"""

from __future__ import annotations

import asyncio
import time

import grpc

from bench.feed import Feed, drive
from bench.serving import ServeArgs, announce, parse, run, until_stopped
from tickwire.v1 import market_data_pb2 as pb
from tickwire_server import wire
from tickwire_server.app import tune_gc
from tickwire_server.domain import Quote
from tickwire_server.grpc_loop import drain_completion_notices

Context = grpc.aio.ServicerContext[pb.StreamPricesRequest, bytes]
RING = 8


def encode_batches(feed: Feed, count: int) -> list[dict[str, bytes]]:
    """`count` feed batches, each as one encoded `PriceBatch.updates` element per ticker.

    Every element carries what a live update of a running server carries (a
    move from the previous price with its change fields, a sequence in the
    thousands), so a frame is as many bytes per update as tickwire's.
    """
    now = wire.timestamp(time.time_ns())
    previous = dict(feed.next_batch())
    ring = []
    for n in range(count):
        elements = {}
        for ticker, price in feed.next_batch():
            before = previous[ticker]
            change = price - before
            update = pb.PriceUpdate(
                ticker=ticker,
                price=price,
                previous_price=before,
                change=change,
                change_percent=change / before * 100.0,
                direction=pb.DIRECTION_UP
                if change > 0
                else pb.DIRECTION_DOWN
                if change < 0
                else pb.DIRECTION_FLAT,
                timestamp=now,
                sequence=10_000 + n,
                state=pb.DATA_STATE_LIVE,
            )
            elements[ticker] = wire.update_element(update)
            previous[ticker] = price
        ring.append(elements)
    return ring


class Ring:
    """Flat out: a publish moves the cursor over pre-encoded batches."""

    def __init__(self, feed: Feed) -> None:
        self._ring = encode_batches(feed, RING)
        self._cursor = 0

    def publish(self, batch: list[tuple[str, float]], ts: int) -> None:
        self._cursor += 1

    async def stream(self, tickers: list[str], context: Context) -> None:
        wanted = [t for t in tickers if t in self._ring[0]]
        frames = [wire.prices_frame(elements[t] for t in wanted) for elements in self._ring]
        while True:
            await context.write(frames[self._cursor % RING])


class Fresh:
    """Paced: each publish encodes its batch once and wakes every stream."""

    def __init__(self, feed: Feed) -> None:
        self._known = frozenset(feed.tickers)
        self._previous: dict[str, float] = {}
        self._sequence = 0
        self._frames: dict[tuple[str, ...], bytes] = {}
        self._elements: dict[str, bytes] = {}
        self._published = asyncio.Event()

    def publish(self, batch: list[tuple[str, float]], ts: int) -> None:
        self._sequence += 1
        previous = self._previous
        elements = {}
        for ticker, price in batch:
            quote = Quote(ticker, price, ts)
            elements[ticker] = wire.live_element(quote, previous.get(ticker, price), self._sequence)
            previous[ticker] = price
        self._elements, self._frames = elements, {}
        published, self._published = self._published, asyncio.Event()
        published.set()

    async def stream(self, tickers: list[str], context: Context) -> None:
        wanted = tuple(t for t in tickers if t in self._known)
        while True:
            await self._published.wait()
            frame = self._frames.get(wanted)
            if frame is None:
                elements = self._elements
                frame = self._frames[wanted] = wire.prices_frame(elements[t] for t in wanted)
            await context.write(frame)


async def serve(args: ServeArgs) -> None:
    feed = Feed(args.tickers)
    design = Ring(feed) if args.hz <= 0 else Fresh(feed)

    async def stream_prices(request: pb.StreamPricesRequest, context: Context) -> None:
        await design.stream(list(request.tickers), context)

    handler = grpc.method_handlers_generic_handler(
        "tickwire.v1.MarketData",
        {
            "StreamPrices": grpc.unary_stream_rpc_method_handler(
                stream_prices,
                request_deserializer=pb.StreamPricesRequest.FromString,
                response_serializer=lambda frame: frame,
            )
        },
    )
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port(f"{args.host}:{args.port}")
    await server.start()
    drain_completion_notices(asyncio.get_running_loop())
    tune_gc()  # the same process tuning as tickwire-server
    source = asyncio.create_task(drive(feed, design.publish, args.hz))
    announce(f"{args.host}:{port}")
    await until_stopped(args.max_seconds)
    source.cancel()
    await server.stop(0.5)


def main() -> None:
    args = parse(prog="bench.peers.ceiling")
    run(lambda: serve(args), args.uvloop)


if __name__ == "__main__":
    main()
