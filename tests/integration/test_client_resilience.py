"""tickwire.Client across lost answers and restarts: re-sent requests, reconnect limits, cleanup."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path

import pytest
from fakes.scripted import ScriptedSource
from helpers import Restartable, StateLog, price_reaches

from tickwire import (
    Backoff,
    Client,
    ConnectionState,
    RpcError,
    SubscriptionError,
    TickerStatus,
)
from tickwire_server.testing import serve_in_process

WAIT = 10.0
PRICES = {"AAPL": 190.0, "MSFT": 420.0}
QUICK = Backoff(initial=0.01, maximum=0.05, reset_after=0.0)


class AnswerLosingSource(ScriptedSource):
    """A scripted source that, once, kills the stream's request reader when the
    hub asks it to `action` ("add" or "remove") `ticker`.

    The server has then taken the request in but never answers it, as when a
    connection drops between the client's write and the server's ack.
    """

    def __init__(self, prices: Mapping[str, float], action: str, ticker: str) -> None:
        super().__init__(prices)
        self._lose = (action, ticker)
        self.lost = asyncio.Event()

    def add_ticker(self, ticker: str) -> None:
        self._maybe_lose("add", ticker)
        super().add_ticker(ticker)

    def remove_ticker(self, ticker: str) -> bool:
        self._maybe_lose("remove", ticker)
        return super().remove_ticker(ticker)

    def _maybe_lose(self, action: str, ticker: str) -> None:
        if (action, ticker) == self._lose and not self.lost.is_set():
            self.lost.set()
            raise asyncio.CancelledError  # ends the stream's request reader, not the stream


async def test_an_add_whose_answer_is_lost_with_the_stream_is_sent_again(
    tmp_path: Path,
) -> None:
    losing = AnswerLosingSource(PRICES, "add", "MSFT")
    async with (
        Restartable(tmp_path / "restart.sock") as servers,
        Client(servers, backoff=QUICK, timeout=WAIT) as client,
    ):
        await servers.start(losing)
        prices = client.subscribe("AAPL")
        await price_reaches(prices, "AAPL", 190.0)
        adding = asyncio.create_task(prices.add("MSFT"))
        await asyncio.wait_for(losing.lost.wait(), WAIT)
        await servers.stop()

        await servers.start(ScriptedSource({"AAPL": 250.0, "MSFT": 500.0}))
        results = await asyncio.wait_for(adding, WAIT)
        assert [(r.ticker, r.status) for r in results] == [("MSFT", TickerStatus.OK)]
        await price_reaches(prices, "MSFT", 500.0)
        assert prices.tickers == ["AAPL", "MSFT"]


async def test_a_remove_whose_answer_is_lost_with_the_stream_is_sent_again(
    tmp_path: Path,
) -> None:
    losing = AnswerLosingSource(PRICES, "remove", "MSFT")
    async with (
        Restartable(tmp_path / "restart.sock") as servers,
        Client(servers, backoff=QUICK, timeout=WAIT) as client,
    ):
        await servers.start(losing)
        prices = client.subscribe("AAPL", "MSFT")
        await price_reaches(prices, "MSFT", 420.0)
        removing = asyncio.create_task(prices.remove("MSFT"))
        await asyncio.wait_for(losing.lost.wait(), WAIT)
        await servers.stop()

        server = await servers.start({"AAPL": 250.0, "MSFT": 500.0})
        results = await asyncio.wait_for(removing, WAIT)
        # The new stream never had MSFT: the re-sent request finds nothing to remove.
        assert [(r.ticker, r.status) for r in results] == [("MSFT", TickerStatus.NOT_SUBSCRIBED)]
        server.push({"MSFT": 501.0})
        server.push({"AAPL": 251.0})
        seen = await price_reaches(prices, "AAPL", 251.0)
        assert "MSFT" not in {u.ticker for u in seen}
        assert prices.tickers == ["AAPL"]


async def test_an_unanswered_add_raises_deadline_exceeded(tmp_path: Path) -> None:
    async with (
        Restartable(tmp_path / "tickwire.sock") as servers,
        Client(servers, timeout=0.3) as client,
    ):
        await servers.start(AnswerLosingSource(PRICES, "add", "MSFT"))
        prices = client.subscribe("AAPL")
        await price_reaches(prices, "AAPL", 190.0)
        with pytest.raises(RpcError) as info:
            await asyncio.wait_for(prices.add("MSFT"), WAIT)
        assert info.value.code == "DEADLINE_EXCEEDED"
        assert prices.tickers == ["AAPL"]


async def test_max_reconnects_counts_failed_attempts_in_a_row() -> None:
    states = StateLog()
    async with (
        serve_in_process(PRICES, heartbeat_interval=60) as server,
        Client(server, backoff=QUICK, heartbeat_timeout=0.2, max_reconnects=2) as client,
    ):
        prices = client.subscribe("AAPL", on_state=states)
        # Each quiet stream is dropped by the watchdog and the next one is
        # healthy at once (reset_after=0), so the count starts again each time.
        await states.wait_for(ConnectionState.CONNECTED, count=4)
        assert prices.stats.reconnects >= 3

        # Down for good: two attempts in a row fail, then the subscription gives up.
        await server.stop()
        with pytest.raises(RpcError, match="gave up after 2 reconnects in a row") as info:
            async with asyncio.timeout(WAIT):
                async for _ in prices:
                    pass
        assert info.value.code == "UNAVAILABLE"
    retries = [c.attempt for c in states.changes if c.state is ConnectionState.RECONNECTING]
    assert retries[-2:] == [1, 2]
    assert prices.state is ConnectionState.CLOSED


async def test_the_client_lets_go_of_closed_and_failed_subscriptions() -> None:
    async with (
        serve_in_process(PRICES, strict=True) as server,
        Client(server) as client,
    ):  # fmt: skip
        live = client.subscribe("AAPL")
        closed = client.subscribe("MSFT")
        await price_reaches(closed, "MSFT", 420.0)
        await asyncio.wait_for(closed.close(), WAIT)
        failed = client.subscribe("NOPE", strict=True)
        with pytest.raises(SubscriptionError):
            await asyncio.wait_for(anext(failed), WAIT)
        assert client._subscriptions == {live}
