"""The synthetic source behind a real server: its universe, its clock, its bars."""

from __future__ import annotations

import grpc
import pytest
from helpers import next_message, statuses, subscribe
from processes import spawned_server

from tickwire.v1 import market_data_pb2 as pb
from tickwire.v1 import market_data_pb2_grpc as rpc
from tickwire_server.sources.synthetic import ManualClock, SyntheticSource
from tickwire_server.testing import serve_in_process


async def test_a_stepped_clock_delivers_each_tick_with_its_bar_in_sequence() -> None:
    clock = ManualClock()
    source = SyntheticSource(tickers=["AAPL", "MSFT"], hz=2, seed=5, clock=clock)
    async with (
        serve_in_process(source=source) as server,
        grpc.aio.insecure_channel(server.target) as channel,
    ):
        call = rpc.MarketDataStub(channel).Subscribe()
        await call.write(subscribe("AAPL", "ZZZQ"))
        ack = (await next_message(call, "ack")).ack
        assert statuses(ack) == {"AAPL": "TICKER_STATUS_OK", "ZZZQ": "TICKER_STATUS_UNKNOWN_TICKER"}
        snapshot = (await next_message(call, "prices")).prices.updates[0]
        live: list[pb.PriceUpdate] = []
        for _ in range(4):  # one tick at a time (ticks published together would conflate)
            clock.advance(0.5)
            source.advance()
            live.extend((await next_message(call, "prices")).prices.updates)
        assert [u.sequence for u in live] == [snapshot.sequence + n for n in range(1, 5)]
        assert all(u.state == pb.DATA_STATE_LIVE and u.HasField("volume") for u in live)
        assert all(u.volume % 100 == 0 and u.low <= u.price <= u.high for u in live)
        call.cancel()


async def test_an_open_universe_serves_any_valid_symbol() -> None:
    source = SyntheticSource(
        tickers=["AAPL"], hz=1, seed=5, open_universe=True, clock=ManualClock()
    )
    async with (
        serve_in_process(source=source) as server,
        grpc.aio.insecure_channel(server.target) as channel,
    ):
        call = rpc.MarketDataStub(channel).StreamPrices(pb.StreamPricesRequest(tickers=["ZZZQ"]))
        ack = (await next_message(call, "ack")).ack
        assert statuses(ack) == {"ZZZQ": "TICKER_STATUS_OK"}
        first = (await next_message(call, "prices")).prices.updates[0]
        assert first.ticker == "ZZZQ" and first.price > 0
        call.cancel()


async def test_tickwire_server_serves_the_synthetic_source() -> None:
    async with spawned_server(
        "--source", "synthetic", "--synthetic-hz", "10", "--seed", "1"
    ) as server:
        async with grpc.aio.insecure_channel(server.target) as channel:
            stub = rpc.MarketDataStub(channel)
            status = await stub.GetMarketStatus(pb.GetMarketStatusRequest(), timeout=10)
            assert status.status.source == "synthetic"
            assert status.status.market == pb.MARKET_STATE_OPEN
            call = stub.StreamPrices(pb.StreamPricesRequest(tickers=["NVDA"]))
            await next_message(call, "ack")
            updates: list[pb.PriceUpdate] = []
            while not any(u.state == pb.DATA_STATE_LIVE for u in updates):
                updates.extend((await next_message(call, "prices")).prices.updates)
            live = [u for u in updates if u.state == pb.DATA_STATE_LIVE]
            assert live[0].HasField("vwap") and live[0].transactions >= 1
            call.cancel()


async def _watch_ticks(clients: int, ticks: int) -> list[tuple[str, float, int]]:
    """Serve a seeded synthetic market to `clients` streams; what the first sees, tick by tick."""
    clock = ManualClock()
    source = SyntheticSource(tickers=["AAPL", "MSFT", "NVDA"], hz=4, seed=11, clock=clock)
    seen: list[tuple[str, float, int]] = []
    async with (
        serve_in_process(source=source) as server,
        grpc.aio.insecure_channel(server.target) as channel,
    ):
        stub = rpc.MarketDataStub(channel)
        calls = [
            stub.StreamPrices(pb.StreamPricesRequest(tickers=["AAPL", "MSFT", "NVDA"]))
            for _ in range(clients)
        ]
        for call in calls:
            await next_message(call, "ack")
            await next_message(call, "prices")  # the snapshot
        for _ in range(ticks):
            clock.advance(0.25)
            source.advance()
            got: list[pb.PriceUpdate] = []
            while len(got) < 3:
                got.extend((await next_message(calls[0], "prices")).prices.updates)
            seen.extend(sorted((u.ticker, u.price, u.sequence) for u in got))
        for call in calls:
            call.cancel()
    return seen


async def test_the_same_seed_gives_the_same_prices_and_sequences_whoever_watches() -> None:
    one = await _watch_ticks(clients=1, ticks=12)
    several = await _watch_ticks(clients=5, ticks=12)
    assert one == several
    assert len({price for _, price, _ in one}) > 3


async def test_the_testing_helper_pushes_steps_and_refuses_through_the_controls() -> None:
    from tickwire import Client
    from tickwire_server.scenario import BadInput

    async with serve_in_process({"AAPL": 190.0, "MSFT": 0.0}) as server, Client(server) as client:
        prices = client.subscribe("AAPL", "NEWCO")
        assert (await anext(prices)).price == 190.0  # exactly the given price; MSFT has none
        assert "MSFT" not in await client.snapshot()
        assert server.push({"aapl": 190.5, "NEWCO": 12.0}) == {"AAPL": 2, "NEWCO": 1}
        seen = {u.ticker: u.price for u in [await anext(prices), await anext(prices)]}
        assert seen == {"AAPL": 190.5, "NEWCO": 12.0}
        server.advance(1.0)  # one tick of the market's own, for every ticker it holds
        ticked = {u.ticker: u.sequence for u in [await anext(prices), await anext(prices)]}
        assert ticked == {"AAPL": 3, "NEWCO": 2}
        with pytest.raises(BadInput, match="price must be"):
            server.push({"AAPL": float("nan")})
        assert (await client.snapshot("AAPL"))["AAPL"].sequence == 3  # nothing changed


async def test_a_strict_testing_helper_refuses_tickers_outside_its_prices() -> None:
    from tickwire_server.scenario import BadInput

    async with serve_in_process({"AAPL": 190.0}, strict=True) as server:
        with pytest.raises(BadInput, match="unknown ticker ZZZQ"):
            server.push({"ZZZQ": 1.0})
