"""Candles over gRPC: GetCandles paging, limits and bad input; live candle streams; restarts."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from helpers import next_message, until

from tickwire.v1 import candles_pb2 as cpb
from tickwire.v1 import market_data_pb2 as pb
from tickwire.v1 import market_data_pb2_grpc as rpc
from tickwire_server.candles.intervals import NS
from tickwire_server.domain import Quote
from tickwire_server.testing import InProcessServer, serve_in_process

MINUTE = 60 * NS
M1 = cpb.CANDLE_INTERVAL_1_MIN


def stamp(t_ns: int) -> Timestamp:
    ts = Timestamp()
    ts.FromNanoseconds(t_ns)
    return ts


@contextlib.asynccontextmanager
async def candles_server(
    folder: Path, **overrides: Any
) -> AsyncIterator[tuple[InProcessServer, rpc.MarketDataStub]]:
    async with (
        serve_in_process(
            {"AAPL": 100.0}, history_url=f"sqlite:///{folder / 'candles.db'}", **overrides
        ) as server,
        grpc.aio.insecure_channel(server.target) as channel,
    ):
        yield server, rpc.MarketDataStub(channel)


def minute_start(server: InProcessServer) -> int:
    """The start of the minute after the server's clock: pushes go from there."""
    now = server.controls.source.clock.now_ns()
    return now - now % MINUTE + MINUTE


def push_minutes(server: InProcessServer, t0: int, minutes: int) -> list[tuple[Any, ...]]:
    """Three prices a minute into NEWCO (open, high, then close), with sizes; each minute's bar."""
    expected = []
    for m in range(minutes):
        base = 50.0 + m
        ticks = [(base, 100.0), (base + 2.0, 300.0), (base + 1.0, 100.0)]
        for k, (price, size) in enumerate(ticks):
            server.push([Quote("NEWCO", price, t0 + m * MINUTE + k * 10 * NS, volume=size)])
        vwap = sum(p * s for p, s in ticks) / 500.0
        expected.append((t0 + m * MINUTE, base, base + 2.0, base, base + 1.0, 500.0, vwap, 3))
    return expected


def values(c: cpb.Candle) -> tuple[Any, ...]:
    return (
        c.start.ToNanoseconds(),
        c.open,
        c.high,
        c.low,
        c.close,
        c.volume,
        pytest.approx(c.vwap),
        c.transactions,
    )


async def all_candles(stub: rpc.MarketDataStub, **fields: Any) -> list[cpb.Candle]:
    out: list[cpb.Candle] = []
    token = ""
    for _ in range(100):
        page = await stub.GetCandles(cpb.GetCandlesRequest(page_token=token, **fields))
        out.extend(page.candles)
        token = page.next_page_token
        if not token:
            return out
    raise AssertionError("GetCandles never stopped paging")


async def test_get_candles_returns_the_bars_of_the_prices_and_they_survive_a_restart(
    tmp_path: Path,
) -> None:
    async with candles_server(tmp_path) as (server, stub):
        t0 = minute_start(server)
        expected = push_minutes(server, t0, 6)
        server.push([Quote("NEWCO", 99.0, t0 + 6 * MINUTE + 5 * NS)])  # closes minute 5
        request = {
            "ticker": "NEWCO",
            "interval": M1,
            "start": stamp(t0 - 10 * MINUTE),
            "end": stamp(t0 + 10 * MINUTE),
        }
        candles = await all_candles(stub, **request)
        assert [values(c) for c in candles[:6]] == expected
        assert all(c.complete and c.source == cpb.CANDLE_SOURCE_LIVE for c in candles[:6])
        forming = candles[6]
        assert not forming.complete and forming.close == 99.0  # the forming bar comes last
        assert candles[0].end.ToNanoseconds() == t0 + MINUTE
        for name in (cpb.CANDLE_INTERVAL_5_MIN, cpb.CANDLE_INTERVAL_2_MIN):  # stored; derived
            length = (5 if name == cpb.CANDLE_INTERVAL_5_MIN else 2) * MINUTE
            coarse = await all_candles(stub, **{**request, "interval": name})
            for bar in coarse:
                start = bar.start.ToNanoseconds()
                parts = [e for e in expected if start <= e[0] < start + length]
                if bar.complete:
                    assert bar.high == max(e[2] for e in parts), (name, bar)
                    assert bar.transactions == sum(e[7] for e in parts)
        assert server.server.history is not None
        await server.server.history.flush()  # what the writer does every half second
    async with candles_server(tmp_path) as (server, stub):
        again = await all_candles(stub, **request)
        assert [values(c) for c in again] == expected  # closed bars only: the forming one is gone
        assert all(c.complete for c in again)


