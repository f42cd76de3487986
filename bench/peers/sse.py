"""The SSE peer: FastAPI + uvicorn, a JSON snapshot of all prices every 500 ms.

The common design for live prices in a web stack: the feed updates a dict of
latest prices; each `GET /prices?tickers=A,B` is a server-sent-events stream
whose loop serialises the requested prices to JSON and sleeps 500 ms.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator

import uvicorn
from fastapi import FastAPI
from fastapi.responses import StreamingResponse

from bench.feed import Feed, drive
from bench.serving import ServeArgs, announce, parse, run

PERIOD = 0.5


def build_app(latest: dict[str, dict[str, object]]) -> FastAPI:
    """The FastAPI app serving `/prices` from `latest`."""
    app = FastAPI()

    @app.get("/prices")
    async def prices(tickers: str) -> StreamingResponse:
        wanted = [t for t in tickers.split(",") if t]

        async def events() -> AsyncIterator[str]:
            while True:
                snapshot = [latest[t] for t in wanted if t in latest]
                yield f"data: {json.dumps({'prices': snapshot})}\n\n"
                await asyncio.sleep(PERIOD)

        return StreamingResponse(events(), media_type="text/event-stream")

    return app


async def serve(args: ServeArgs) -> None:
    latest: dict[str, dict[str, object]] = {}
    previous: dict[str, float] = {}

    def publish(batch: list[tuple[str, float]], ts: int) -> None:
        for ticker, price in batch:
            prev = previous.get(ticker, price)
            previous[ticker] = price
            latest[ticker] = {"ticker": ticker, "price": price, "change": price - prev, "ts": ts}

    feed = Feed(args.tickers)
    publish(feed.next_batch(), time.time_ns())
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    config = uvicorn.Config(build_app(latest), log_level="warning", lifespan="off", loop="none")
    server = uvicorn.Server(config)
    source = asyncio.create_task(drive(feed.next_batch, publish, args.hz))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not serving.done():
        await asyncio.wait([serving], timeout=0.01)  # poll uvicorn's start flag
    announce(f"{args.host}:{sock.getsockname()[1]}")
    try:
        await asyncio.wait_for(asyncio.shield(serving), args.max_seconds)
    except TimeoutError:
        server.should_exit = True
        await serving
    finally:
        source.cancel()


def main() -> None:
    args = parse(prog="bench.peers.sse")
    run(lambda: serve(args), args.uvloop)


if __name__ == "__main__":
    main()
