"""SyncClient: against a scripted server side (grpc_testing) and a real server."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import grpc
import grpc_testing
import pytest

from tickwire import RpcError, SubscriptionError, SyncClient
from tickwire.testing import serve_in_process
from tickwire.v1 import market_data_pb2 as pb

SERVICE = pb.DESCRIPTOR.services_by_name["MarketData"]


@pytest.fixture
def scripted() -> Iterator[tuple[grpc_testing.Channel, SyncClient, ThreadPoolExecutor]]:
    channel = grpc_testing.channel([SERVICE], grpc_testing.strict_real_time())
    with ThreadPoolExecutor(max_workers=1) as pool:
        yield channel, SyncClient(channel=channel, token="s3cret", timeout=5), pool


def test_snapshot_sends_the_tickers_and_token_and_unpacks_the_answer(
    scripted: tuple[grpc_testing.Channel, SyncClient, ThreadPoolExecutor],
) -> None:
    channel, client, pool = scripted
    pending = pool.submit(client.snapshot, "AAPL", "QQQ")
    metadata, request, rpc = channel.take_unary_unary(SERVICE.methods_by_name["GetSnapshot"])
    assert list(request.tickers) == ["AAPL", "QQQ"]
    assert ("authorization", "Bearer s3cret") in metadata
    answer = pb.GetSnapshotResponse(
        prices=[pb.PriceUpdate(ticker="AAPL", price=190.25)],
        results=[
            pb.TickerResult(ticker="AAPL", status=pb.TICKER_STATUS_OK),
            pb.TickerResult(ticker="QQQ", status=pb.TICKER_STATUS_NO_DATA, message="none yet"),
        ],
    )
    rpc.terminate(answer, (), grpc.StatusCode.OK, "")
    assert {t: u.price for t, u in pending.result(timeout=5).items()} == {"AAPL": 190.25}

    strict = pool.submit(client.snapshot, "QQQ", strict=True)
    _, _, rpc = channel.take_unary_unary(SERVICE.methods_by_name["GetSnapshot"])
    rpc.terminate(answer, (), grpc.StatusCode.OK, "")
    with pytest.raises(SubscriptionError, match="QQQ: none yet"):
        strict.result(timeout=5)


def test_server_errors_become_rpc_errors_with_code_and_details(
    scripted: tuple[grpc_testing.Channel, SyncClient, ThreadPoolExecutor],
) -> None:
    channel, client, pool = scripted
    pending = pool.submit(client.market_status)
    _, _, rpc = channel.take_unary_unary(SERVICE.methods_by_name["GetMarketStatus"])
    rpc.terminate(pb.GetMarketStatusResponse(), (), grpc.StatusCode.UNAVAILABLE, "maintenance")
    with pytest.raises(RpcError) as info:
        pending.result(timeout=5)
    assert (info.value.code, info.value.details) == ("UNAVAILABLE", "maintenance")


def test_tickers_lists_the_universe(
    scripted: tuple[grpc_testing.Channel, SyncClient, ThreadPoolExecutor],
) -> None:
    channel, client, pool = scripted
    pending = pool.submit(client.tickers)
    _, _, rpc = channel.take_unary_unary(SERVICE.methods_by_name["ListTickers"])
    info = pb.TickerInfo(ticker="AAPL", name="Apple Inc.", sector="tech", seed_price=190.0)
    rpc.terminate(pb.ListTickersResponse(tickers=[info]), (), grpc.StatusCode.OK, "")
    assert [(t.ticker, t.sector) for t in pending.result(timeout=5)] == [("AAPL", "tech")]


async def test_updates_iterate_live_prices_from_a_real_server() -> None:
    async with serve_in_process({"AAPL": 190.0, "MSFT": 420.0}) as server:

        def read_three() -> list[tuple[str, float]]:
            with SyncClient(server.target, timeout=5) as client:
                assert client.market_status().source == "scripted"
                updates = client.updates("AAPL", "MSFT")
                first_two = sorted((u.ticker, u.price) for u in itertools.islice(updates, 2))
                loop.call_soon_threadsafe(server.push, {"AAPL": 191.0})
                third = next(updates)
                updates.close()
                return [*first_two, (third.ticker, third.price)]

        loop = asyncio.get_running_loop()
        async with asyncio.timeout(20):
            seen = await asyncio.to_thread(read_three)
    assert seen == [("AAPL", 190.0), ("MSFT", 420.0), ("AAPL", 191.0)]
