"""Attacks a hostile or careless client would make, against one long-lived server process.

Each attack asserts that the server answers with its documented statuses
(never UNKNOWN or INTERNAL), that a canary stream beside it keeps
receiving, and (through the `attack` fixture) that descriptors, threads and
tasks come back to their baseline with memory within a bound.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import Callable
from typing import Any

import grpc
from helpers import eventually
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rawh2 import RawClient
from soak.soaking import CANARY, SCALE, SoakServer, canary, canary_figures, track_peak

from tickwire.v1 import market_data_pb2 as pb
from tickwire.v1 import market_data_pb2_grpc as rpc

Attack = tuple[SoakServer, dict[str, Any]]
NEVER = {grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL}
STREAM_PRICES = "/tickwire.v1.MarketData/StreamPrices"
OWN_CONNECTION = [("grpc.use_local_subchannel_pool", 1)]


async def _read_to_end(call: Any) -> None:
    """Read a stream opened with read() until it ends (raising its status if not OK)."""
    while await call.read() is not grpc.aio.EOF:  # type: ignore[attr-defined]
        pass


# Fuzzing -------------------------------------------------------------------

_text = st.text(max_size=40)
_tickers = st.lists(
    st.one_of(_text, st.sampled_from(["AAPL", "msft", "BRK.B", "", "ß"])), max_size=8
)
_uint32 = st.integers(0, 2**32 - 1)
STRUCTURED: dict[str, st.SearchStrategy[Any]] = {
    "GetSnapshot": st.builds(
        pb.GetSnapshotRequest, tickers=_tickers, page_size=_uint32, page_token=_text
    ),
    "ListTickers": st.builds(pb.ListTickersRequest),
    "GetMarketStatus": st.builds(pb.GetMarketStatusRequest),
    "StreamPrices": st.builds(pb.StreamPricesRequest, tickers=_tickers),
    "Subscribe": st.one_of(
        st.builds(
            lambda t, rid: pb.SubscribeRequest(
                subscribe=pb.SubscribeTickers(tickers=t, request_id=rid)
            ),
            _tickers,
            st.text(max_size=200),
        ),
        st.builds(
            lambda t: pb.SubscribeRequest(unsubscribe=pb.UnsubscribeTickers(tickers=t)), _tickers
        ),
        st.builds(lambda i: pb.SubscribeRequest(ping=pb.Ping(id=i)), st.text(max_size=200)),
        st.just(pb.SubscribeRequest()),
    ),
}


def _payloads(method: str) -> st.SearchStrategy[bytes]:
    """Random bytes, or a well-formed request with hostile contents."""
    return st.one_of(
        st.binary(max_size=4096), STRUCTURED[method].map(lambda m: m.SerializeToString())
    )


def _call(channel: grpc.Channel, method: str, payloads: list[bytes]) -> grpc.StatusCode:
    """Make one call of `method` with raw `payloads`; the status it ends with."""
    path = f"/tickwire.v1.MarketData/{method}"
    try:
        if method == "Subscribe":
            call = channel.stream_stream(path, None, None)(iter(payloads), timeout=0.1)
            for _ in call:
                pass
        elif method == "StreamPrices":
            for _ in channel.unary_stream(path, None, None)(payloads[0], timeout=0.1):
                pass
        else:
            channel.unary_unary(path, None, None)(payloads[0], timeout=5)
    except grpc.RpcError as error:
        return error.code()
    return grpc.StatusCode.OK


def _fuzzer(
    channel: grpc.Channel, method: str, codes: collections.Counter[str]
) -> Callable[[], None]:
    """A hypothesis test calling `method` with generated payloads, counting the statuses."""
    many = st.lists(_payloads(method), min_size=1, max_size=6)

    @settings(
        max_examples=SCALE.fuzz_cases,
        deadline=None,
        database=None,
        derandomize=SCALE.fuzz_cases < 1000,  # make test: the same cases every run
        suppress_health_check=list(HealthCheck),
    )
    @given(payloads=many if method == "Subscribe" else many.map(lambda p: p[:1]))
    def one(payloads: list[bytes]) -> None:
        code = _call(channel, method, payloads)
        codes[code.name] += 1
        assert code not in NEVER, (method, payloads, code)

    return one


def test_fuzz_every_method(attack: Attack) -> None:
    server, record = attack
    seen: dict[str, collections.Counter[str]] = {}
    with grpc.insecure_channel(server.target) as channel:
        for method in STRUCTURED:
            seen[method] = collections.Counter()
            _fuzzer(channel, method, seen[method])()
            track_peak(server, record)
    record["cases"] = {m: sum(c.values()) for m, c in seen.items()}
    record["statuses"] = {m: dict(c) for m, c in seen.items()}
    assert all(n >= SCALE.fuzz_cases for n in record["cases"].values()), record["cases"]


# Connect, subscribe, cancel ---------------------------------------------------


async def test_connect_subscribe_cancel_cycles(attack: Attack) -> None:
    server, record = attack
    codes: collections.Counter[str] = collections.Counter()
    remaining = SCALE.cycles

    async def cycles() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            async with grpc.aio.insecure_channel(server.target, options=OWN_CONNECTION) as channel:
                call = rpc.MarketDataStub(channel).StreamPrices(
                    pb.StreamPricesRequest(tickers=["MSFT", "NVDA"])
                )
                try:
                    message = await call.read()
                    codes["ack" if message.WhichOneof("response") == "ack" else "other"] += 1
                except grpc.aio.AioRpcError as error:
                    codes[error.code().name] += 1
                call.cancel()

    async with canary(server.target) as seen:
        await asyncio.gather(*(cycles() for _ in range(16)))
        track_peak(server, record)
        record["canary"] = canary_figures(seen)
    record["cycles"] = SCALE.cycles
    record["outcomes"] = dict(codes)
    assert codes["ack"] == SCALE.cycles, codes


# Stalled readers ------------------------------------------------------------------

STALL_TICKERS = [f"S{i:04d}" for i in range(500)]


async def _ended(server: SoakServer, reason: str, at_least: float) -> float:
    """Wait until `at_least` streams ended for `reason` in all; how many did."""

    def count() -> float:
        return server.metric("tickwire_streams_ended_total", reason=reason)

    await eventually(lambda: count() >= at_least, wait=60, every=0.2)
    return count()


async def test_stalled_readers_at_every_layer(attack: Attack) -> None:
    server, record = attack
    n = SCALE.stalled_per_layer
    stalled0 = server.metric("tickwire_streams_ended_total", reason="stalled")
    lagging0 = server.metric("tickwire_streams_ended_total", reason="lagging")
    request = pb.StreamPricesRequest(tickers=STALL_TICKERS)
    async with canary(server.target) as seen:
        async with contextlib.AsyncExitStack() as stack:
            for layer in ("zero window", "window used up", "tcp"):
                for _ in range(n):
                    window = 0 if layer == "zero window" else None
                    client = await stack.enter_async_context(
                        RawClient.connect(server.target, window=window)
                    )
                    client.call(STREAM_PRICES, request, read=layer == "tcp")
                    if layer == "tcp":
                        client.stop_reading()
            paused = []  # gRPC clients that stop reading: stalled as well, at HTTP/2
            for _ in range(n):
                channel = grpc.aio.insecure_channel(server.target, options=OWN_CONNECTION)
                call = rpc.MarketDataStub(channel).StreamPrices(request)
                await call.read()
                paused.append((channel, call))
            stalled = await _ended(server, "stalled", stalled0 + 4 * n)
            lagging = server.metric("tickwire_streams_ended_total", reason="lagging")
            track_peak(server, record)
            codes: collections.Counter[str] = collections.Counter()
            for channel, call in paused:
                try:
                    async with asyncio.timeout(30):
                        await _read_to_end(call)
                except grpc.aio.AioRpcError as error:
                    codes[error.code().name] += 1
                await channel.close(None)
            # Reading again, each gets its status if it came back within max_lag,
            # or finds its connection reset if it did not.
            assert set(codes) <= {"RESOURCE_EXHAUSTED", "UNAVAILABLE"}, codes
            assert sum(codes.values()) == n, codes
        record["canary"] = canary_figures(seen)
    record["per_layer"] = n
    record["ended_stalled"] = stalled - stalled0
    record["ended_lagging"] = lagging - lagging0
    record["paused_grpc_statuses"] = dict(codes)


# Request storm ------------------------------------------------------------------


async def test_request_storm(attack: Attack) -> None:
    server, record = attack
    acks: collections.Counter[str] = collections.Counter()
    ends: collections.Counter[str] = collections.Counter()
    sent = 0
    stop = time.monotonic() + SCALE.storm_seconds

    async def storm_once(stub: rpc.MarketDataStub) -> None:
        """One Subscribe stream sending requests as fast as it can until the server ends it."""
        nonlocal sent
        call = stub.Subscribe()

        async def write() -> None:
            nonlocal sent
            n = 0
            with contextlib.suppress(grpc.RpcError, asyncio.InvalidStateError):
                while True:
                    request = pb.SubscribeTickers(tickers=[f"Q{n % 50}"])
                    await call.write(pb.SubscribeRequest(subscribe=request))
                    sent += 1
                    n += 1

        writer = asyncio.create_task(write())
        try:
            async for message in call:
                if message.WhichOneof("response") == "ack":
                    for result in message.ack.results:
                        acks[pb.TickerStatus.Name(result.status)] += 1
            ends["OK"] += 1
        except grpc.aio.AioRpcError as error:
            if _own_failed_write(error):
                ends["client write failed"] += 1
            else:
                ends[error.code().name] += 1
        finally:
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)

    limited0 = server.metric("tickwire_streams_ended_total", reason="limit")

    async def storm() -> None:
        async with grpc.aio.insecure_channel(server.target, options=OWN_CONNECTION) as channel:
            stub = rpc.MarketDataStub(channel)
            while time.monotonic() < stop:
                await storm_once(stub)

    async with canary(server.target) as seen:
        async with asyncio.timeout(SCALE.storm_seconds + 60):
            await asyncio.gather(*(storm() for _ in range(4)))
        track_peak(server, record)
        record["canary"] = canary_figures(seen)
    limited = server.metric("tickwire_streams_ended_total", reason="limit") - limited0
    record.update(requests=sent, acks=dict(acks), ended=dict(ends), ended_by_server=limited)
    # Each storm is ended over the rate limit, RESOURCE_EXHAUSTED; the client sees that
    # status unless its own write raced the end (grpc.aio then reports INTERNAL itself).
    assert set(ends) <= {"RESOURCE_EXHAUSTED", "client write failed"}, ends
    assert ends["RESOURCE_EXHAUSTED"] >= 1
    assert limited == sum(ends.values()), (limited, ends)
    assert set(acks) == {"TICKER_STATUS_OK", "TICKER_STATUS_RATE_LIMITED"}, acks


def _own_failed_write(error: grpc.aio.AioRpcError) -> bool:
    """grpc.aio's client marks its call INTERNAL when a write fails because the call ended."""
    return (
        error.code() == grpc.StatusCode.INTERNAL
        and error.details() == "Internal error from Core"
        and "SendMessageOperation" in (error.debug_error_string() or "")
    )


