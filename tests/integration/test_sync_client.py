"""SyncClient: against a scripted server side (grpc_testing) and a real server."""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import grpc
import grpc_testing
import pytest

from tickwire import ClosedError, PriceUpdate, RpcError, SubscriptionError, SyncClient
from tickwire.v1 import market_data_pb2 as pb
from tickwire_server.testing import serve_in_process

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
                assert client.market_status().source == "synthetic"
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


def _loop_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "tickwire-sync"]


def _dead_loop_errors(records: list[logging.LogRecord]) -> list[str]:
    """Logged signs of a client loop stopped under live streams."""
    return [
        f"{r.getMessage()} {r.exc_info[1] if r.exc_info else ''}"
        for r in records
        if "Task was destroyed" in r.getMessage()
        or (r.exc_info and "Event loop is closed" in str(r.exc_info[1]))
    ]


async def test_close_ends_open_updates_and_stops_the_loop_thread(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with asyncio.timeout(20), serve_in_process({"AAPL": 190.0}) as server:

        def read_then_close() -> tuple[float, list[PriceUpdate]]:
            client = SyncClient(server.target, timeout=5)
            updates, suspended = client.updates("AAPL"), client.updates("AAPL")
            first = next(updates)
            next(suspended)
            client.close()
            assert _loop_threads() == []
            updates.close()
            rest = list(suspended)  # the iterator ended with the client
            with pytest.raises(ClosedError):
                next(client.updates("AAPL"))
            client.close()
            return first.price, rest

        with caplog.at_level(logging.ERROR):
            price, rest = await asyncio.to_thread(read_then_close)
    assert (price, rest) == (190.0, [])
    assert _loop_threads() == []
    assert _dead_loop_errors(caplog.records) == []


async def test_close_from_another_thread_ends_a_blocked_iterator(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with asyncio.timeout(20), serve_in_process({"AAPL": 190.0}) as server:

        def close_under_a_reader() -> tuple[list[float], bool]:
            client = SyncClient(server.target, timeout=5)
            seen: list[float] = []
            first = threading.Event()

            def read() -> None:
                for update in client.updates("AAPL"):  # blocks after the snapshot
                    seen.append(update.price)
                    first.set()

            reader = threading.Thread(target=read, daemon=True)
            reader.start()
            assert first.wait(5)
            client.close()
            reader.join(5)
            return seen, reader.is_alive()

        with caplog.at_level(logging.ERROR):
            seen, still_reading = await asyncio.to_thread(close_under_a_reader)
    assert (seen, still_reading) == ([190.0], False)
    assert _loop_threads() == []
    assert _dead_loop_errors(caplog.records) == []


async def test_close_leaves_a_channel_passed_in_open() -> None:
    async with serve_in_process({"AAPL": 190.0}) as server:

        def close_then_reuse_the_channel() -> list[str]:
            with grpc.insecure_channel(server.target) as channel:
                SyncClient(channel=channel).close()
                with SyncClient(channel=channel, timeout=5) as again:
                    return [t.ticker for t in again.tickers()]

        async with asyncio.timeout(20):
            assert await asyncio.to_thread(close_then_reuse_the_channel) == ["AAPL"]


async def test_a_token_function_plain_or_async_is_called_for_each_call() -> None:
    async with serve_in_process({"AAPL": 190.0}, auth="jwt") as server:
        calls: list[str] = []

        def plain() -> str:
            calls.append("plain")
            return server.token("sync-user")

        async def awaited() -> str:
            calls.append("async")
            return server.token("async-user")

        def use(token: object) -> float:
            with SyncClient(server.target, token=token, timeout=5) as client:  # type: ignore[arg-type]
                client.market_status()
                return client.snapshot("AAPL")["AAPL"].price

        async with asyncio.timeout(20):
            assert await asyncio.to_thread(use, plain) == 190.0
            assert await asyncio.to_thread(use, awaited) == 190.0
        assert calls == ["plain", "plain", "async", "async"]

        def refused() -> str:
            with SyncClient(server.target, timeout=5) as client:
                try:
                    client.snapshot("AAPL")
                except RpcError as error:
                    return error.code
            return "served"

        assert await asyncio.to_thread(refused) == "UNAUTHENTICATED"
