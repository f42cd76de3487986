"""Scale-out on one machine: an ingest and edges in this process, joined by a real NATS server.

The ingest serves a synthetic source on a manual clock, so every price is
one a test pushed; the edges serve clients from what comes over the bus.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import pytest
from helpers import StateLog, eventually, eventually_async, health, price_reaches
from natsserver import NatsServer
from processes import spawned_server

from tickwire import Client, ConnectionState, PriceUpdate, RpcError
from tickwire.v1 import market_data_pb2 as pb
from tickwire_server.testing import InProcessServer, serve_in_process

SEEDS = {"AAPL": 190.0, "MSFT": 410.0, "NVDA": 120.0}
QUICK = {
    "port": 0,
    "release_grace": 0.05,
    "heartbeat_interval": 30.0,
    "shutdown_grace": 0.5,
    "interest_lease": 1.5,
    "leader_lease": 1.0,
    "bus_stale_after": 1.0,
    "bus_outage_limit": 2.0,
}


@contextlib.asynccontextmanager
async def ingest(
    nats: NatsServer, name: str = "ingest-1", **overrides: Any
) -> AsyncIterator[InProcessServer]:
    options = {**QUICK, "role": "ingest", "bus_url": nats.url, "node_name": name, **overrides}
    async with serve_in_process(SEEDS, **options) as server:
        await eventually(lambda: server.server.bus is not None and server.server.bus.leader)
        yield server


@contextlib.asynccontextmanager
async def edge(nats: NatsServer, name: str, **overrides: Any) -> AsyncIterator[InProcessServer]:
    from tickwire_server.config import Settings

    options = {**QUICK, "role": "edge", "bus_url": nats.url, "node_name": name, **overrides}
    async with serve_in_process(settings=Settings(**options)) as server:
        yield server


async def take(subscription: Any, count: int, wait: float = 5.0) -> list[PriceUpdate]:
    out: list[PriceUpdate] = []
    async with asyncio.timeout(wait):
        async for update in subscription:
            out.append(update)
            if len(out) >= count:
                return out
    raise AssertionError("the subscription ended")


async def gather(subscription: Any, out: list[PriceUpdate]) -> None:
    """Append every update of `subscription` to `out` as it comes (until cancelled)."""
    async for update in subscription:
        out.append(update)


def both_have(a: list[PriceUpdate], b: list[PriceUpdate], count: int) -> Callable[[], bool]:
    return lambda: len(a) >= count and len(b) >= count


def seen(updates: list[PriceUpdate]) -> list[tuple[str, int, float]]:
    return [(u.ticker, u.sequence, u.price) for u in updates]


async def test_clients_of_two_edges_see_the_same_sequences(nats: NatsServer) -> None:
    async with ingest(nats) as source, edge(nats, "edge-a") as a, edge(nats, "edge-b") as b:
        async with Client(a.target) as ca, Client(b.target) as cb:
            sa, sb = ca.subscribe("AAPL", "MSFT"), cb.subscribe("AAPL", "MSFT")
            await sa.wait_connected()
            await sb.wait_connected()
            bus = source.server.bus
            assert bus is not None
            # Both edges' interest has reached the ingest before the prices go out.
            await eventually(lambda: {"edge-a", "edge-b"} <= set(bus.edges()))
            await eventually(lambda: len(a.server.hub.upstream_tickers()) == 2)
            first_a = await take(sa, 2)  # the snapshots (from the bucket)
            first_b = await take(sb, 2)
            assert sorted(seen(first_a)) == sorted(seen(first_b))
            # Read as they come (the client's inbox keeps only the latest of a ticker), and
            # push the next prices once both clients have the last.
            got_a: list[PriceUpdate] = []
            got_b: list[PriceUpdate] = []
            reading = [asyncio.create_task(gather(s, got)) for s, got in ((sa, got_a), (sb, got_b))]
            pushed = []
            for i in range(20):
                pushed.append(source.push({"AAPL": 190.0 + i, "MSFT": 410.0 - i}))
                await eventually(both_have(got_a, got_b, 2 * (i + 1)))
            for task in reading:
                task.cancel()
            assert seen(got_a) == seen(got_b)
            assert [u.sequence for u in got_a if u.ticker == "AAPL"] == [p["AAPL"] for p in pushed]
            assert all(u.state == pb.DATA_STATE_LIVE for u in got_a)


async def test_a_ticker_is_held_upstream_while_any_edge_wants_it(nats: NatsServer) -> None:
    async with ingest(nats) as source, edge(nats, "edge-a") as a, edge(nats, "edge-b") as b:
        hub, bus = source.server.hub, source.server.bus
        assert bus is not None
        async with Client(a.target) as ca, Client(b.target) as cb:
            sa, sb = ca.subscribe("ZZZ"), cb.subscribe("ZZZ")
            await sa.wait_connected()
            await sb.wait_connected()
            await eventually(lambda: hub.is_upstream("ZZZ"))
            await sa.remove("ZZZ")
            await eventually(lambda: "ZZZ" not in a.server.hub.upstream_tickers())
            # The ingest heard edge-a let go, and keeps it for edge-b.
            await eventually(lambda: "ZZZ" not in bus.edges().get("edge-a", set()))
            assert hub.is_upstream("ZZZ")
            await sb.remove("ZZZ")
            await eventually(lambda: not hub.is_upstream("ZZZ"))


async def test_a_killed_edge_is_released_after_its_lease(nats: NatsServer) -> None:
    async with ingest(nats) as source:
        hub, bus = source.server.hub, source.server.bus
        assert bus is not None
        args = ("--role", "edge", "--bus-url", nats.url, "--interest-lease", "1.5")
        async with (
            spawned_server(*args, "--node-name", "edge-k") as process,
            Client(process.target) as client,
        ):
            sub = client.subscribe("ZZZ")
            await sub.wait_connected()
            await eventually(lambda: hub.is_upstream("ZZZ"))
            process.process.kill()  # no goodbye: the lease runs out
            await process.process.wait()
            assert "ZZZ" in bus.edges()["edge-k"]  # the dead edge's claim stands, for now
            claimed_at_release: list[bool] = []

            def released() -> bool:
                if hub.is_upstream("ZZZ"):
                    return False
                claimed_at_release.append("edge-k" in bus.edges())
                return True

            await eventually(released, wait=5.0)
            assert claimed_at_release == [False]  # released only once the lease ran out


async def test_snapshots_on_an_edge_come_from_the_bucket(nats: NatsServer) -> None:
    async with ingest(nats) as source, edge(nats, "edge-a") as a:
        source.push({"NVDA": 121.5})
        bus = source.server.bus
        assert bus is not None
        await eventually(lambda: bus.published >= 1)
        async with Client(a.target) as client:
            # No client of this edge watches NVDA: the price comes from the bucket.
            async def has_price() -> bool:
                got = await client.snapshot("NVDA")
                return "NVDA" in got and got["NVDA"].price == 121.5

            await eventually_async(has_price)
            got = await client.snapshot("NVDA")
            assert got["NVDA"].state == pb.DATA_STATE_SNAPSHOT
            sub = client.subscribe("NVDA")
            first = await take(sub, 1)
            assert (first[0].price, first[0].state) == (121.5, pb.DATA_STATE_SNAPSHOT)
            sequence = first[0].sequence
            source.push({"NVDA": 122.0})
            nxt = await take(sub, 1)
            assert (nxt[0].price, nxt[0].sequence) == (122.0, sequence + 1)


async def test_control_calls_on_an_edge_reach_the_ingest(nats: NatsServer) -> None:
    from tickwire.v1 import scenario_pb2 as spb
    from tickwire.v1 import scenario_pb2_grpc as srpc

    async with ingest(nats) as source, edge(nats, "edge-a") as a:
        async with Client(a.target) as client, grpc.aio.insecure_channel(a.target) as channel:
            sub = client.subscribe("AAPL")
            await take(sub, 1)
            control = srpc.ScenarioControlStub(channel)
            await control.PushPrice(spb.PushPriceRequest(ticker="AAPL", price=201.25))
            got = await take(sub, 1)
            assert got[0].price == 201.25
            assert source.server.cache.get("AAPL").price == 201.25  # type: ignore[union-attr]
            # The ingest's own errors come back as they are.
            with pytest.raises(grpc.aio.AioRpcError) as failed:
                await control.PushPrice(spb.PushPriceRequest(ticker="AAPL", price=-1.0))
            assert failed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "price" in (failed.value.details() or "")
            # The one streaming control call is not forwarded, and says where it runs.
            with pytest.raises(grpc.aio.AioRpcError) as streaming:
                async for _ in control.RunScenario(spb.RunScenarioRequest()):
                    pass
            assert streaming.value.code() == grpc.StatusCode.UNIMPLEMENTED
            assert "run scenarios on the ingest" in (streaming.value.details() or "")


async def test_an_edge_with_no_leader_marks_prices_stale_and_recovers(nats: NatsServer) -> None:
    async with edge(nats, "edge-a") as a, Client(a.target) as client:
        async with ingest(nats) as first:
            sub = client.subscribe("AAPL")
            await take(sub, 1)
            first.push({"AAPL": 191.0})
            live = await take(sub, 1)
        # The ingest stopped (and handed over the lead to nobody): prices go stale.
        stale = await take(sub, 1, wait=5.0)
        assert (stale[0].state, stale[0].sequence) == (pb.DATA_STATE_STALE, live[0].sequence)
        status = await client.market_status()
        assert status.source_state == pb.SOURCE_STATE_DEGRADED
        async with ingest(nats, "ingest-2") as second:
            # The new leader went on from the bucket: its numbers follow the old ones.
            # (The source's own first price comes first: a synthetic source opens at its seeds.)
            second.push({"AAPL": 192.0})
            back = await price_reaches(sub, "AAPL", 192.0)
            numbers = [u.sequence for u in back]
            assert numbers == list(range(live[0].sequence + 1, live[0].sequence + 1 + len(back)))
            assert all(u.state == pb.DATA_STATE_LIVE for u in back)


async def test_an_edge_cut_off_from_nats_stops_serving_and_comes_back(nats: NatsServer) -> None:
    async with ingest(nats) as source, edge(nats, "edge-a") as a:
        async with grpc.aio.insecure_channel(a.target) as channel:
            await eventually_async(lambda: _serving(channel))
            nats.kill()
            await eventually_async(lambda: _not_serving(channel), wait=10.0)
            nats.start()
            await eventually_async(lambda: _serving(channel), wait=15.0)
            async with Client(a.target) as client:
                sub = client.subscribe("AAPL")
                await take(sub, 1, wait=5.0)
                source.push({"AAPL": 188.0})

                async def arrived() -> bool:
                    update = await take(sub, 1)
                    return update[0].price == 188.0

                await eventually_async(arrived, wait=10.0)


async def _serving(channel: grpc.aio.Channel) -> bool:
    from grpc_health.v1 import health_pb2

    return await health(channel) == health_pb2.HealthCheckResponse.SERVING


async def _not_serving(channel: grpc.aio.Channel) -> bool:
    from grpc_health.v1 import health_pb2

    return await health(channel) == health_pb2.HealthCheckResponse.NOT_SERVING


async def test_a_client_of_a_killed_edge_goes_on_at_another(nats: NatsServer) -> None:
    async with ingest(nats) as source, contextlib.AsyncExitStack() as stack:
        bus = source.server.bus
        assert bus is not None
        edges = {}
        for name in ("edge-a", "edge-b"):
            args = ("--role", "edge", "--bus-url", nats.url, "--node-name", name)
            edges[name] = await stack.enter_async_context(spawned_server(*args))
        targets = [edges["edge-a"].target, edges["edge-b"].target]
        changes = StateLog()
        async with Client(targets, on_state=changes) as client:
            sub = client.subscribe("AAPL")
            before = await take(sub, 1)
            await eventually(lambda: any("AAPL" in t for t in bus.edges().values()))
            serving = next(name for name, t in bus.edges().items() if "AAPL" in t)
            edges[serving].process.kill()
            await edges[serving].process.wait()
            await changes.wait_for(ConnectionState.CONNECTED, count=2, wait=10.0)
            other = next(name for name in edges if name != serving)
            await eventually(lambda: "AAPL" in bus.edges().get(other, set()))
            source.push({"AAPL": 195.5})
            after = await price_reaches(sub, "AAPL", 195.5)
        # Never back: the other edge has the ingest's numbers. (The resubscription's
        # snapshot may repeat the number the client has, flagged as a snapshot.)
        numbers = [u.sequence for u in before + after]
        assert numbers == sorted(numbers), numbers
        live = [u.sequence for u in before + after if u.state == pb.DATA_STATE_LIVE]
        assert len(live) == len(set(live))
        assert after[-1].sequence == source.server.cache.get("AAPL").sequence  # type: ignore[union-attr]


async def test_the_standby_takes_over_a_killed_leader_within_the_lease(nats: NatsServer) -> None:
    lease = 2.0
    args = ("--role", "ingest", "--bus-url", nats.url, "--leader-lease", str(lease))
    async with (
        edge(nats, "edge-a", bus_stale_after=0.5) as a,
        spawned_server(*args, "--node-name", "ingest-1", "--interval", "0.05") as first,
        Client(a.target) as client,
    ):
        changes = StateLog()
        sub = client.subscribe("AAPL", on_state=changes)
        await take(sub, 1)
        await until_live(sub)
        async with spawned_server(*args, "--node-name", "ingest-2", "--interval", "0.05"):
            before = await until_live(sub)
            first.process.kill()
            killed = asyncio.get_running_loop().time()
            await first.process.wait()
            updates = [before]
            async with asyncio.timeout(lease + 5):
                async for update in sub:
                    updates.append(update)
                    if update.state == pb.DATA_STATE_STALE:
                        stale = update
                    elif len(updates) > 2 and updates[-2].state == pb.DATA_STATE_STALE:
                        back = update
                        break
            took = asyncio.get_running_loop().time() - killed
    assert stale.sequence == updates[-3].sequence  # stale flags the last price, same number
    assert back.state == pb.DATA_STATE_LIVE and back.sequence == stale.sequence + 1
    assert took < lease + 1.0, f"live again {took:.2f} s after the kill"
    print(f"live again {took:.2f} s after the leader was killed (lease {lease:g} s)")
    numbers = [u.sequence for u in updates]
    assert numbers == sorted(numbers)
    states = [c.state for c in changes.changes]
    assert ConnectionState.RECONNECTING not in states, states  # the client never reconnected


async def until_live(sub: Any) -> PriceUpdate:
    async with asyncio.timeout(10):
        async for update in sub:
            if update.state == pb.DATA_STATE_LIVE:
                return update
    raise AssertionError("the subscription ended")


async def test_auth_and_limits_hold_on_an_edge(nats: NatsServer) -> None:
    from tickwire.v1 import scenario_pb2 as spb
    from tickwire.v1 import scenario_pb2_grpc as srpc

    async with (
        ingest(nats) as source,
        edge(nats, "edge-a", auth="jwt", jwt_secret="s" * 40, max_tickers_per_stream=2) as a,
    ):
        async with Client(a.target) as anonymous:
            with pytest.raises(RpcError) as unknown:
                await anonymous.snapshot("AAPL")
            assert unknown.value.code == "UNAUTHENTICATED"
        reader, admin = a.token("reader", roles=["read"]), a.token("ops", roles=["admin"])
        async with Client(a.target, token=reader) as client:
            sub = client.subscribe("AAPL", "MSFT", "NVDA")
            await sub.wait_connected()
            assert sub.rejected.keys() == {"NVDA"}  # the stream's cap of 2, as standalone
            assert sub.rejected["NVDA"].message == "a stream may hold at most 2 tickers"
        async with grpc.aio.insecure_channel(a.target) as channel:
            control = srpc.ScenarioControlStub(channel)
            push = spb.PushPriceRequest(ticker="AAPL", price=199.0)
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await control.PushPrice(push, metadata=(("authorization", f"Bearer {reader}"),))
            assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
            await control.PushPrice(push, metadata=(("authorization", f"Bearer {admin}"),))
        assert source.server.cache.get("AAPL").price == 199.0  # type: ignore[union-attr]


async def test_live_candles_on_an_edge_come_from_the_leaders_book(nats: NatsServer) -> None:
    from tickwire_server.candles.intervals import BY_NAME, NS
    from tickwire_server.domain import Quote

    minute, one = 60 * NS, BY_NAME["1m"]
    async with ingest(nats) as source, edge(nats, "edge-a") as a, Client(a.target) as client:
        book = source.server.candles
        assert book is not None
        now = source.controls.source.clock.now_ns()
        t0 = now - now % minute + minute
        source.push([Quote("NEWCO", 10.0, t0)])
        every = client.subscribe_candles("NEWCO", interval="1m")
        closed = client.subscribe_candles("NEWCO", interval="1m", closed_only=True)
        first = await asyncio.wait_for(anext(every), 10)
        assert (first.ticker, first.close, first.complete) == ("NEWCO", 10.0, False)
        source.push([Quote("NEWCO", 12.0, t0 + 30 * NS)])
        async with asyncio.timeout(10):
            moved = await anext(every)
            while moved.close != 12.0:
                moved = await anext(every)
        forming = book.forming("NEWCO", one)
        assert forming is not None
        assert (moved.high, moved.volume, moved.transactions) == (12.0, forming.volume, 2)
        source.push([Quote("NEWCO", 11.0, t0 + minute)])  # the minute closes
        async with asyncio.timeout(10):
            done = await anext(closed)  # the only bar a closed-only stream gets
        assert (done.open, done.high, done.close, done.volume) == (10.0, 12.0, 12.0, forming.volume)
        assert done.complete and done.start.ToNanoseconds() == t0
        async with asyncio.timeout(10):
            bar = await anext(every)
            while not bar.complete:
                bar = await anext(every)
        assert bar == done  # the same bar on both streams
        # History lives with the ingest: GetCandles is answered there.
        start, end = (dt.datetime.fromtimestamp(t / NS, dt.UTC) for t in (t0, t0 + 2 * minute))
        got = await client.candles("NEWCO", "1m", start, end)  # (the source's clock is ahead)
        assert [(b.close, b.complete) for b in got] == [(12.0, True), (11.0, False)]


async def test_drop_streams_on_an_edge_drops_every_edges_streams(nats: NatsServer) -> None:
    from tickwire.v1 import scenario_pb2 as spb
    from tickwire.v1 import scenario_pb2_grpc as srpc

    async with ingest(nats) as source, edge(nats, "edge-a") as a, edge(nats, "edge-b") as b:
        bus = source.server.bus
        assert bus is not None
        logs = [StateLog(), StateLog()]
        async with Client(a.target) as ca, Client(b.target) as cb:
            subs = [
                c.subscribe("AAPL", on_state=log) for c, log in zip((ca, cb), logs, strict=True)
            ]
            for sub in subs:
                await take(sub, 1)
            await eventually(lambda: {"edge-a", "edge-b"} <= set(bus.edges()))
            async with grpc.aio.insecure_channel(a.target) as channel:
                control = srpc.ScenarioControlStub(channel)
                answer = await control.DropStreams(spb.DropStreamsRequest())
            assert answer.dropped == 2
            for log in logs:  # each client lost its stream and came back
                await log.wait_for(ConnectionState.CONNECTED, count=2)
            assert all(
                any(c.state is ConnectionState.RECONNECTING for c in log.changes) for log in logs
            )


async def test_an_ingest_and_an_edge_say_their_bus_in_metrics(nats: NatsServer) -> None:
    import urllib.request

    def scrape(port: int) -> dict[str, float]:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
            lines = reply.read().decode().splitlines()
        return {
            name: float(value)
            for name, _, value in (line.partition(" ") for line in lines)
            if name.startswith("tickwire_bus_")
        }

    async with ingest(nats, metrics_port=0) as source, edge(nats, "edge-a", metrics_port=0) as a:
        source.push({"AAPL": 191.0})
        bus = source.server.bus
        assert bus is not None
        await eventually(lambda: bus.published >= 1)
        assert source.server.metrics is not None and a.server.metrics is not None
        at_ingest = await asyncio.to_thread(scrape, source.server.metrics.port)
        assert at_ingest["tickwire_bus_leader"] == 1.0
        assert at_ingest["tickwire_bus_connected"] == 1.0
        assert at_ingest["tickwire_bus_published_total"] >= 1.0
        at_edge = await asyncio.to_thread(scrape, a.server.metrics.port)
        assert at_edge["tickwire_bus_connected"] == 1.0
        assert "tickwire_bus_leader" not in at_edge
