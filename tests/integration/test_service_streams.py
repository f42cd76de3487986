"""Subscribe and StreamPrices against a real grpc.aio server with a scripted source."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest
from fakes.scripted import ScriptedSource
from helpers import (
    ending,
    has,
    next_message,
    prices_until,
    serving,
    statuses,
    subscribe,
    unsubscribe,
)

from tickwire.v1 import market_data_pb2 as pb
from tickwire.v1 import market_data_pb2_grpc as rpc
from tickwire_server.config import Settings
from tickwire_server.domain import MarketState, SourceState


# Every test here: a strict four-ticker universe, at most 3 tickers a stream,
# at most 50 per request.
@pytest.fixture
def settings() -> Settings:
    return Settings(port=0, release_grace=0.05, max_tickers_per_stream=3, max_request_tickers=50)


@pytest.fixture
def source() -> ScriptedSource:
    return ScriptedSource({"AAPL": 190.0, "MSFT": 410.0, "NVDA": 120.0, "V": 280.0}, strict=True)


async def test_subscribe_acks_then_sends_snapshot_then_live(
    stub: rpc.MarketDataStub, source: ScriptedSource
) -> None:
    call = stub.Subscribe()
    await call.write(subscribe("aapl", " msft ", request_id="r1"))

    ack = (await next_message(call, "ack")).ack
    assert ack.request_id == "r1"
    assert ack.action == pb.SUBSCRIPTION_ACTION_SUBSCRIBE
    assert statuses(ack) == {"AAPL": "TICKER_STATUS_OK", "MSFT": "TICKER_STATUS_OK"}
    assert list(ack.tickers) == ["AAPL", "MSFT"]

    snapshot = await prices_until(call, lambda u: {x.ticker for x in u} == {"AAPL", "MSFT"})
    assert {u.state for u in snapshot} == {pb.DATA_STATE_SNAPSHOT}
    assert {u.ticker: u.price for u in snapshot} == {"AAPL": 190.0, "MSFT": 410.0}

    source.push({"AAPL": 191.5})
    live = await prices_until(call, has("AAPL", 191.5))
    update = live[-1]
    assert update.state == pb.DATA_STATE_LIVE
    assert update.previous_price == 190.0
    assert update.change == pytest.approx(1.5)
    assert update.change_percent == pytest.approx(1.5 / 190.0 * 100)
    assert update.direction == pb.DIRECTION_UP
    assert update.sequence == 2
    call.cancel()


async def test_subscribe_and_unsubscribe_change_the_live_stream(
    stub: rpc.MarketDataStub, source: ScriptedSource
) -> None:
    call = stub.Subscribe()
    await call.write(subscribe("AAPL"))
    await next_message(call, "ack")
    await call.write(subscribe("MSFT", request_id="add"))
    ack = (await next_message(call, "ack")).ack
    assert (ack.request_id, list(ack.tickers)) == ("add", ["AAPL", "MSFT"])

    await call.write(unsubscribe("AAPL", "NVDA", request_id="drop"))
    ack = (await next_message(call, "ack")).ack
    assert ack.action == pb.SUBSCRIPTION_ACTION_UNSUBSCRIBE
    assert statuses(ack) == {"AAPL": "TICKER_STATUS_OK", "NVDA": "TICKER_STATUS_NOT_SUBSCRIBED"}
    assert list(ack.tickers) == ["MSFT"]

    # Published in this order, so an AAPL update would arrive before MSFT's.
    source.push({"AAPL": 200.0})
    source.push({"MSFT": 420.0})
    updates = await prices_until(call, has("MSFT", 420.0))
    assert "AAPL" not in {u.ticker for u in updates if u.state == pb.DATA_STATE_LIVE}
    call.cancel()


async def test_bad_tickers_get_their_own_status_and_never_fail_the_rest(
    stub: rpc.MarketDataStub, source: ScriptedSource
) -> None:
    call = stub.Subscribe()
    await call.write(subscribe("AAPL", "bad$", "ZZZZ", "aapl", "MSFT", "NVDA", "V", "x" * 11))
    ack = (await next_message(call, "ack")).ack
    assert statuses(ack) == {
        "AAPL": "TICKER_STATUS_OK",
        "bad$": "TICKER_STATUS_INVALID_SYMBOL",
        "ZZZZ": "TICKER_STATUS_UNKNOWN_TICKER",
        "MSFT": "TICKER_STATUS_OK",
        "NVDA": "TICKER_STATUS_OK",
        "V": "TICKER_STATUS_LIMIT_EXCEEDED",
        "x" * 11: "TICKER_STATUS_INVALID_SYMBOL",
    }
    assert all(r.message for r in ack.results if r.status != pb.TICKER_STATUS_OK)
    assert list(ack.tickers) == ["AAPL", "MSFT", "NVDA"]

    source.push({"NVDA": 121.0})
    await prices_until(call, has("NVDA", 121.0))
    call.cancel()


async def test_stream_outlives_the_clients_half_close(
    stub: rpc.MarketDataStub, source: ScriptedSource
) -> None:
    call = stub.Subscribe()
    await call.write(subscribe("AAPL"))
    await call.done_writing()
    await next_message(call, "ack")
    source.push({"AAPL": 188.0})
    await prices_until(call, has("AAPL", 188.0))
    source.push({"AAPL": 187.0})
    await prices_until(call, has("AAPL", 187.0))
    call.cancel()


async def test_ping_is_answered_with_a_heartbeat_carrying_server_time(
    stub: rpc.MarketDataStub,
) -> None:
    call = stub.Subscribe()
    await call.write(pb.SubscribeRequest(ping=pb.Ping(id="p-7")))
    beat = (await next_message(call, "heartbeat")).heartbeat
    assert beat.ping_id == "p-7"
    assert abs(beat.server_time.ToNanoseconds() / 1e9 - time.time()) < 60
    call.cancel()


async def test_a_request_with_nothing_set_is_answered_not_fatal(stub: rpc.MarketDataStub) -> None:
    call = stub.Subscribe()
    await call.write(pb.SubscribeRequest())
    ack = (await next_message(call, "ack")).ack
    assert "none of subscribe" in ack.message
    await call.write(subscribe("AAPL"))
    assert statuses((await next_message(call, "ack")).ack) == {"AAPL": "TICKER_STATUS_OK"}
    call.cancel()


async def test_malformed_request_ends_the_stream_with_invalid_argument(
    channel: grpc.aio.Channel, stub: rpc.MarketDataStub
) -> None:
    raw = channel.stream_stream(
        "/tickwire.v1.MarketData/Subscribe",
        request_serializer=lambda b: b,
        response_deserializer=pb.SubscribeResponse.FromString,
    )
    call = raw()  # type: ignore[call-arg]  # grpc-stubs: request_iterator is optional in aio
    await call.write(b"\x0a\xff\xff\xff")  # field 1, a length running past the end
    with pytest.raises(grpc.aio.AioRpcError) as info:
        async with asyncio.timeout(5):
            await call.read()
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "malformed SubscribeRequest" in (info.value.details() or "")
    # The server keeps serving everyone else.
    status = await stub.GetMarketStatus(pb.GetMarketStatusRequest(), timeout=5)
    assert status.status.source == "synthetic"


async def test_oversize_requests_get_a_status_with_a_message(stub: rpc.MarketDataStub) -> None:
    call = stub.Subscribe()
    await call.write(subscribe(*[f"T{i}" for i in range(51)]))
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await next_message(call, "ack")
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "at most 50 per request" in (info.value.details() or "")

    call = stub.Subscribe()
    await call.write(pb.SubscribeRequest(ping=pb.Ping(id="x" * (5 * 1024 * 1024))))
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await next_message(call, "heartbeat")
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "larger than max" in (info.value.details() or "")


async def test_stream_prices_sends_the_ack_first_then_prices(
    stub: rpc.MarketDataStub, source: ScriptedSource
) -> None:
    call = stub.StreamPrices(pb.StreamPricesRequest(tickers=["msft", "nope!"]))
    first = await next_message(call, "ack")
    assert statuses(first.ack) == {
        "MSFT": "TICKER_STATUS_OK",
        "nope!": "TICKER_STATUS_INVALID_SYMBOL",
    }
    await prices_until(call, has("MSFT", 410.0))
    source.push({"MSFT": 411.0})
    await prices_until(call, has("MSFT", 411.0))
    call.cancel()


async def test_stream_prices_without_an_acceptable_ticker_acks_then_is_invalid_argument(
    stub: rpc.MarketDataStub,
) -> None:
    call = stub.StreamPrices(pb.StreamPricesRequest(tickers=["bad$", "ZZZZ"]))
    ack = (await next_message(call, "ack")).ack
    assert statuses(ack) == {
        "bad$": "TICKER_STATUS_INVALID_SYMBOL",
        "ZZZZ": "TICKER_STATUS_UNKNOWN_TICKER",
    }
    error = await ending(call)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "no ticker accepted: bad$" in (error.details() or "")

    call = stub.StreamPrices(pb.StreamPricesRequest())
    ack = (await next_message(call, "ack")).ack
    assert ack.message == "name at least one ticker"
    error = await ending(call)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_malformed_unary_and_stream_prices_requests_are_invalid_argument(
    channel: grpc.aio.Channel,
) -> None:
    for method in ("GetSnapshot", "ListTickers", "GetMarketStatus"):
        raw = channel.unary_unary(
            f"/tickwire.v1.MarketData/{method}",
            request_serializer=lambda b: b,
            response_deserializer=None,
        )
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await raw(b"\x0a\xff\xff\xff", timeout=5)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, method
        assert "malformed" in (info.value.details() or "")
    stream = channel.unary_stream(
        "/tickwire.v1.MarketData/StreamPrices",
        request_serializer=lambda b: b,
        response_deserializer=pb.SubscribeResponse.FromString,
    )
    error = await ending(stream(b"\x0a\xff\xff\xff"))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "malformed StreamPricesRequest" in (error.details() or "")


async def test_market_status_changes_reach_open_streams(
    stub: rpc.MarketDataStub, source: ScriptedSource
) -> None:
    call = stub.Subscribe()
    await call.write(subscribe("AAPL"))
    await next_message(call, "ack")
    source.set_status(SourceState.DEGRADED, MarketState.CLOSED, "upstream slow")
    status = (await next_message(call, "market_status")).market_status
    assert status.market == pb.MARKET_STATE_CLOSED
    assert status.source_state == pb.SOURCE_STATE_DEGRADED
    assert status.message == "upstream slow"
    call.cancel()


async def test_unsubscribing_everywhere_releases_the_upstream_after_the_grace(
    stub: rpc.MarketDataStub, source: ScriptedSource
) -> None:
    call = stub.Subscribe()
    await call.write(subscribe("V"))
    await next_message(call, "ack")
    async with asyncio.timeout(5):
        await source.wait_requested("add", "V")
    call.cancel()
    async with asyncio.timeout(5):
        await source.wait_requested("remove", "V")
    assert source.requested.count(("add", "V")) == 1


async def test_periodic_heartbeats_flow_on_a_quiet_stream(source: ScriptedSource) -> None:
    settings = Settings(port=0, heartbeat_interval=0.1)
    async with serving(settings, source=source) as (server, channel, stub):
        call = stub.StreamPrices(pb.StreamPricesRequest(tickers=["AAPL"]))
        beats = [(await next_message(call, "heartbeat")).heartbeat for _ in range(3)]
        times = [b.server_time.ToNanoseconds() for b in beats]
        assert times == sorted(times) and len(set(times)) == 3
        assert all(not b.ping_id for b in beats)
        call.cancel()


async def test_a_bug_while_handling_a_request_ends_that_stream_with_internal(
    stub: rpc.MarketDataStub, source: ScriptedSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(ticker: str) -> None:
        raise RuntimeError("source bug")

    monkeypatch.setattr(source, "add_ticker", broken)
    call = stub.Subscribe()
    await call.write(subscribe("V"))
    error = await ending(call)
    assert error.code() == grpc.StatusCode.INTERNAL
    assert "source bug" in (error.details() or "")
    status = await stub.GetMarketStatus(pb.GetMarketStatusRequest(), timeout=5)
    assert status.status.source == "synthetic"  # everyone else is still served


@pytest.mark.parametrize(
    "tickers",
    [[f"BAD${i}" for i in range(2000)], ["X$" * 50_000], ["ß", "ſpy", "ﬁ"]],
    ids=["a-watchlist-of-typos", "one-100KB-ticker", "non-ascii"],
)
async def test_a_stream_prices_of_only_bad_tickers_is_invalid_argument_with_a_short_message(
    tickers: list[str],
) -> None:
    async with serving(Settings(port=0), ScriptedSource({"AAPL": 190.0})) as (_, _, stub):
        call = stub.StreamPrices(pb.StreamPricesRequest(tickers=tickers))
        ack = (await next_message(call, "ack")).ack
        assert {r.status for r in ack.results} == {pb.TICKER_STATUS_INVALID_SYMBOL}
        assert all(len(r.ticker) <= 32 for r in ack.results)  # echoes cut short
        error = await ending(call)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert len(error.details() or "") < 1024
    assert (error.details() or "").startswith("no ticker accepted: ")


@pytest.mark.parametrize("field", ["request_id", "ping"])
async def test_an_overlong_echoed_id_ends_the_stream_invalid_argument(
    stub: rpc.MarketDataStub, field: str
) -> None:
    long_id = "r" * (1 << 20)
    if field == "ping":
        request = pb.SubscribeRequest(ping=pb.Ping(id=long_id))
    else:
        request = subscribe("AAPL", request_id=long_id)
    call = stub.Subscribe()
    await call.write(request)
    error = await ending(call)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "at most 128" in (error.details() or "")
    ok = stub.Subscribe()
    await ok.write(subscribe("AAPL", request_id="r" * 128))  # at the limit: fine
    assert (await next_message(ok, "ack")).ack.request_id == "r" * 128
    ok.cancel()
