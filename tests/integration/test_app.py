"""The server's lifecycle: health, reflection, slow clients, shutdown, the simulator."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from pathlib import Path

import grpc
import pytest
from fakes.scripted import ScriptedSource
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from helpers import ending, has, next_message, prices_until, serving, subscribe

from tickwire.v1 import market_data_pb2 as pb
from tickwire.v1 import market_data_pb2_grpc as rpc
from tickwire_server.app import TickwireServer, exposure_warning
from tickwire_server.config import Settings
from tickwire_server.domain import SourceState

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def _health(channel: grpc.aio.Channel, service: str) -> int:
    stub = health_pb2_grpc.HealthStub(channel)
    response = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
    return int(response.status)


async def test_health_follows_the_source(channel: grpc.aio.Channel, source: ScriptedSource) -> None:
    assert await _health(channel, "") == SERVING
    assert await _health(channel, "tickwire.v1.MarketData") == SERVING

    watch = health_pb2_grpc.HealthStub(channel).Watch(
        health_pb2.HealthCheckRequest(service="tickwire.v1.MarketData")
    )
    async with asyncio.timeout(5):
        assert (await watch.read()).status == SERVING
        source.set_status(SourceState.ERROR, message="upstream down")
        assert (await watch.read()).status == NOT_SERVING
        source.set_status(SourceState.HEALTHY)
        assert (await watch.read()).status == SERVING
    watch.cancel()


async def test_reflection_lists_the_services(channel: grpc.aio.Channel) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    call = stub.ServerReflectionInfo()
    await call.write(reflection_pb2.ServerReflectionRequest(list_services=""))
    async with asyncio.timeout(5):
        response = await call.read()
    names = {s.name for s in response.list_services_response.service}
    assert {"tickwire.v1.MarketData", "grpc.health.v1.Health"} <= names
    call.cancel()


async def test_a_client_that_never_reads_is_conflated_then_ended_while_others_flow(
    source: ScriptedSource,
) -> None:
    tickers = [f"T{i:03d}" for i in range(500)]
    source = ScriptedSource({t: 100.0 for t in tickers})
    settings = Settings(port=0, max_lag=0.5, heartbeat_interval=30)
    async with (
        TickwireServer(settings, source=source) as server,
        grpc.aio.insecure_channel(server.target) as slow_channel,
        grpc.aio.insecure_channel(server.target) as healthy_channel,
    ):
        slow = rpc.MarketDataStub(slow_channel).Subscribe()
        await slow.write(subscribe(*tickers))
        await next_message(slow, "ack")  # the last thing it ever reads
        (slow_subscriber,) = server.hub._subscribers
        healthy = rpc.MarketDataStub(healthy_channel).Subscribe()
        await healthy.write(subscribe(*tickers))
        await next_message(healthy, "ack")

        # Publish flat out until the slow stream is dropped; the healthy one
        # must see every round's last price.
        async with asyncio.timeout(30):
            for round_ in range(1, 100_000):
                source.push({t: 100.0 + round_ / 100 for t in tickers})
                await prices_until(healthy, has("T499", 100.0 + round_ / 100))
                if server.hub.subscriber_count() == 1:
                    break
        assert slow_subscriber.conflated_total > 0

        error = await ending(slow, wait=30)
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "fell behind" in (error.details() or "")

        source.push({"T000": 555.0})
        await prices_until(healthy, has("T000", 555.0))
        healthy.cancel()


async def test_stop_ends_open_streams_with_unavailable_and_leaves_nothing_running(
    source: ScriptedSource,
) -> None:
    server = TickwireServer(Settings(port=0, shutdown_grace=1.0), source=source)
    await server.start()
    async with grpc.aio.insecure_channel(server.target) as channel:
        stub = rpc.MarketDataStub(channel)
        calls = [stub.Subscribe() for _ in range(3)]
        for call in calls:
            await call.write(subscribe("AAPL"))
            await next_message(call, "ack")
        stream_prices = stub.StreamPrices(pb.StreamPricesRequest(tickers=["MSFT"]))
        await next_message(stream_prices, "ack")

        async with asyncio.timeout(10):
            await server.stop()
        for call in [*calls, stream_prices]:
            error = await ending(call)
            assert error.code() == grpc.StatusCode.UNAVAILABLE
            assert "shutting down" in (error.details() or "")
    assert source.status().state == SourceState.STOPPED
    await server.stop()  # idempotent
    leftover = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert leftover == []


async def test_simulator_serves_moving_prices_over_a_unix_socket(tmp_path: Path) -> None:
    settings = Settings(unix_socket=tmp_path / "tickwire.sock", interval=0.02, seed=7)
    async with serving(settings) as (server, channel, stub):
        assert server.target == f"unix:{tmp_path / 'tickwire.sock'}"
        call = stub.Subscribe()
        await call.write(subscribe("AAPL", "BRK.B"))
        await next_message(call, "ack")
        updates = await prices_until(
            call, lambda u: sum(x.ticker == "BRK.B" for x in u) >= 3 and has("AAPL")(u)
        )
        brk = [u for u in updates if u.ticker == "BRK.B"]
        assert [u.sequence for u in brk] == sorted(u.sequence for u in brk)
        assert len({u.price for u in brk}) > 1
        assert all(u.price > 0 and u.HasField("open") for u in updates)
        listed = await stub.ListTickers(pb.ListTickersRequest(), timeout=5)
        by_ticker = {t.ticker: t for t in listed.tickers}
        assert by_ticker["AAPL"].sector == "tech" and by_ticker["AAPL"].name
        assert "BRK.B" in by_ticker
        call.cancel()


async def test_a_burst_of_thousands_of_new_streams_is_served_not_cancelled() -> None:
    """Clients reconnecting together after a restart all get in (grpc's pending-call cap)."""
    streams, per_channel = 4000, 100
    source = ScriptedSource({f"T{i:03d}": 100.0 + i for i in range(100)})
    # All from one address here; behind it, thousands of clients (no per-client cap applies).
    # grpc shares one connection among these channels: let it carry them all.
    settings = Settings(
        port=0, log_level="WARNING", max_streams_per_client=streams, max_concurrent_streams=streams
    )
    async with TickwireServer(settings, source=source) as server:
        channels = [grpc.aio.insecure_channel(server.target) for _ in range(streams // per_channel)]
        try:

            async def first_prices(i: int) -> str:
                stub = rpc.MarketDataStub(channels[i // per_channel])
                call = stub.StreamPrices(pb.StreamPricesRequest(tickers=[f"T{i % 100:03d}"]))
                try:
                    await next_message(call, "prices", wait=60)
                    return "ok"
                except grpc.aio.AioRpcError as error:
                    return error.code().name
                finally:
                    call.cancel()

            async with asyncio.timeout(120):
                outcomes = await asyncio.gather(*(first_prices(i) for i in range(streams)))
        finally:
            await asyncio.gather(*(c.close(None) for c in channels))
    assert Counter(outcomes) == {"ok": streams}


async def test_a_loopback_server_without_auth_starts_without_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="tickwire_server.app")
    async with TickwireServer(Settings(port=0), source=ScriptedSource()):
        pass
    assert not [r for r in caplog.records if "no access control" in r.getMessage()]


@pytest.mark.parametrize(
    ("values", "warned"),
    [
        ({"host": "0.0.0.0"}, True),
        ({"host": "192.0.2.7"}, True),
        ({"host": "tickwire.example.invalid"}, True),
        ({"host": "127.0.0.1"}, False),
        ({"host": "::1"}, False),
        ({"host": "localhost"}, False),
        ({"host": "0.0.0.0", "auth": "jwt", "jwt_secret": "x" * 32}, False),
    ],
    ids=["all-interfaces", "an-address", "a-name", "loopback", "loopback-v6", "localhost", "auth"],
)
def test_serving_beyond_loopback_with_no_auth_and_no_tls_is_warned_of(
    values: dict[str, str], warned: bool
) -> None:
    # Checked on the settings: the tests bind nothing but loopback.
    warning = exposure_warning(Settings(port=0, **values))  # type: ignore[arg-type]
    assert (warning is not None) == warned
    if warning is not None:
        assert "no access control and no TLS" in warning and values["host"] in warning


def test_tls_alone_is_enough_to_serve_beyond_loopback_quietly(tmp_path: Path) -> None:
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("x")
    key.write_text("x")
    assert exposure_warning(Settings(host="0.0.0.0", tls_cert=cert, tls_key=key)) is None
