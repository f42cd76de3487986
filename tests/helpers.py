"""Helpers shared by the test suites: stream reads and waits, state logs, servers.

Every server a test starts goes through `tickwire_server.testing`: directly,
or through `serving` (a server, a channel and its stub) and `Restartable`
(servers one after another on one unix socket path).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tickwire import ConnectionState, PriceUpdate, StateChange, Subscription
from tickwire.v1 import market_data_pb2 as pb
from tickwire.v1 import market_data_pb2_grpc as rpc
from tickwire_server.app import TickwireServer
from tickwire_server.config import Settings
from tickwire_server.sources.base import PriceSource
from tickwire_server.testing import InProcessServer, serve_in_process

Call = grpc.aio.StreamStreamCall[Any, Any] | grpc.aio.UnaryStreamCall[Any, Any]
Check = Callable[[pb.SubscribeResponse], bool]

DEFAULT_WAIT = 5.0
SERVICE = "tickwire.v1.MarketData"


# Servers ---------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def serving(
    settings: Settings | None = None, source: PriceSource | None = None, **overrides: Any
) -> AsyncIterator[tuple[TickwireServer, grpc.aio.Channel, rpc.MarketDataStub]]:
    """A server started by the testing helper, a channel to it and its stub.

    `settings` and `source` as for `serve_in_process`: settings given alone
    serve the source they name.
    """
    async with (
        serve_in_process(settings=settings, source=source, **overrides) as running,
        grpc.aio.insecure_channel(running.target) as channel,
    ):
        yield running.server, channel, rpc.MarketDataStub(channel)


class Restartable:
    """Test servers on one unix socket path, one at a time, so a restart keeps the
    address; the running one is stopped on exit."""

    def __init__(self, socket: Path) -> None:
        self.target = f"unix:{socket}"
        self._socket = socket
        self._running: contextlib.AsyncExitStack | None = None
        self.server: InProcessServer | None = None

    async def start(self, source: PriceSource | Mapping[str, float]) -> InProcessServer:
        """Serve `source` (or the testing helper's source of these prices) on the socket."""
        await self.stop()
        stack = contextlib.AsyncExitStack()
        options: dict[str, Any] = {"unix_socket": self._socket, "shutdown_grace": 0.2}
        if isinstance(source, Mapping):
            options["prices"] = source
        else:
            options["source"] = source
        self.server = await stack.enter_async_context(serve_in_process(**options))
        self._running = stack
        return self.server

    async def stop(self) -> None:
        """Stop the running server, if any (its streams end UNAVAILABLE)."""
        running, self._running, self.server = self._running, None, None
        if running is not None:
            await running.aclose()

    async def __aenter__(self) -> Restartable:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


# Raw streams -----------------------------------------------------------------------------


async def next_message(call: Call, kind: str, wait: float = DEFAULT_WAIT) -> pb.SubscribeResponse:
    """The next response of `kind` ("prices", "ack", ...), skipping others."""
    return await until(call, lambda m: m.WhichOneof("response") == kind, wait)


async def until(call: Call, check: Check, wait: float = DEFAULT_WAIT) -> pb.SubscribeResponse:
    """The first message for which `check` holds, skipping the others."""
    async with asyncio.timeout(wait):
        while True:
            message = await call.read()
            assert isinstance(message, pb.SubscribeResponse), "the stream ended"
            if check(message):
                return message


async def until_all(call: Call, *checks: Check, wait: float = DEFAULT_WAIT) -> None:
    """Read until every check has held for some message, in any order."""
    pending = list(checks)
    async with asyncio.timeout(wait):
        while pending:
            message = await call.read()
            assert isinstance(message, pb.SubscribeResponse), "the stream ended"
            pending = [check for check in pending if not check(message)]


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


async def ending(call: Call, wait: float = DEFAULT_WAIT) -> grpc.aio.AioRpcError:
    """Read the stream to its end; return the error status it ended with."""
    try:
        async with asyncio.timeout(wait):
            while isinstance(await call.read(), pb.SubscribeResponse):
                pass
    except grpc.aio.AioRpcError as error:
        return error
    raise AssertionError("the stream ended with OK")


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


async def health(channel: grpc.aio.Channel, service: str = SERVICE) -> int:
    """The health status of `service` (the MarketData service by default)."""
    stub = health_pb2_grpc.HealthStub(channel)
    request = health_pb2.HealthCheckRequest(service=service)
    return int((await stub.Check(request, timeout=DEFAULT_WAIT)).status)


async def market_status(stub: rpc.MarketDataStub) -> pb.MarketStatus:
    request = pb.GetMarketStatusRequest()
    status: pb.MarketStatus = (await stub.GetMarketStatus(request, timeout=DEFAULT_WAIT)).status
    return status


# The Python client -----------------------------------------------------------------------


async def price_reaches(
    subscription: Subscription, ticker: str, price: float, wait: float = 10.0
) -> list[PriceUpdate]:
    """Updates read from `subscription` until `ticker` is seen at `price`."""
    seen: list[PriceUpdate] = []
    async with asyncio.timeout(wait):
        async for update in subscription:
            seen.append(update)
            if update.ticker == ticker and update.price == price:
                return seen
    raise AssertionError(f"the subscription ended before {ticker} reached {price}")


class StateLog:
    """Collects a subscription's state changes (pass it as `on_state`)."""

    def __init__(self) -> None:
        self.changes: list[StateChange] = []
        self._changed = asyncio.Event()

    def __call__(self, change: StateChange) -> None:
        self.changes.append(change)
        self._changed.set()

    async def wait_for(self, state: ConnectionState, count: int = 1, wait: float = 10.0) -> None:
        """Return once `state` was reached `count` times; fail at once if closed before."""
        async with asyncio.timeout(wait):
            while sum(c.state is state for c in self.changes) < count:
                closed = [c for c in self.changes if c.state is ConnectionState.CLOSED]
                assert not closed, f"closed while waiting for {state}: {closed[0].reason}"
                self._changed.clear()
                await self._changed.wait()


async def eventually_async(
    check: Callable[[], Awaitable[bool]], wait: float = DEFAULT_WAIT, every: float = 0.02
) -> None:
    """`eventually` for a check that must await (a call to the server)."""
    async with asyncio.timeout(wait):
        while True:
            if await check():
                return
            await asyncio.sleep(every)


async def eventually(
    check: Callable[[], bool], wait: float = DEFAULT_WAIT, every: float = 0.02
) -> None:
    """Wait until `check()` holds, for state no event announces; fail after `wait` seconds."""
    async with asyncio.timeout(wait):
        while True:
            if check():
                return
            await asyncio.sleep(every)
