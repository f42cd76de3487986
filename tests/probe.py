"""A client on one of the tests' hosts: prints what it sees as JSON lines, until killed.

    python tests/probe.py TARGETS TICKER[,TICKER...]

TARGETS is one "IP:PORT" or several joined by commas (the Python client's
list of servers). Lines: {"kind": "update", ticker, sequence, price,
state, t}, {"kind": "state", state, t} for the subscription's connection
states, and {"kind": "health", target, status, t} whenever a target's
gRPC health (of tickwire.v1.MarketData) changes. `t` is seconds on this
machine's monotonic clock, which the test shares.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tickwire import Client, StateChange


def say(**fields: object) -> None:
    print(json.dumps({**fields, "t": time.monotonic()}), flush=True)


async def watch_health(target: str) -> None:
    last = None
    async with grpc.aio.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            try:
                reply = await stub.Check(
                    health_pb2.HealthCheckRequest(service="tickwire.v1.MarketData"), timeout=0.5
                )
                status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
            except grpc.aio.AioRpcError as exc:
                status = exc.code().name
            if status != last:
                say(kind="health", target=target, status=status)
                last = status
            await asyncio.sleep(0.2)


async def main(targets: str, tickers: str) -> None:
    def on_state(change: StateChange) -> None:
        say(kind="state", state=change.state.value)

    watchers = [asyncio.create_task(watch_health(t)) for t in targets.split(",")]
    async with Client(targets, timeout=5) as client:
        async for update in client.subscribe(*tickers.split(","), on_state=on_state):
            say(
                kind="update",
                ticker=update.ticker,
                sequence=update.sequence,
                price=update.price,
                state=update.state,
            )
    for task in watchers:
        task.cancel()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
