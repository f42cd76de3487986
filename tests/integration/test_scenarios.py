"""Scenario files run by a real server: RunScenario's events, --scenario, and the CLI."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import grpc
import pytest
from helpers import eventually_async, market_status, next_message, until, update_of
from processes import spawn, spawned_server

from tickwire import Client, RpcError, ScenarioClient
from tickwire.v1 import market_data_pb2 as pb
from tickwire.v1 import market_data_pb2_grpc as rpc
from tickwire.v1 import scenario_pb2 as spb
from tickwire_server.sources.synthetic import ManualClock, SyntheticSource
from tickwire_server.testing import serve_in_process

EXAMPLES = Path(__file__).parents[2] / "scenarios"
FINITE = ["weekend-open.yaml", "stale-ticker.yaml", "burst.yaml", "market-close.yaml"]
KIND = spb.ScenarioEventKind.Name


def _source() -> SyntheticSource:
    return SyntheticSource(hz=1, seed=2, clock=ManualClock())


@pytest.mark.parametrize("name", FINITE)
async def test_an_example_scenario_runs_to_completion_with_events_in_order(name: str) -> None:
    async with serve_in_process(source=_source()) as server, ScenarioClient(server) as control:
        events = [e async for e in control.run(EXAMPLES / name)]
    kinds = [KIND(e.kind) for e in events]
    assert kinds[0] == "SCENARIO_EVENT_KIND_STARTED" and kinds[-1] == "SCENARIO_EVENT_KIND_FINISHED"
    steps = events[1:-1]
    assert steps and all(KIND(e.kind) == "SCENARIO_EVENT_KIND_STEP" for e in steps)
    assert [e.step for e in steps] == sorted(e.step for e in steps)
    offsets = [e.at.ToNanoseconds() for e in events]
    assert offsets == sorted(offsets)  # on the source's clock, which the run stepped
    assert all(e.line > 0 and e.operation for e in steps)


async def test_the_stale_ticker_scenario_is_seen_by_a_client() -> None:
    # On the real clock, a twentieth of the file's times apart, so that a client
    # sees each state (on a stepped clock they all come at once, and conflate).
    text = (EXAMPLES / "stale-ticker.yaml").read_text()
    for old, new in (("2s", "0.1s"), ("5s", "0.25s"), ("17s", "0.85s")):
        text = text.replace(old, new)
    async with (
        serve_in_process(source=SyntheticSource(hz=0.1, seed=2)) as server,
        ScenarioClient(server) as control,
        grpc.aio.insecure_channel(server.target) as channel,
    ):
        call = rpc.MarketDataStub(channel).StreamPrices(pb.StreamPricesRequest(tickers=["AAPL"]))
        await next_message(call, "prices")
        events = [e async for e in control.run(text)]
        assert [e.operation for e in events[1:-1]] == ["push", "stall", "resume"]
        await until(call, update_of("AAPL", pb.DATA_STATE_LIVE, 190.0))
        await until(call, update_of("AAPL", pb.DATA_STATE_STALE))
        await until(call, update_of("AAPL", pb.DATA_STATE_LIVE))
        call.cancel()


async def test_a_scenario_for_ever_runs_until_its_caller_leaves() -> None:
    source = SyntheticSource(hz=1, seed=2)  # the real clock: a storm at its own pace
    text = (EXAMPLES / "reconnect-storm.yaml").read_text().replace("10s", "0.2s")
    text = text.replace("3s", "0.1s")
    async with (
        serve_in_process(source=source) as server,
        ScenarioClient(server) as control,
        Client(server) as client,
    ):
        prices = client.subscribe("AAPL")
        await anext(prices)
        run = control.run(text, name="storm")
        events = [await anext(run) for _ in range(4)]
        assert [e.operation for e in events[1:]] == ["drop"] * 3
        state = await control.state()
        assert state.scenario == "reconnect storm" and state.scenario_steps_done >= 3
        await run.aclose()
        await eventually_async(lambda: _no_scenario(control))
        assert prices.stats.reconnects >= 1


async def _no_scenario(control: ScenarioClient) -> bool:
    return (await control.state()).scenario == ""


async def test_a_new_scenario_replaces_the_running_one() -> None:
    async with serve_in_process(source=_source()) as server, ScenarioClient(server) as control:
        first = control.run("steps: [{repeat: forever, steps: [{wait: 1s}]}]", name="one")
        assert KIND((await anext(first)).kind) == "SCENARIO_EVENT_KIND_STARTED"
        second = [e async for e in control.run("steps: [{market: closed}]", name="two")]
        assert KIND(second[-1].kind) == "SCENARIO_EVENT_KIND_FINISHED"
        rest = [e async for e in first]
        assert KIND(rest[-1].kind) == "SCENARIO_EVENT_KIND_STOPPED"
        assert "replaced by two" in rest[-1].detail


async def test_a_malformed_scenario_is_refused_naming_its_line() -> None:
    async with serve_in_process(source=_source()) as server, ScenarioClient(server) as control:
        with pytest.raises(RpcError) as error:
            [e async for e in control.run("steps:\n  - market: open\n  - jump: 3\n", name="x.yaml")]
        assert error.value.code == "INVALID_ARGUMENT"
        assert "x.yaml:3: unknown operation 'jump'" in str(error.value)
        assert (await control.state()).scenario == ""


async def test_a_step_the_controls_refuse_stops_the_scenario_naming_its_line() -> None:
    async with serve_in_process(source=_source()) as server, ScenarioClient(server) as control:
        text = "steps:\n  - market: closed\n  - push: {ticker: NOPE, price: 1}\n  - market: open\n"
        events = [e async for e in control.run(text, name="y.yaml")]
        assert KIND(events[-1].kind) == "SCENARIO_EVENT_KIND_STOPPED"
        assert "y.yaml:3: push: unknown ticker NOPE" in events[-1].detail
        assert (await control.state()).status.market == pb.MARKET_STATE_CLOSED  # step 3 never ran


async def test_scenario_runs_one_file_at_start(tmp_path: Path) -> None:
    path = tmp_path / "start.yaml"
    path.write_text("steps:\n  - push: {ticker: NVDA, price: 77.77}\n  - market: extended\n")
    async with (
        spawned_server(
            "--source", "synthetic", "--synthetic-clock", "manual", "--scenario", str(path)
        ) as server,
        grpc.aio.insecure_channel(server.target) as channel,
    ):
        stub = rpc.MarketDataStub(channel)
        await eventually_async(lambda: _extended(stub))
        snapshot = await stub.GetSnapshot(pb.GetSnapshotRequest(tickers=["NVDA"]), timeout=5)
        assert (snapshot.prices[0].price, snapshot.prices[0].sequence) == (77.77, 2)


async def _extended(stub: rpc.MarketDataStub) -> bool:
    return (await market_status(stub)).market == pb.MARKET_STATE_EXTENDED_HOURS


async def test_a_malformed_scenario_file_stops_the_server_naming_file_and_line(
    tmp_path: Path,
) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("steps:\n  - market: open\n  - stall: {ticker: AAPL, stale_after: later}\n")
    process = await spawn("--source", "synthetic", "--scenario", str(path), "--port", "0")
    async with asyncio.timeout(30):
        _, stderr = await process.communicate()
    assert process.returncode == 1
    assert f"{path}:3: stale_after is a duration" in stderr.decode()


async def test_scenario_needs_the_synthetic_source(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text("steps: [{market: open}]\n")
    process = await spawn("--scenario", str(path), "--port", "0")
    async with asyncio.timeout(30):
        _, stderr = await process.communicate()
    assert process.returncode == 2
    assert "--source synthetic" in stderr.decode()


async def test_tickwire_scenario_run_prints_each_step() -> None:
    async with serve_in_process(source=_source()) as server:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tickwire.cli", "scenario", "run",
            str(EXAMPLES / "market-close.yaml"), "--target", server.target,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "COLUMNS": "200"},
        )  # fmt: skip
        async with asyncio.timeout(30):
            out, err = await process.communicate()
        assert process.returncode == 0, err.decode()
        lines = out.decode().splitlines()
        assert "started" in lines[0] and "finished" in lines[-1]
        assert [line.split()[-1] for line in lines[1:-1]] == ["open", "extended-hours", "closed"]
        async with grpc.aio.insecure_channel(server.target) as channel:
            assert (
                await market_status(rpc.MarketDataStub(channel))
            ).market == pb.MARKET_STATE_CLOSED
