"""ScenarioControl over gRPC, each operation observed by real clients of MarketData."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from helpers import (
    StateLog,
    ending,
    has,
    health,
    market_status,
    next_message,
    prices_until,
    source_state,
    until,
    update_of,
)

from tickwire import Backoff, Client, ConnectionState, RpcError, ScenarioClient, SyncScenarioClient
from tickwire.v1 import market_data_pb2 as pb
from tickwire.v1 import market_data_pb2_grpc as rpc
from tickwire.v1 import scenario_pb2 as spb
from tickwire.v1 import scenario_pb2_grpc as srpc
from tickwire_server.sources.synthetic import ManualClock, SyntheticSource
from tickwire_server.testing import InProcessServer, serve_in_process

UNIVERSE = ["AAPL", "MSFT", "NVDA"]


@contextlib.asynccontextmanager
async def synthetic(
    hz: float = 1.0, **overrides: Any
) -> AsyncIterator[tuple[InProcessServer, ScenarioClient, SyntheticSource]]:
    """A server on a manual-clock synthetic source, and a ScenarioClient of it."""
    source = SyntheticSource(tickers=UNIVERSE, hz=hz, seed=3, clock=ManualClock())
    async with (
        serve_in_process(source=source, **overrides) as server,
        ScenarioClient(server) as control,
    ):
        yield server, control, source


def _prices(tickers: list[str]) -> pb.StreamPricesRequest:
    return pb.StreamPricesRequest(tickers=tickers)


async def test_a_pushed_price_arrives_exactly_with_the_sequence_push_returned() -> None:
    async with (
        synthetic() as (server, control, _),
        Client(server) as client,
    ):
        prices = client.subscribe("AAPL")
        first = await anext(prices)
        sequence = await control.push("AAPL", 200.37, volume=1_200)
        update = await anext(prices)
        assert (update.price, update.sequence, update.volume) == (200.37, sequence, 1_200)
        assert sequence == first.sequence + 1
        assert update.state == pb.DATA_STATE_LIVE
        assert (await client.snapshot("AAPL"))["AAPL"].price == 200.37


async def test_market_state_reaches_every_stream_and_get_market_status() -> None:
    async with (
        synthetic() as (server, control, _),
        grpc.aio.insecure_channel(server.target) as channel,
    ):
        stub = rpc.MarketDataStub(channel)
        calls = [stub.StreamPrices(_prices([t])) for t in UNIVERSE]
        for call in calls:
            await next_message(call, "ack")
        for market in ("closed", "extended", "open"):
            status = await control.set_market(market)
            for call in calls:
                seen = await next_message(call, "market_status")
                assert seen.market_status.market == status.market
            assert (await market_status(stub)).market == status.market
        for call in calls:
            call.cancel()


async def test_a_closed_market_produces_no_ticks_until_it_opens() -> None:
    async with (
        synthetic() as (server, control, source),
        grpc.aio.insecure_channel(server.target) as channel,
    ):
        call = rpc.MarketDataStub(channel).StreamPrices(_prices(["AAPL"]))
        first = (await next_message(call, "prices")).prices.updates[0]
        await control.set_market("closed")
        await control.advance(5)
        await control.set_market("open")
        await control.advance(1)
        update = (await next_message(call, "prices")).prices.updates[0]
        assert update.sequence == first.sequence + 1  # nothing came while closed
        call.cancel()


async def test_a_stalled_ticker_goes_stale_after_stale_after_and_live_on_resume() -> None:
    async with (
        synthetic() as (server, control, _),
        grpc.aio.insecure_channel(server.target) as channel,
    ):
        call = rpc.MarketDataStub(channel).StreamPrices(_prices(["AAPL", "MSFT"]))
        await next_message(call, "prices")
        await control.stall("aapl", stale_after=2.5)
        seen: list[pb.PriceUpdate] = []
        for _ in range(2):  # two ticks, of MSFT only; AAPL is not stale yet
            await control.advance(1)
            seen += await prices_until(call, lambda u: any(x.ticker == "MSFT" for x in u))
        assert [u.ticker for u in seen] == ["MSFT", "MSFT"]
        await control.advance(1)
        stale = await until(call, update_of("AAPL", pb.DATA_STATE_STALE))
        assert [u.ticker for u in stale.prices.updates if u.state == pb.DATA_STATE_STALE] == [
            "AAPL"
        ]
        state = await control.state()
        assert [(s.ticker, s.stale) for s in state.stalled] == [("AAPL", True)]
        sequence = await control.resume("AAPL")
        live = await until(call, update_of("AAPL", pb.DATA_STATE_LIVE))
        assert [u.sequence for u in live.prices.updates if u.ticker == "AAPL"] == [sequence]
        assert (await control.state()).stalled == []
        call.cancel()


async def test_a_burst_raises_the_rate_and_ends_on_time() -> None:
    async with (
        synthetic() as (server, control, _),
        grpc.aio.insecure_channel(server.target) as channel,
    ):
        stub = rpc.MarketDataStub(channel)
        call = stub.StreamPrices(_prices(["NVDA", "AAPL", "MSFT"]))
        seen = await prices_until(call, lambda u: len(u) == 3)
        start = {u.ticker: u.sequence for u in seen}
        ends = await control.burst("NVDA", hz=20, duration=1.0)
        reader = asyncio.create_task(prices_until(call, has("MSFT", 1.0)))
        for _ in range(60):  # 3 s, 50 ms at a time
            await control.advance(0.05)
            await asyncio.sleep(0)
        await control.push("MSFT", 1.0)  # the end of the run, for the reader
        updates = await reader
        snapshot = await stub.GetSnapshot(pb.GetSnapshotRequest(tickers=["NVDA", "AAPL"]))
        sequences = {p.ticker: p.sequence for p in snapshot.prices}
        # NVDA: 19 burst ticks (every 50 ms after the start, before the end), then
        # the market's own 1 Hz at 1, 2 and 3 s; AAPL kept its 1 Hz throughout.
        assert sequences["NVDA"] - start["NVDA"] == 19 + 3
        assert sequences["AAPL"] - start["AAPL"] == 3
        end_ns = round(ends.timestamp() * 1e9)
        nvda = [u.timestamp.ToNanoseconds() for u in updates if u.ticker == "NVDA"]
        assert sum(t < end_ns for t in nvda) >= 10  # delivered at the burst's rate
        assert all(t % 10**9 == 0 for t in nvda if t >= end_ns)  # only whole seconds after
        assert (await control.state()).bursts == []
        call.cancel()


async def test_a_skipped_sequence_is_a_gap_in_the_python_clients_stats() -> None:
    async with (
        synthetic() as (server, control, _),
        Client(server) as client,
    ):
        prices = client.subscribe("MSFT")
        first = await anext(prices)
        next_sequence = await control.skip("MSFT", 5)
        assert next_sequence == first.sequence + 6
        await control.advance(1)
        update = await anext(prices)
        assert update.sequence == next_sequence
        assert (prices.stats.gaps, prices.stats.missed) == (1, 5)


async def test_drop_streams_with_a_refusal_makes_clients_back_off_and_resume() -> None:
    async with (
        synthetic() as (server, control, _),
        grpc.aio.insecure_channel(server.target) as channel,
        Client(server, backoff=Backoff(initial=0.2, jitter=0.0, maximum=1.0)) as client,
    ):
        log = StateLog()
        prices = client.subscribe("AAPL", "MSFT", on_state=log)
        await anext(prices)
        raw = rpc.MarketDataStub(channel).StreamPrices(_prices(["AAPL"]))
        await next_message(raw, "ack")
        assert await control.drop(refuse_for=1.5) == 2
        ended = await ending(raw)
        assert ended.code() == grpc.StatusCode.UNAVAILABLE
        assert "DropStreams" in (ended.details() or "")
        refused = await ending(rpc.MarketDataStub(channel).StreamPrices(_prices(["AAPL"])))
        assert refused.code() == grpc.StatusCode.UNAVAILABLE
        assert "refused" in (refused.details() or "")
        assert (await control.state()).refusing_for.ToTimedelta().total_seconds() > 0
        stats = server.server.stats  # what tickwire_streams_ended and _requests_rejected count
        assert stats.streams_ended["dropped"] >= 2 and stats.requests_rejected["refused"] >= 1
        # The client keeps retrying with backoff until the refusal ends, then resubscribes.
        await log.wait_for(ConnectionState.CONNECTED, count=2, wait=10)
        retries = sum(c.state is ConnectionState.RECONNECTING for c in log.changes)
        assert retries >= 3  # 0.2 + 0.4 + 0.8 s of backoff span the 1.5 s refusal
        sequence = await control.push("MSFT", 333.0)
        seen = [u async for u in _take(prices, lambda u: u.ticker == "MSFT" and u.price == 333.0)]
        assert seen[-1].sequence == sequence
        assert prices.stats.reconnects >= 1


async def _take(subscription: Any, last: Any) -> AsyncIterator[Any]:
    async with asyncio.timeout(5):
        async for update in subscription:
            yield update
            if last(update):
                return


async def test_drop_streams_of_one_principal_leaves_the_others_alone() -> None:
    async with (
        synthetic(auth="jwt") as (server, _, _),
        ScenarioClient(server, token=server.token("ops", ["admin"])) as control,
        grpc.aio.insecure_channel(server.target) as channel,
    ):
        stub = rpc.MarketDataStub(channel)
        mine = stub.StreamPrices(_prices(["AAPL"]), metadata=_bearer(server.token("alice")))
        theirs = stub.StreamPrices(_prices(["AAPL"]), metadata=_bearer(server.token("bob")))
        await next_message(mine, "ack")
        await next_message(theirs, "ack")
        assert await control.drop(principal="alice", refuse_for=30) == 1
        assert (await ending(mine)).code() == grpc.StatusCode.UNAVAILABLE
        again = stub.StreamPrices(_prices(["AAPL"]), metadata=_bearer(server.token("alice")))
        assert (await ending(again)).code() == grpc.StatusCode.UNAVAILABLE
        await control.push("AAPL", 150.0)
        await until(theirs, update_of("AAPL", pb.DATA_STATE_LIVE, 150.0))
        theirs.cancel()


def _bearer(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


async def test_a_faulty_source_marks_prices_stale_and_health_follows_until_healthy() -> None:
    async with (
        synthetic() as (server, control, _),
        grpc.aio.insecure_channel(server.target) as channel,
    ):
        call = rpc.MarketDataStub(channel).StreamPrices(_prices(["AAPL"]))
        await next_message(call, "prices")
        await control.set_source_state("error", "upstream down")
        await until(call, source_state(pb.SOURCE_STATE_ERROR, "upstream down"))
        await until(call, update_of("AAPL", pb.DATA_STATE_STALE))
        assert await health(channel) == health_pb2.HealthCheckResponse.NOT_SERVING
        await control.advance(3)  # no tick while the source is in error
        await control.set_source_state("healthy")
        await until(call, source_state(pb.SOURCE_STATE_HEALTHY))
        await until(call, update_of("AAPL", pb.DATA_STATE_LIVE))
        await _health_is(channel, health_pb2.HealthCheckResponse.SERVING)
        await control.set_source_state("degraded", "slow")
        await until(call, update_of("AAPL", pb.DATA_STATE_STALE))
        assert await health(channel) == health_pb2.HealthCheckResponse.SERVING
        call.cancel()


async def _health_is(channel: grpc.aio.Channel, status: int) -> None:
    """Watch the MarketData service's health until it is `status`."""
    request = health_pb2.HealthCheckRequest(service="tickwire.v1.MarketData")
    watch = health_pb2_grpc.HealthStub(channel).Watch(request)
    async with asyncio.timeout(5):
        async for answer in watch:
            if answer.status == status:
                break
    watch.cancel()


