"""The ceiling peer: every stream writes pre-encoded `PriceBatch` frames, nothing else.

No cache, hub, validation or per-update work: at start it encodes a ring of
feed batches; the same feed loop as every other design runs (so the event
loop is as busy as theirs) but a publish only moves the ring's cursor. Each
stream writes the current frame of its tickers as fast as the transport takes
it, with the same completion drain as tickwire: the most the transport gives.
"""

from __future__ import annotations

import asyncio
import time

import grpc

from bench.feed import Feed, drive
from bench.serving import ServeArgs, announce, parse, run, until_stopped
from tickwire.v1 import market_data_pb2 as pb
from tickwire_server import wire
from tickwire_server.grpc_loop import drain_completion_notices

Context = grpc.aio.ServicerContext[pb.StreamPricesRequest, bytes]
RING = 8


def encode_batches(feed: Feed, count: int) -> list[dict[str, bytes]]:
    """`count` feed batches, each as one encoded `PriceBatch.updates` element per ticker."""
    now = time.time_ns()
    ring = []
    for n in range(count):
        elements = {}
        for ticker, price in feed.next_batch():
            update = pb.PriceUpdate(
                ticker=ticker,
                price=price,
                previous_price=price,
                direction=pb.DIRECTION_FLAT,
                timestamp=wire.timestamp(now),
                sequence=n + 1,
                state=pb.DATA_STATE_LIVE,
            )
            elements[ticker] = wire.update_element(update)
        ring.append(elements)
    return ring


async def serve(args: ServeArgs) -> None:
    feed = Feed(args.tickers)
    ring = encode_batches(feed, RING)
    cursor = [0]

    def publish(batch: list[tuple[str, float]], ts: int) -> None:
        cursor[0] += 1

    async def stream_prices(request: pb.StreamPricesRequest, context: Context) -> None:
        wanted = [t for t in request.tickers if t in ring[0]]
        frames = [wire.prices_frame(elements[t] for t in wanted) for elements in ring]
        while True:
            await context.write(frames[cursor[0] % RING])

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
    source = asyncio.create_task(drive(feed, publish, args.hz))
    announce(f"{args.host}:{port}")
    await until_stopped(args.max_seconds)
    source.cancel()
    await server.stop(0.5)


def main() -> None:
    args = parse(prog="bench.peers.ceiling")
    run(lambda: serve(args), args.uvloop)


if __name__ == "__main__":
    main()
