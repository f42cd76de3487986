"""Waits over a price stream by predicate (in order or in any order), for the Massive suites."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from support import DEFAULT_WAIT, Call

from tickwire.v1 import market_data_pb2 as pb
from tickwire.v1 import market_data_pb2_grpc as rpc

Check = Callable[[pb.SubscribeResponse], bool]
SERVICE = "tickwire.v1.MarketData"


async def until(call: Call, check: Check, wait: float = DEFAULT_WAIT) -> pb.SubscribeResponse:
    """The first message for which `check` holds, skipping the others."""
    async with asyncio.timeout(wait):
        while True:
            message = await call.read()
            assert message is not grpc.aio.EOF, "the stream ended"
            if check(message):
                return message


async def until_all(call: Call, *checks: Check, wait: float = DEFAULT_WAIT) -> None:
    """Read until every check has held for some message, in any order."""
    pending = list(checks)
    async with asyncio.timeout(wait):
        while pending:
            message = await call.read()
            assert message is not grpc.aio.EOF, "the stream ended"
            pending = [check for check in pending if not check(message)]


def source_state(state: int, text: str = "") -> Check:
    """A market_status message with this source state (and `text` in its message)."""

    def check(m: pb.SubscribeResponse) -> bool:
        s = m.market_status
        return m.HasField("market_status") and s.source_state == state and text in s.message

    return check


def update_of(ticker: str, state: int, price: float | None = None) -> Check:
    """A prices message with an update of `ticker` in `state` (at `price`, if given)."""

    def check(m: pb.SubscribeResponse) -> bool:
        return any(
            u.ticker == ticker and u.state == state and (price is None or u.price == price)
            for u in m.prices.updates
        )

    return check


async def health(channel: grpc.aio.Channel) -> int:
    """The health status of the MarketData service."""
    stub = health_pb2_grpc.HealthStub(channel)
    request = health_pb2.HealthCheckRequest(service=SERVICE)
    return int((await stub.Check(request, timeout=DEFAULT_WAIT)).status)


async def market_status(stub: rpc.MarketDataStub) -> pb.MarketStatus:
    request = pb.GetMarketStatusRequest()
    return (await stub.GetMarketStatus(request, timeout=DEFAULT_WAIT)).status
