"""Readers that stall below gRPC (HTTP/2 flow control, TCP) are ended, told, and forgotten."""

from __future__ import annotations

import asyncio
import logging

import grpc
import pytest
from helpers import ending, eventually
from rawh2 import RawClient

from tickwire.v1 import market_data_pb2 as pb
from tickwire.v1 import market_data_pb2_grpc as rpc
from tickwire_server.testing import InProcessServer, serve_in_process

STREAM_PRICES = "/tickwire.v1.MarketData/StreamPrices"
TICKERS = [f"T{i:03d}" for i in range(500)]
MAX_LAG, HEARTBEAT = 0.5, 1.0


async def _publish_until_stalled(server: InProcessServer, stalled: int = 1) -> float:
    """Push prices for every ticker until `stalled` streams ended stalled; how long it took."""
    stats = server.server.stats
    loop = asyncio.get_running_loop()
    began = loop.time()
    price = 100.0
    async with asyncio.timeout(20):
        while stats.streams_ended["stalled"] < stalled:
            price += 0.01
            server.push({t: price for t in TICKERS})
            await asyncio.sleep(0.01)
    return loop.time() - began


@pytest.mark.parametrize("window", [0, None], ids=["zero window", "window used up"])
async def test_a_stream_stalled_in_http2_flow_control_is_ended_and_its_connection_reset(
    window: int | None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with (
        serve_in_process(
            prices={t: 100.0 for t in TICKERS}, max_lag=MAX_LAG, heartbeat_interval=HEARTBEAT
        ) as server,
        RawClient.connect(server.target, window=window) as raw,
    ):
        stream = raw.call(STREAM_PRICES, pb.StreamPricesRequest(tickers=TICKERS))
        took = await _publish_until_stalled(server)
        # ended within max_lag plus one heartbeat, with room for a loaded machine
        assert took < MAX_LAG + HEARTBEAT + 2.0
        assert server.server.hub.subscriber_count() == 0  # its memory is released
        async with asyncio.timeout(5):  # the client is told: never left open
            await raw.streams[stream].ended.wait()
        assert raw.closed.is_set() or raw.streams[stream].reset
        await eventually(lambda: server.server.stats.connections_closed["stalled"] == 1, wait=5)
    # one line for the ended stream, and no traceback from grpc for a call the server ended
    ends = [r for r in caplog.records if "closed after" in r.getMessage()]
    assert [(r.levelno, "stalled" in r.getMessage()) for r in ends] == [(logging.WARNING, True)]
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


async def test_a_reader_stalled_at_tcp_is_ended_and_reset() -> None:
    async with (
        serve_in_process(
            prices={t: 100.0 for t in TICKERS}, max_lag=MAX_LAG, heartbeat_interval=HEARTBEAT
        ) as server,
        RawClient.connect(server.target) as raw,
    ):
        stream = raw.call(STREAM_PRICES, pb.StreamPricesRequest(tickers=TICKERS), read=True)
        raw.stop_reading()
        await _publish_until_stalled(server)
        assert server.server.hub.subscriber_count() == 0
        # it took nothing for another max_lag: cut
        await eventually(lambda: server.server.stats.connections_closed["stalled"] == 1, wait=5)
        raw.resume_reading()
        async with asyncio.timeout(5):
            await raw.closed.wait()  # reset, not merely half-closed after the backlog
        assert raw.streams[stream].status is None


async def test_a_stalled_stream_beside_a_healthy_one_leaves_the_connection_serving() -> None:
    async with (
        serve_in_process(
            prices={t: 100.0 for t in TICKERS}, max_lag=MAX_LAG, heartbeat_interval=HEARTBEAT
        ) as server,
        RawClient.connect(server.target, window=0) as raw,
    ):
        healthy = raw.call(STREAM_PRICES, pb.StreamPricesRequest(tickers=["T000"]), read=True)
        raw.call(STREAM_PRICES, pb.StreamPricesRequest(tickers=TICKERS))
        await _publish_until_stalled(server)
        assert server.server.hub.subscriber_count() == 1  # the stalled one is released
        raw.streams[healthy].arrived.clear()
        server.push({"T000": 555.0})
        async with asyncio.timeout(5):
            await raw.streams[healthy].arrived.wait()
        assert not raw.closed.is_set()


async def test_a_grpc_client_that_paused_gets_its_status_when_it_reads_again() -> None:
    async with (
        serve_in_process(
            prices={t: 100.0 for t in TICKERS}, max_lag=1.0, heartbeat_interval=HEARTBEAT
        ) as server,
        grpc.aio.insecure_channel(server.target) as channel,
    ):
        call = rpc.MarketDataStub(channel).StreamPrices(pb.StreamPricesRequest(tickers=TICKERS))
        await call.read()  # the ack; then the client stops reading
        await _publish_until_stalled(server)
        error = await ending(call)  # reading again within max_lag: the status was kept for it
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "fell behind" in (error.details() or "")
        assert server.server.stats.connections_closed["stalled"] == 0
