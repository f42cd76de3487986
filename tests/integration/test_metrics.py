"""Prometheus metrics of a real server, scraped over HTTP while clients stream."""

from __future__ import annotations

import asyncio
import urllib.request

import grpc
from helpers import eventually, next_message, subscribe
from prometheus_client.parser import text_string_to_metric_families

from tickwire import Client
from tickwire.v1 import market_data_pb2 as pb
from tickwire.v1 import market_data_pb2_grpc as rpc
from tickwire_server.testing import serve_in_process

NAMES = {
    "tickwire_streams_open",
    "tickwire_streams_opened",
    "tickwire_streams_ended",
    "tickwire_updates_accepted",
    "tickwire_updates_sent",
    "tickwire_updates_conflated",
    "tickwire_frames_sent",
    "tickwire_bytes_sent",
    "tickwire_tickers_upstream",
    "tickwire_requests_rejected",
    "tickwire_source_state",
    "tickwire_upstream_errors",
    "tickwire_delivery_lag_seconds",
    "tickwire_connections_closed",
    "tickwire_tasks",
    "tickwire_candles_closed",
    "tickwire_candle_corrections",
    "tickwire_late_prices_dropped",
}


async def _text(port: int) -> str:
    def get() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            return str(answer.read().decode())

    return await asyncio.to_thread(get)


async def _scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = await _text(port)
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def _value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_the_metrics_move_while_a_client_watches() -> None:
    async with serve_in_process({"AAPL": 190.0, "MSFT": 420.0}, metrics_port=0) as server:
        metrics = server.server.metrics
        assert metrics is not None
        before = await _scrape(metrics.port)
        declared = {
            line.split()[2].removesuffix("_total")
            for line in (await _text(metrics.port)).splitlines()
            if line.startswith("# TYPE ")
        }
        assert NAMES <= declared
        assert _value(before, "tickwire_source_state", state="healthy") == 1.0
        async with Client(server) as client:
            prices = client.subscribe("AAPL", "MSFT", "BAD$")
            for _ in range(2):
                await asyncio.wait_for(anext(prices), 5)
            for price in range(40):
                server.push({"AAPL": 191.0 + price, "MSFT": 421.0 + price})
            async with asyncio.timeout(5):
                while (await anext(prices)).price != 191.0 + 39:
                    pass
            # Counted once the frame is written, a moment after the client read it.
            await eventually(lambda: server.server.stats.updates_sent >= 4)
            during = await _scrape(metrics.port)
            assert _value(during, "tickwire_streams_open", rpc="Subscribe") == 1.0
            assert _value(during, "tickwire_tickers_upstream") == 2.0
        # The server has closed the stream once it released both.
        await eventually(lambda: not server.server.hub.upstream_tickers())
        after = await _scrape(metrics.port)
    assert _value(during, "tickwire_streams_opened_total") == 1.0
    assert _value(during, "tickwire_updates_accepted_total") >= 82  # seeds and 40 batches of 2
    assert _value(during, "tickwire_updates_sent_total") >= 4
    assert _value(during, "tickwire_frames_sent_total") >= 2
    assert _value(during, "tickwire_bytes_sent_total") > 100
    assert _value(during, "tickwire_requests_rejected_total", reason="invalid_symbol") == 1.0
    assert _value(after, "tickwire_streams_ended_total", reason="client") == 1.0


async def test_refusals_and_lag_ends_are_counted_by_reason() -> None:
    async with serve_in_process(metrics_port=0, auth="jwt", max_streams_per_client=1) as server:
        metrics = server.server.metrics
        assert metrics is not None
        async with grpc.aio.insecure_channel(server.target) as channel:
            stub = rpc.MarketDataStub(channel)
            refused = stub.StreamPrices(pb.StreamPricesRequest(tickers=["AAPL"]))
            try:
                await refused.read()
            except grpc.aio.AioRpcError:
                pass
            token = (("authorization", f"Bearer {server.token('alice')}"),)
            first = stub.Subscribe(metadata=token)
            await first.write(subscribe("AAPL"))
            await next_message(first, "ack")
            second = stub.Subscribe(metadata=token)
            try:
                await second.read()
            except grpc.aio.AioRpcError:
                pass
            first.cancel()
        samples = await _scrape(metrics.port)
    assert _value(samples, "tickwire_requests_rejected_total", reason="unauthenticated") == 1.0
    assert _value(samples, "tickwire_requests_rejected_total", reason="too_many_streams") == 1.0


async def test_metrics_are_off_unless_asked_for() -> None:
    async with serve_in_process() as server:
        assert server.server.metrics is None


async def test_candles_are_counted_closed_corrected_and_dropped() -> None:
    from tickwire_server.candles.intervals import NS
    from tickwire_server.domain import Quote

    async with serve_in_process({"AAPL": 190.0}, metrics_port=0, candle_grace=10.0) as server:
        metrics = server.server.metrics
        assert metrics is not None
        now = server.controls.source.clock.now_ns()
        t0 = now - now % (60 * NS) + 60 * NS
        server.push([Quote("NEWCO", 10.0, t0)])
        server.push([Quote("NEWCO", 11.0, t0 + 7 * NS)])  # the first 5s bar closes
        server.push([Quote("NEWCO", 12.0, t0 + 2 * NS)])  # late, within the grace: a correction
        server.push([Quote("NEWCO", 13.0, t0 + 60 * NS)])
        server.push([Quote("NEWCO", 14.0, t0 + 1 * NS)])  # a minute late: dropped
        async with grpc.aio.insecure_channel(server.target) as channel:
            stub = rpc.MarketDataStub(channel)
            from tickwire.v1 import candles_pb2 as cpb

            call = stub.StreamCandles(
                cpb.StreamCandlesRequest(tickers=["NEWCO"], interval=cpb.CANDLE_INTERVAL_1_MIN)
            )
            await next_message(call, "ack")
            samples = await _scrape(metrics.port)
            call.cancel()
    assert _value(samples, "tickwire_streams_open", rpc="StreamCandles") == 1.0
    assert _value(samples, "tickwire_candles_closed_total") >= 3  # 5s bars, and the 1m one
    assert _value(samples, "tickwire_candle_corrections_total") >= 1
    assert _value(samples, "tickwire_late_prices_dropped_total") == 1.0