async def test_get_candles_pages_with_a_token_until_the_range_is_done(tmp_path: Path) -> None:
    async with candles_server(tmp_path) as (server, stub):
        t0 = minute_start(server)
        expected = push_minutes(server, t0, 10)
        server.push([Quote("NEWCO", 1.0, t0 + 11 * MINUTE)])
        request = cpb.GetCandlesRequest(
            ticker="newco", interval=M1, start=stamp(t0), end=stamp(t0 + 10 * MINUTE), limit=3
        )
        pages = []
        while True:
            page = await stub.GetCandles(request)
            pages.append([values(c) for c in page.candles])
            if not page.next_page_token:
                break
            request.page_token = page.next_page_token
        assert [len(p) for p in pages] == [3, 3, 3, 1]
        assert [v for p in pages for v in p] == expected


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"interval": 0}, "name an interval: one of 5s"),
        ({"interval": 99}, "name an interval"),
        ({"ticker": "BAD!"}, "ticker 'BAD!'"),
        ({"start": None}, "name a start"),
        ({"end": -MINUTE}, "end must be after start"),
        ({"end": 2 * 86400 * NS}, "a 1m request may span at most 1d"),
        ({"limit": 2401}, "limit 2401 is over the 1m maximum of 2400"),
        ({"page_token": "not-a-token"}, "is not one this server gave"),
    ],
)
async def test_bad_get_candles_requests_are_invalid_argument_with_the_allowed_values(
    tmp_path: Path, fields: dict[str, object], message: str
) -> None:
    async with candles_server(tmp_path) as (server, stub):
        t0 = minute_start(server)
        base: dict[str, object] = {"ticker": "AAPL", "interval": M1, "start": t0, "end": MINUTE}
        base.update(fields)
        request = cpb.GetCandlesRequest(ticker=str(base["ticker"]), interval=base["interval"])  # type: ignore[arg-type]
        if base["start"] is not None:
            request.start.CopyFrom(stamp(int(base["start"])))  # type: ignore[call-overload]
        request.end.CopyFrom(stamp(t0 + int(base["end"])))  # type: ignore[call-overload]
        request.limit = int(base.get("limit", 0))  # type: ignore[call-overload]
        request.page_token = str(base.get("page_token", ""))
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.GetCandles(request)
        assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert message in (caught.value.details() or "")
        # The server goes on serving.
        assert (await stub.GetMarketStatus(pb.GetMarketStatusRequest())).status.source


async def test_a_page_token_of_another_request_is_refused(tmp_path: Path) -> None:
    async with candles_server(tmp_path) as (server, stub):
        t0 = minute_start(server)
        push_minutes(server, t0, 4)
        server.push([Quote("NEWCO", 1.0, t0 + 5 * MINUTE)])
        first = cpb.GetCandlesRequest(
            ticker="NEWCO", interval=M1, start=stamp(t0), end=stamp(t0 + 5 * MINUTE), limit=2
        )
        page = await stub.GetCandles(first)
        other = cpb.GetCandlesRequest(
            ticker="AAPL", interval=M1, start=stamp(t0), page_token=page.next_page_token
        )
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.GetCandles(other)
        assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "belongs to another request" in (caught.value.details() or "")


