"""The naive peer: grpc.aio the straightforward way, with the generated stubs.

Every update becomes its own `PriceUpdate` message, put on an unbounded
`asyncio.Queue` per subscriber and serialised by grpc for each subscriber as
it is sent. No batching, no conflation: what a competent engineer writes
first. It gets the same completion drain as tickwire, so the comparison is
between designs, not between event-loop plumbing.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from bench.feed import Feed
from bench.serving import PEER_OPTIONS, ServeArgs, parse, run, serve_grpc
from tickwire.v1 import market_data_pb2 as pb
from tickwire.v1 import market_data_pb2_grpc as rpc


class NaiveMarketData(rpc.MarketDataServicer):
    """StreamPrices only: latest price per ticker, one queue per subscriber."""

    def __init__(self) -> None:
        self.latest: dict[str, pb.PriceUpdate] = {}
        self.queues: defaultdict[str, set[asyncio.Queue[pb.PriceUpdate]]] = defaultdict(set)

    def publish(self, batch: list[tuple[str, float]], ts: int) -> None:
        stamp = Timestamp(seconds=ts // 1_000_000_000, nanos=ts % 1_000_000_000)
        for ticker, price in batch:
            previous = self.latest.get(ticker)
            prev_price = previous.price if previous is not None else price
            change = price - prev_price
            update = pb.PriceUpdate(
                ticker=ticker,
                price=price,
                previous_price=prev_price,
                change=change,
                change_percent=change / prev_price * 100.0,
                direction=pb.DIRECTION_UP
                if change > 0
                else pb.DIRECTION_DOWN
                if change < 0
                else pb.DIRECTION_FLAT,
                timestamp=stamp,
                sequence=previous.sequence + 1 if previous is not None else 1,
                state=pb.DATA_STATE_LIVE,
            )
            self.latest[ticker] = update
            for queue in self.queues.get(ticker, ()):
                queue.put_nowait(update)

    async def StreamPrices(  # noqa: N802 - the generated servicer's name
        self, request: pb.StreamPricesRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[pb.SubscribeResponse]:
        queue: asyncio.Queue[pb.PriceUpdate] = asyncio.Queue()
        tickers = list(dict.fromkeys(request.tickers))
        for ticker in tickers:
            self.queues[ticker].add(queue)
            if ticker in self.latest:
                snapshot = pb.PriceUpdate()
                snapshot.CopyFrom(self.latest[ticker])
                snapshot.state = pb.DATA_STATE_SNAPSHOT
                queue.put_nowait(snapshot)
        try:
            while True:
                update = await queue.get()
                yield pb.SubscribeResponse(prices=pb.PriceBatch(updates=[update]))
        finally:
            for ticker in tickers:
                self.queues[ticker].discard(queue)


async def serve(args: ServeArgs) -> None:
    service = NaiveMarketData()
    server = grpc.aio.server(options=PEER_OPTIONS)
    rpc.add_MarketDataServicer_to_server(service, server)
    feed = Feed(args.tickers)
    service.publish(feed.next_batch(), time.time_ns())
    await serve_grpc(server, args, feed, service.publish)


def main() -> None:
    args = parse(prog="bench.peers.naive")
    run(lambda: serve(args), args.uvloop)


if __name__ == "__main__":
    main()
