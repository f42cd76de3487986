"""tickwire.Client against real in-process servers: streams, resilience, unary calls."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from helpers import Restartable, StateLog, price_reaches

from tickwire import (
    Backoff,
    Client,
    ConnectionState,
    RpcError,
    SubscriptionError,
    TickerStatus,
)
from tickwire_server.domain import Quote
from tickwire_server.testing import InProcessServer, serve_in_process

WAIT = 10.0


@pytest.fixture
async def server() -> AsyncIterator[InProcessServer]:
    async with serve_in_process({"AAPL": 190.0, "MSFT": 420.0}, strict=True) as running:
        yield running


async def test_subscribe_yields_the_snapshot_then_live_updates(server: InProcessServer) -> None:
    async with Client(server) as client:
        prices = client.subscribe("aapl")
        first = await asyncio.wait_for(anext(prices), WAIT)
        assert (first.ticker, first.price, first.state) == ("AAPL", 190.0, 2)  # SNAPSHOT
        server.push({"AAPL": 191.0})
        second = await asyncio.wait_for(anext(prices), WAIT)
        assert (second.price, second.previous_price, second.sequence) == (191.0, 190.0, 2)
        assert prices.results[0].status is TickerStatus.OK


async def test_add_and_remove_change_the_live_stream(server: InProcessServer) -> None:
    async with Client(server) as client:
        prices = client.subscribe("AAPL")
        await price_reaches(prices, "AAPL", 190.0)
        results = await prices.add("MSFT", "NOPE")
        assert [(r.ticker, r.status) for r in results] == [
            ("MSFT", TickerStatus.OK),
            ("NOPE", TickerStatus.UNKNOWN_TICKER),
        ]
        await price_reaches(prices, "MSFT", 420.0)
        assert prices.tickers == ["AAPL", "MSFT"]

        removed = await prices.remove("AAPL")
        assert removed[0].ok
        server.push({"AAPL": 1.0})
        server.push({"MSFT": 421.0})
        seen = await price_reaches(prices, "MSFT", 421.0)
        assert "AAPL" not in {u.ticker for u in seen}
        assert prices.tickers == ["MSFT"]


async def test_strict_mode_turns_rejections_into_exceptions(server: InProcessServer) -> None:
    async with Client(server) as client:
        prices = client.subscribe("AAPL", "bad$", strict=True)
        with pytest.raises(SubscriptionError) as info:
            async with asyncio.timeout(WAIT):
                async for _ in prices:
                    pass
        assert [(r.ticker, r.status) for r in info.value.rejected] == [
            ("bad$", TickerStatus.INVALID_SYMBOL)
        ]

        lenient = client.subscribe("AAPL")
        await price_reaches(lenient, "AAPL", 190.0)
        with pytest.raises(SubscriptionError, match="ZZZZ"):
            await lenient.add("ZZZZ", strict=True)


async def test_sequence_gaps_are_counted_and_conflation_reported(
    server: InProcessServer,
) -> None:
    async with Client(server) as client:
        prices = client.subscribe("AAPL")
        await price_reaches(prices, "AAPL", 190.0)
        now = time.time_ns()
        # Three updates in one hand-off: the server keeps only the newest.
        server.push(
            [Quote("AAPL", 191.0, now), Quote("AAPL", 192.0, now), Quote("AAPL", 193.0, now)]
        )
        await price_reaches(prices, "AAPL", 193.0)
        assert prices.stats.gaps == 1
        assert prices.stats.missed == 2
        assert prices.stats.conflated >= 2


async def test_reconnects_with_backoff_and_restores_the_subscription(tmp_path: Path) -> None:
    states = StateLog()
    backoff = Backoff(initial=0.05, maximum=0.4, multiplier=2.0, jitter=0.1)
    async with (
        Restartable(tmp_path / "restart.sock") as servers,
        Client(servers, backoff=backoff, on_state=states) as client,
    ):
        await servers.start({"AAPL": 190.0, "MSFT": 420.0})
        prices = client.subscribe("AAPL")
        await price_reaches(prices, "AAPL", 190.0)
        await prices.add("MSFT")
        await price_reaches(prices, "MSFT", 420.0)

        await servers.stop()
        await states.wait_for(ConnectionState.RECONNECTING, count=3)  # retries while down
        server = await servers.start({"AAPL": 250.0, "MSFT": 500.0})
        seen = await price_reaches(prices, "MSFT", 500.0)
        assert "AAPL" in {u.ticker for u in seen}  # both restored by one resubscribe
        server.push({"AAPL": 251.0})
        await price_reaches(prices, "AAPL", 251.0)
        assert prices.state is ConnectionState.CONNECTED
        await servers.stop()

    retries = [c for c in states.changes if c.state is ConnectionState.RECONNECTING]
    assert [c.attempt for c in retries[:3]] == [1, 2, 3]
    for change in retries:
        expected = min(
            backoff.maximum, backoff.initial * backoff.multiplier ** (change.attempt - 1)
        )
        assert expected * 0.9 <= change.delay <= expected * 1.1
    assert prices.stats.reconnects == len(retries)
    assert states.changes[-1].state is ConnectionState.CLOSED


async def test_watchdog_treats_a_silent_open_stream_as_dead() -> None:
    states = StateLog()
    async with (
        serve_in_process({"AAPL": 190.0}, heartbeat_interval=60) as server,
        Client(server, heartbeat_timeout=0.3, backoff=Backoff(initial=0.01), on_state=states)
        as client,
    ):  # fmt: skip
        prices = client.subscribe("AAPL")
        await price_reaches(prices, "AAPL", 190.0)
        await states.wait_for(ConnectionState.RECONNECTING)
        reasons = [c.reason for c in states.changes if c.state is ConnectionState.RECONNECTING]
        assert "heartbeat watchdog" in reasons[0]
        await states.wait_for(ConnectionState.CONNECTED, count=2)
        server.push({"AAPL": 195.0})
        await price_reaches(prices, "AAPL", 195.0)


async def test_unary_calls_and_their_errors(server: InProcessServer) -> None:
    async with Client(server) as client:
        server.push({"MSFT": 421.5})
        snapshot = await client.snapshot("msft", "AAPL", "QQQ")
        assert {t: u.price for t, u in snapshot.items()} == {"MSFT": 421.5, "AAPL": 190.0}
        with pytest.raises(SubscriptionError, match="QQQ"):
            await client.snapshot("QQQ", strict=True)
        assert [t.ticker for t in await client.tickers()] == ["AAPL", "MSFT"]
        assert (await client.market_status()).source == "synthetic"

    async with Client("unix:/nonexistent/tickwire.sock", timeout=1) as unreachable:
        with pytest.raises(RpcError) as info:
            await unreachable.tickers()
        assert info.value.code in ("UNAVAILABLE", "DEADLINE_EXCEEDED")


async def test_close_leaves_no_task_behind(server: InProcessServer) -> None:
    client = Client(server)
    prices = client.subscribe("AAPL")
    await price_reaches(prices, "AAPL", 190.0)
    await client.close()
    await client.close()
    assert [t for t in asyncio.all_tasks() if t.get_name() == "tickwire-subscription"] == []
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(anext(prices), WAIT)