async def test_subscribe_streams_the_forming_bar_then_the_closed_one(tmp_path: Path) -> None:
    async with candles_server(tmp_path, heartbeat_interval=30.0) as (server, stub):
        t0 = minute_start(server)
        server.push([Quote("NEWCO", 10.0, t0)])
        call = stub.Subscribe()
        await call.write(
            pb.SubscribeRequest(
                subscribe_candles=cpb.SubscribeCandles(
                    tickers=["NEWCO", "BAD!"], interval=M1, request_id="c1"
                )
            )
        )
        ack = (await next_message(call, "ack")).ack
        assert ack.action == pb.SUBSCRIPTION_ACTION_SUBSCRIBE_CANDLES
        assert (ack.request_id, ack.interval, list(ack.tickers)) == ("c1", M1, ["NEWCO"])
        assert [r.status for r in ack.results] == [
            pb.TICKER_STATUS_OK,
            pb.TICKER_STATUS_INVALID_SYMBOL,
        ]
        first = (await next_message(call, "candle")).candle
        assert (first.ticker, first.close, first.complete) == ("NEWCO", 10.0, False)
        server.push([Quote("NEWCO", 12.0, t0 + 10 * NS)])
        forming = await until(call, lambda m: m.HasField("candle") and m.candle.close == 12.0)
        assert forming.candle.high == 12.0 and not forming.candle.complete
        server.push([Quote("NEWCO", 11.0, t0 + MINUTE + NS)])
        closed = await until(call, lambda m: m.HasField("candle") and m.candle.complete)
        assert (closed.candle.open, closed.candle.high, closed.candle.close) == (10.0, 12.0, 12.0)
        assert closed.candle.start.ToNanoseconds() == t0
        # Prices are not sent for a ticker watched only for its candles.
        await call.write(
            pb.SubscribeRequest(
                unsubscribe_candles=cpb.UnsubscribeCandles(tickers=["NEWCO", "MSFT"], interval=M1)
            )
        )
        ack = (await until(call, lambda m: m.HasField("ack"))).ack
        assert ack.action == pb.SUBSCRIPTION_ACTION_UNSUBSCRIBE_CANDLES
        assert [r.status for r in ack.results] == [
            pb.TICKER_STATUS_OK,
            pb.TICKER_STATUS_NOT_SUBSCRIBED,
        ]
        assert list(ack.tickers) == []
        await call.write(
            pb.SubscribeRequest(subscribe_candles=cpb.SubscribeCandles(tickers=["NEWCO"]))
        )
        refused = (await until(call, lambda m: m.HasField("ack"))).ack
        assert "no interval: name one of 5s" in refused.message
        call.cancel()


async def test_stream_candles_with_closed_only_sends_only_closed_bars(tmp_path: Path) -> None:
    async with candles_server(tmp_path, heartbeat_interval=30.0) as (server, stub):
        t0 = minute_start(server)
        server.push([Quote("NEWCO", 10.0, t0)])
        call = stub.StreamCandles(
            cpb.StreamCandlesRequest(
                tickers=["NEWCO"], interval=cpb.CANDLE_INTERVAL_5_SEC, closed_only=True
            )
        )
        ack = (await next_message(call, "ack")).ack
        assert list(ack.tickers) == ["NEWCO"] and ack.interval == cpb.CANDLE_INTERVAL_5_SEC
        for k in range(1, 4):
            server.push([Quote("NEWCO", 10.0 + k, t0 + k * NS)])
        book = server.server.candles
        assert book is not None
        book.send_forming()  # what the 250 ms task does: a forming bar would go out now
        server.push([Quote("NEWCO", 20.0, t0 + 6 * NS)])
        message = await next_message(call, "candle")
        assert message.candle.complete and message.candle.close == 13.0
        assert message.candle.transactions == 4
        call.cancel()


async def test_stream_candles_with_no_accepted_ticker_ends_invalid_argument(
    tmp_path: Path,
) -> None:
    async with candles_server(tmp_path) as (_, stub):
        call = stub.StreamCandles(cpb.StreamCandlesRequest(tickers=["BAD!"], interval=M1))
        ack = (await next_message(call, "ack")).ack
        assert ack.results[0].status == pb.TICKER_STATUS_INVALID_SYMBOL
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call.read()
        assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        bad = stub.StreamCandles(cpb.StreamCandlesRequest(tickers=["AAPL"]))
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await bad.read()
        assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "name one of 5s" in (caught.value.details() or "")


async def test_after_a_restart_the_forming_bar_joins_what_was_stored_before(
    tmp_path: Path,
) -> None:
    five = 5 * MINUTE
    async with candles_server(tmp_path) as (server, stub):
        now = server.controls.source.clock.now_ns()
        t0 = now - now % five + five  # the start of a 5m bar ahead of the clock
        for m in range(3):  # three minutes of it, closed and stored before the restart
            server.push([Quote("NEWCO", 10.0 + m, t0 + m * MINUTE, volume=100.0)])
        server.push([Quote("NEWCO", 20.0, t0 + 3 * MINUTE)])  # forming: lost with the stop
        assert server.server.history is not None
        await server.server.history.flush()  # what the writer does every half second
    async with candles_server(tmp_path) as (server, stub):
        server.push([Quote("NEWCO", 30.0, t0 + 4 * MINUTE, volume=100.0)])
        request = cpb.GetCandlesRequest(
            ticker="NEWCO", interval=cpb.CANDLE_INTERVAL_5_MIN, start=stamp(t0),
            end=stamp(t0 + five),
        )  # fmt: skip
        (bar,) = (await stub.GetCandles(request)).candles
        assert not bar.complete
        assert (bar.open, bar.high, bar.close) == (10.0, 30.0, 30.0)
        assert bar.transactions == 4  # three stored minutes and the price after the restart
        assert bar.volume == 400.0