# Universe ---------------------------------------------------------------------


async def test_universe_attack(attack: Attack) -> None:
    server, record = attack
    upstream0 = server.metric("tickwire_tickers_upstream")
    statuses: collections.Counter[str] = collections.Counter()
    messages: set[str] = set()
    async with canary(server.target) as seen:
        channel = grpc.aio.insecure_channel(server.target, options=OWN_CONNECTION)
        calls = []
        for s in range(SCALE.universe_streams):
            tickers = [f"U{s:03d}X{i:03d}" for i in range(500)]
            call = rpc.MarketDataStub(channel).StreamPrices(pb.StreamPricesRequest(tickers=tickers))
            try:
                ack = (await call.read()).ack
            except grpc.aio.AioRpcError as error:  # a stream that got none of them
                statuses[error.code().name] += 1
                continue
            for result in ack.results:
                statuses[pb.TickerStatus.Name(result.status)] += 1
                if result.status == pb.TICKER_STATUS_LIMIT_EXCEEDED:
                    messages.add(result.message)
            calls.append(call)
        peak = server.metric("tickwire_tickers_upstream")
        track_peak(server, record)
        for call in calls:
            call.cancel()
        await channel.close(None)
        record["canary"] = canary_figures(seen)
    # the attack's tickers are released after the grace
    await eventually(
        lambda: server.metric("tickwire_tickers_upstream") <= upstream0, wait=30, every=0.2
    )
    record.update(statuses=dict(statuses), peak_upstream=peak, universe_cap=3000)
    assert peak <= 3000
    assert set(statuses) <= {"TICKER_STATUS_OK", "TICKER_STATUS_LIMIT_EXCEEDED", "INVALID_ARGUMENT"}
    if SCALE.universe_streams * 500 > 3000:
        assert statuses["TICKER_STATUS_LIMIT_EXCEEDED"] > 0
        assert all("3000" in m for m in messages), messages


