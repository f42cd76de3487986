"""GetSnapshot, ListTickers and GetMarketStatus against a real server."""

from __future__ import annotations

import grpc
import pytest
from fakes.scripted import ScriptedSource
from helpers import statuses

from tickwire.v1 import market_data_pb2 as pb
from tickwire.v1 import market_data_pb2_grpc as rpc
from tickwire_server.domain import MarketState, SourceState


async def test_snapshot_returns_prices_and_a_status_per_ticker(
    stub: rpc.MarketDataStub, source: ScriptedSource
) -> None:
    source.push({"AAPL": 192.25})
    response = await stub.GetSnapshot(
        pb.GetSnapshotRequest(tickers=["aapl", "AAPL", "QQQ", "no way"]), timeout=5
    )
    assert [(p.ticker, p.price, p.sequence) for p in response.prices] == [("AAPL", 192.25, 2)]
    assert response.prices[0].state == pb.DATA_STATE_SNAPSHOT
    assert statuses(response) == {
        "AAPL": "TICKER_STATUS_OK",
        "QQQ": "TICKER_STATUS_NO_DATA",
        "no way": "TICKER_STATUS_INVALID_SYMBOL",
    }


async def test_snapshot_of_nothing_named_returns_every_price(stub: rpc.MarketDataStub) -> None:
    response = await stub.GetSnapshot(pb.GetSnapshotRequest(), timeout=5)
    assert {p.ticker: p.price for p in response.prices} == {
        "AAPL": 190.0,
        "MSFT": 410.0,
        "NVDA": 120.0,
    }
    assert not response.results


async def test_snapshot_of_too_many_tickers_is_invalid_argument(stub: rpc.MarketDataStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.GetSnapshot(pb.GetSnapshotRequest(tickers=["A"] * 10_001), timeout=5)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "at most 10000 per request" in (info.value.details() or "")


async def test_list_tickers_describes_the_universe(stub: rpc.MarketDataStub) -> None:
    response = await stub.ListTickers(pb.ListTickersRequest(), timeout=5)
    assert [(t.ticker, t.seed_price, t.active) for t in response.tickers] == [
        ("AAPL", 190.0, True),
        ("MSFT", 410.0, True),
        ("NVDA", 120.0, True),
    ]


async def test_market_status_tells_the_sources_state(
    stub: rpc.MarketDataStub, source: ScriptedSource
) -> None:
    first = (await stub.GetMarketStatus(pb.GetMarketStatusRequest(), timeout=5)).status
    assert (first.market, first.source, first.source_state) == (
        pb.MARKET_STATE_OPEN,
        "synthetic",
        pb.SOURCE_STATE_HEALTHY,
    )
    source.set_status(SourceState.ERROR, MarketState.EXTENDED_HOURS, "upstream refused the key")
    now = (await stub.GetMarketStatus(pb.GetMarketStatusRequest(), timeout=5)).status
    assert now.market == pb.MARKET_STATE_EXTENDED_HOURS
    assert now.source_state == pb.SOURCE_STATE_ERROR
    assert now.message == "upstream refused the key"
    assert now.server_time.seconds >= first.server_time.seconds


async def test_a_snapshot_of_everything_comes_in_pages_a_default_client_accepts() -> None:
    from tickwire import Client
    from tickwire_server.testing import serve_in_process

    universe = {f"U{i:05d}": 10.0 + i for i in range(6000)}
    async with serve_in_process(universe, snapshot_page_size=2500) as server:
        async with grpc.aio.insecure_channel(server.target) as channel:  # grpc's 4 MB default
            stub = rpc.MarketDataStub(channel)
            first = await stub.GetSnapshot(pb.GetSnapshotRequest(), timeout=10)
            assert len(first.prices) == 2500 and first.next_page_token
            assert first.ByteSize() < 4 * 1024 * 1024
            small = await stub.GetSnapshot(pb.GetSnapshotRequest(page_size=10), timeout=10)
            assert [p.ticker for p in small.prices] == sorted(universe)[:10]
            more = await stub.GetSnapshot(
                pb.GetSnapshotRequest(page_size=10, page_token=small.next_page_token), timeout=10
            )
            assert [p.ticker for p in more.prices] == sorted(universe)[10:20]
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await stub.GetSnapshot(pb.GetSnapshotRequest(page_token="bogus"), timeout=10)
            assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        async with Client(server) as client:  # the client follows the pages for the caller
            assert len(await client.snapshot()) == 6000
