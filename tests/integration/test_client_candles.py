"""The Python client's candles: `candles` across windows and pages, `subscribe_candles` live."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest
from helpers import Restartable

from tickwire import Client, RpcError, interval_info
from tickwire.v1 import candles_pb2 as cpb
from tickwire_server.candles.intervals import NS
from tickwire_server.domain import Quote
from tickwire_server.testing import InProcessServer, serve_in_process

MINUTE = 60 * NS


def minute_after_clock(server: InProcessServer) -> int:
    now = server.controls.source.clock.now_ns()
    return now - now % MINUTE + MINUTE


def when(t_ns: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(t_ns / NS, dt.UTC)


async def test_candles_splits_a_wide_range_into_requests_and_follows_every_page(
    tmp_path: Path,
) -> None:
    async with serve_in_process({"AAPL": 10.0}, history_url=f"sqlite:///{tmp_path}/c.db") as server:
        t0 = minute_after_clock(server)
        minutes = 250  # 5s bars may be asked 200 minutes at a time: two requests
        for m in range(minutes):
            server.push([Quote("NEWCO", 100.0 + m, t0 + m * MINUTE)])
        server.push([Quote("NEWCO", 1.0, t0 + minutes * MINUTE)])
        async with Client(server) as client:
            bars = await client.candles("NEWCO", "5s", when(t0), when(t0 + minutes * MINUTE))
            assert [b.close for b in bars] == [100.0 + m for m in range(minutes)]
            assert all(b.complete and b.interval == cpb.CANDLE_INTERVAL_5_SEC for b in bars)
            # Bars start in the range: the hour holding t0 starts before it.
            hour_start = when(t0 - 60 * MINUTE)
            hourly = await client.candles("NEWCO", "1h", hour_start, when(t0 + minutes * MINUTE))
            assert sum(b.transactions for b in hourly) == minutes + 1  # the forming hour too
            assert hourly[-1].close == 1.0 and not hourly[-1].complete
            with pytest.raises(ValueError, match="one of 5s"):
                await client.candles("NEWCO", "7m", when(t0))
            with pytest.raises(RpcError) as caught:
                await client.candles("BAD!", "1m", when(t0), when(t0 + MINUTE))
            assert caught.value.code == "INVALID_ARGUMENT"


def test_interval_names_and_limits_come_from_the_contract() -> None:
    info = interval_info("1m")
    assert (info.number, info.seconds, info.max_limit) == (cpb.CANDLE_INTERVAL_1_MIN, 60, 2400)
    assert info.max_range == dt.timedelta(days=1)
    assert interval_info(cpb.CANDLE_INTERVAL_1_MONTH).name == "1mo"


async def test_subscribe_candles_streams_bars_and_resubscribes_after_a_restart(
    tmp_path: Path,
) -> None:
    async with Restartable(tmp_path / "candles.sock") as servers:
        server = await servers.start({"AAPL": 10.0})
        async with Client(servers.target, heartbeat_timeout=5.0) as client:
            t0 = minute_after_clock(server)
            server.push([Quote("NEWCO", 10.0, t0)])
            bars = client.subscribe_candles("NEWCO", "bad!", interval="1m")
            first = await asyncio.wait_for(anext(bars), 5)
            assert (first.ticker, first.close, first.complete) == ("NEWCO", 10.0, False)
            assert [r.ticker for r in bars.results if not r.ok] == ["BAD!"]
            assert bars.tickers == ["NEWCO"]
            server.push([Quote("NEWCO", 11.0, t0 + MINUTE)])
            async with asyncio.timeout(5):
                closed = await anext(bars)
                while not closed.complete:
                    closed = await anext(bars)
            assert (closed.open, closed.close, closed.start.ToNanoseconds()) == (10.0, 10.0, t0)
            server = await servers.start({"AAPL": 10.0})  # a new server on the same address
            t1 = minute_after_clock(server)
            server_pushes = asyncio.create_task(_push_until_read(server, t1))
            async with asyncio.timeout(10):
                again = await anext(bars)
                while again.close != 42.0:
                    again = await anext(bars)
            server_pushes.cancel()
            assert bars.stats.reconnects >= 1
            removed = await bars.remove("NEWCO")
            assert [r.ok for r in removed] == [True] and bars.tickers == []


async def _push_until_read(server: InProcessServer, t1: int) -> None:
    """Push a price again and again until cancelled: the subscription may not be back yet."""
    k = 0
    while True:
        server.push([Quote("NEWCO", 42.0, t1 + k * NS)])
        k += 1
        await asyncio.sleep(0.1)