async def test_reset_goes_back_to_the_seed_prices_with_sequences_still_rising() -> None:
    async with (
        synthetic() as (server, control, _),
        Client(server) as client,
    ):
        prices = client.subscribe("AAPL")
        seed = await anext(prices)
        await control.push("AAPL", 999.0)
        await control.set_market("closed")
        await control.stall("MSFT")
        await anext(prices)
        await control.reset()
        back = await anext(prices)
        assert back.price == seed.price and back.sequence > seed.sequence + 1
        state = await control.state()
        assert state.status.market == pb.MARKET_STATE_OPEN and state.stalled == []


async def test_scenario_control_needs_role_admin() -> None:
    async with synthetic(auth="jwt") as (server, _, _):
        reader = ScenarioClient(server, token=server.token("viewer", ["read"]))
        admin = ScenarioClient(server, token=server.token("ops", ["admin"]))
        async with reader, admin:
            with pytest.raises(RpcError) as denied:
                await reader.push("AAPL", 1.0)
            assert denied.value.code == "PERMISSION_DENIED"
            assert await admin.push("AAPL", 101.0) >= 1


async def test_with_another_source_every_method_is_unimplemented_naming_the_flag() -> None:
    async with (
        serve_in_process(simulator=True) as server,
        grpc.aio.insecure_channel(server.target) as channel,
    ):
        stub = srpc.ScenarioControlStub(channel)
        for call in (
            stub.PushPrice(spb.PushPriceRequest(ticker="AAPL", price=1.0)),
            stub.GetScenarioState(spb.GetScenarioStateRequest()),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as error:
                await call
            assert error.value.code() == grpc.StatusCode.UNIMPLEMENTED
            assert "--source synthetic" in (error.value.details() or "")
        run = stub.RunScenario(spb.RunScenarioRequest(scenario="steps: [{reset: true}]"))
        assert (await ending(run)).code() == grpc.StatusCode.UNIMPLEMENTED


BAD_INPUTS: list[tuple[str, Any, str]] = [
    ("PushPrice", spb.PushPriceRequest(ticker="ZZZZ", price=10.0), "unknown ticker ZZZZ"),
    ("PushPrice", spb.PushPriceRequest(ticker="AA PL", price=10.0), "symbols use"),
    ("PushPrice", spb.PushPriceRequest(ticker="AAPL", price=0.0), "price must be"),
    ("PushPrice", spb.PushPriceRequest(ticker="AAPL", price=-5.0), "price must be"),
    ("PushPrice", spb.PushPriceRequest(ticker="AAPL", price=math.nan), "price must be"),
    ("PushPrice", spb.PushPriceRequest(ticker="AAPL", price=math.inf), "price must be"),
    ("PushPrice", spb.PushPriceRequest(ticker="AAPL", price=10.0, high=9.0), "hold together"),
    ("PushPrice", spb.PushPriceRequest(ticker="AAPL", price=10.0, volume=-1), "volume"),
    ("StallTicker", spb.StallTickerRequest(ticker="AAPL", stale_after={"seconds": -1}), "negative"),
    ("StallTicker", spb.StallTickerRequest(ticker="NOPE"), "unknown ticker"),
    ("StartBurst", spb.StartBurstRequest(hz=0, duration={"seconds": 1}), "hz must be"),
    ("StartBurst", spb.StartBurstRequest(hz=1e6, duration={"seconds": 1}), "hz must be"),
    ("StartBurst", spb.StartBurstRequest(hz=math.nan, duration={"seconds": 1}), "hz must be"),
    ("StartBurst", spb.StartBurstRequest(hz=10), "duration above zero"),
    ("StartBurst", spb.StartBurstRequest(hz=10, duration={"seconds": 7200}), "duration must"),
    ("DropStreams", spb.DropStreamsRequest(refuse_for={"seconds": -3}), "negative"),
    ("SetSourceState", spb.SetSourceStateRequest(state=pb.SOURCE_STATE_STOPPED), "one of"),
    ("SetMarketState", spb.SetMarketStateRequest(), "market must be"),
    ("SkipSequence", spb.SkipSequenceRequest(ticker="AAPL", count=0), "count must be"),
    ("SkipSequence", spb.SkipSequenceRequest(ticker="AAPL", count=10**9), "count must be"),
    ("AdvanceClock", spb.AdvanceClockRequest(by={"seconds": -1}), "negative"),
    ("AdvanceClock", spb.AdvanceClockRequest(by={"seconds": 10**7}), "the step must"),
]


@pytest.mark.parametrize(("method", "request_", "reason"), BAD_INPUTS)
async def test_bad_input_is_invalid_argument_and_changes_nothing(
    method: str, request_: Any, reason: str
) -> None:
    async with (
        synthetic() as (server, control, _),
        grpc.aio.insecure_channel(server.target) as channel,
    ):
        before = await control.state()
        snapshot = await rpc.MarketDataStub(channel).GetSnapshot(pb.GetSnapshotRequest())
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await getattr(srpc.ScenarioControlStub(channel), method)(request_)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert reason in (error.value.details() or "")
        after = await control.state()
        for state in (before, after):
            state.status.ClearField("server_time")  # the time of the answer
        assert after == before
        again = await rpc.MarketDataStub(channel).GetSnapshot(pb.GetSnapshotRequest())
        assert again == snapshot
        assert await control.push("AAPL", 12.34) >= 1  # and it goes on serving


async def test_a_request_that_does_not_parse_is_invalid_argument() -> None:
    async with synthetic() as (server, _, _), grpc.aio.insecure_channel(server.target) as channel:
        push = channel.unary_unary(
            "/tickwire.v1.ScenarioControl/PushPrice",
            request_serializer=None,
            response_deserializer=None,
        )
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await push(b"\xff\xff\xff")
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "malformed PushPriceRequest" in (error.value.details() or "")


async def test_advance_clock_on_the_real_clock_is_a_failed_precondition() -> None:
    source = SyntheticSource(tickers=UNIVERSE, seed=1)
    async with serve_in_process(source=source) as server, ScenarioClient(server) as control:
        with pytest.raises(RpcError) as error:
            await control.advance(1)
        assert error.value.code == "FAILED_PRECONDITION"
        assert "--synthetic-clock manual" in str(error.value)


async def test_the_blocking_scenario_client_drives_the_same_operations() -> None:
    async with synthetic() as (server, _, _), Client(server) as client:
        prices = client.subscribe("NVDA")
        await anext(prices)

        def drive() -> int:
            with SyncScenarioClient(server) as control:
                control.set_market("extended")
                return control.push("NVDA", 88.88)

        sequence = await asyncio.to_thread(drive)
        update = await anext(prices)
        assert (update.price, update.sequence) == (88.88, sequence)
        assert (await client.market_status()).market == pb.MARKET_STATE_EXTENDED_HOURS
