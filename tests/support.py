"""Helpers shared by the integration and end-to-end suites."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import grpc

from tickwire.v1 import market_data_pb2 as pb
from tickwire.v1 import market_data_pb2_grpc as rpc
from tickwire_server.app import TickwireServer
from tickwire_server.config import Settings
from tickwire_server.sources.base import PriceSource

Call = grpc.aio.StreamStreamCall | grpc.aio.UnaryStreamCall  # type: ignore[type-arg]

DEFAULT_WAIT = 5.0


async def next_message(call: Call, kind: str, wait: float = DEFAULT_WAIT) -> pb.SubscribeResponse:
    """The next response of `kind` ("prices", "ack", ...), skipping others."""
    async with asyncio.timeout(wait):
        while True:
            message = await call.read()
            assert message is not grpc.aio.EOF, f"stream ended while waiting for {kind}"
            if message.WhichOneof("response") == kind:
                return message


async def prices_until(
    call: Call,
    done: Callable[[list[pb.PriceUpdate]], bool],
    wait: float = DEFAULT_WAIT,
) -> list[pb.PriceUpdate]:
    """Every price update read until `done(updates so far)` is true."""
    updates: list[pb.PriceUpdate] = []
    async with asyncio.timeout(wait):
        while not done(updates):
            message = await next_message(call, "prices", wait)
            updates.extend(message.prices.updates)
    return updates


def has(ticker: str, price: float | None = None) -> Callable[[list[pb.PriceUpdate]], bool]:
    """A `done` predicate: an update of `ticker` (at `price`, if given) was read."""

    def check(updates: list[pb.PriceUpdate]) -> bool:
        return any(u.ticker == ticker and (price is None or u.price == price) for u in updates)

    return check


def subscribe(*tickers: str, request_id: str = "") -> pb.SubscribeRequest:
    return pb.SubscribeRequest(
        subscribe=pb.SubscribeTickers(tickers=list(tickers), request_id=request_id)
    )


def unsubscribe(*tickers: str, request_id: str = "") -> pb.SubscribeRequest:
    return pb.SubscribeRequest(
        unsubscribe=pb.UnsubscribeTickers(tickers=list(tickers), request_id=request_id)
    )


def statuses(ack: pb.SubscriptionAck) -> dict[str, str]:
    """{ticker: status name} of an ack, e.g. {"AAPL": "TICKER_STATUS_OK"}."""
    return {r.ticker: pb.TickerStatus.Name(r.status) for r in ack.results}


async def ending(call: Call, wait: float = DEFAULT_WAIT) -> grpc.aio.AioRpcError:
    """Read the stream to its end; return the error status it ended with."""
    try:
        async with asyncio.timeout(wait):
            while await call.read() is not grpc.aio.EOF:
                pass
    except grpc.aio.AioRpcError as error:
        return error
    raise AssertionError("the stream ended with OK")


@contextlib.asynccontextmanager
async def serving(
    settings: Settings, source: PriceSource | None = None
) -> AsyncIterator[tuple[TickwireServer, grpc.aio.Channel, rpc.MarketDataStub]]:
    """A started server (stopped on exit), a channel to it and its stub."""
    async with (
        TickwireServer(settings, source=source) as server,
        grpc.aio.insecure_channel(server.target) as channel,
    ):
        yield server, channel, rpc.MarketDataStub(channel)