# Idle connections -------------------------------------------------------------------


async def test_idle_connections(attack: Attack) -> None:
    server, record = attack
    closed = 0
    handshaken = 0
    all_handshaken = asyncio.Event()

    async def idle() -> None:
        nonlocal closed, handshaken
        async with RawClient.connect(server.target) as raw:
            await raw.ready.wait()
            handshaken += 1
            if handshaken == SCALE.idle_connections:
                all_handshaken.set()
            await raw.closed.wait()  # GOAWAY and close after --max-connection-idle
            closed += 1

    async with canary(server.target) as seen:
        tasks = [asyncio.create_task(idle()) for _ in range(SCALE.idle_connections)]
        async with asyncio.timeout(30):
            await all_handshaken.wait()  # the server holds every one of them now
        record["peak_fds"] = server.fds()
        track_peak(server, record)
        async with asyncio.timeout(60):
            await asyncio.gather(*tasks)
        record["canary"] = canary_figures(seen)
    record.update(connections=SCALE.idle_connections, closed_by_server=closed)
    assert closed == SCALE.idle_connections


# Shutdown under load ---------------------------------------------------------------


async def test_shutdown_under_load(figures: dict[str, Any]) -> None:
    server = SoakServer("--shutdown-grace", "1")
    record: dict[str, Any] = {}
    codes: collections.Counter[str] = collections.Counter()
    try:
        channels = [
            grpc.aio.insecure_channel(server.target, options=OWN_CONNECTION) for _ in range(10)
        ]
        calls = []
        for i in range(SCALE.shutdown_streams):
            call = rpc.MarketDataStub(channels[i % 10]).StreamPrices(
                pb.StreamPricesRequest(tickers=[CANARY, f"L{i % 200}"])
            )
            await call.read()
            calls.append(call)
        # under load: every stream is receiving prices when the signal comes
        await asyncio.gather(*(call.read() for call in calls))

        async def drain(call: Any) -> None:
            try:
                await _read_to_end(call)
                codes["OK"] += 1
            except grpc.aio.AioRpcError as error:
                codes[error.code().name] += 1

        readers = [asyncio.create_task(drain(c)) for c in calls]
        began = time.monotonic()
        exit_code = await asyncio.to_thread(server.stop)
        record["exit_seconds"] = round(time.monotonic() - began, 2)
        async with asyncio.timeout(30):
            await asyncio.gather(*readers)
        await asyncio.gather(*(c.close(None) for c in channels))
    finally:
        server.stop()
    record.update(streams=SCALE.shutdown_streams, statuses=dict(codes), exit_code=exit_code)
    figures["attacks"]["shutdown_under_load"] = record
    assert exit_code == 0, "".join(server.stderr[-20:])
    assert codes == {"UNAVAILABLE": SCALE.shutdown_streams}, codes
