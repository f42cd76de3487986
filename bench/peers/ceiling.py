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

from bench.feed import Feed
from bench.serving import PEER_OPTIONS, ServeArgs, parse, run, serve_grpc
from tickwire.v1 import market_data_pb2 as pb
from tickwire_server import codec
from tickwire_server.domain import Quote

Context = grpc.aio.ServicerContext[pb.StreamPricesRequest, bytes]
RING = 8


def encode_batch(
    batch: list[tuple[str, float]], previous: dict[str, float], sequence: int, ts: int
) -> dict[str, bytes]:
    """One feed batch as an encoded `PriceBatch.updates` element per ticker.

    Each element is a live move from the ticker's `previous` price (updated
    here), with its change fields, as a running server sends it.
    """
    elements = {}
    encoder = codec.Encoder()
    for ticker, price in batch:
        quote = Quote(ticker, price, ts)
        elements[ticker] = encoder.live_element(quote, previous.get(ticker, price), sequence)
        previous[ticker] = price
    return elements


def encode_batches(feed: Feed, count: int) -> list[dict[str, bytes]]:
    """`count` feed batches, encoded as a running server's updates (sequences in the thousands).

    A frame is then as many bytes per update as tickwire's.
    """
    now = time.time_ns()
    previous = dict(feed.next_batch())
    return [encode_batch(feed.next_batch(), previous, 10_000 + n, now) for n in range(count)]


class Ring:
    """Flat out: a publish moves the cursor over pre-encoded batches."""

    def __init__(self, feed: Feed) -> None:
        self._ring = encode_batches(feed, RING)
        self._cursor = 0

    def publish(self, batch: list[tuple[str, float]], ts: int) -> None:
        self._cursor += 1

    async def stream(self, tickers: list[str], context: Context) -> None:
        wanted = [t for t in tickers if t in self._ring[0]]
        frames = [codec.prices_frame(elements[t] for t in wanted) for elements in self._ring]
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
        self._elements = encode_batch(batch, self._previous, self._sequence, ts)
        self._frames = {}
        published, self._published = self._published, asyncio.Event()
        published.set()

    async def stream(self, tickers: list[str], context: Context) -> None:
        wanted = tuple(t for t in tickers if t in self._known)
        while True:
            await self._published.wait()
            frame = self._frames.get(wanted)
            if frame is None:
                elements = self._elements
                frame = self._frames[wanted] = codec.prices_frame(elements[t] for t in wanted)
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
                response_serializer=None,  # the frames are sent as they are
            )
        },
    )
    server = grpc.aio.server(options=PEER_OPTIONS)
    server.add_generic_rpc_handlers((handler,))
    await serve_grpc(server, args, feed, design.publish, tuned=True)


def main() -> None:
    args = parse(prog="bench.peers.ceiling")
    run(lambda: serve(args), args.uvloop)


if __name__ == "__main__":
    main()
