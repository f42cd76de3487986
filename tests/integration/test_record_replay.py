"""Record a session, replay it through the same path, and compare it update for update."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from helpers import eventually
from processes import spawn

from tickwire import Client, RpcError, ScenarioClient
from tickwire.v1 import market_data_pb2 as pb
from tickwire_server import recording
from tickwire_server.errors import ConfigError
from tickwire_server.sources.replay import ReplaySource
from tickwire_server.sources.synthetic import ManualClock, SyntheticSource
from tickwire_server.testing import serve_in_process

SESSION = """\
steps:
  - wait: 3s
  - push: {ticker: AAPL, price: 201.5, volume: 300}
  - stall: {ticker: MSFT, stale_after: 2s}
  - wait: 3s
  - fault: {state: degraded, message: slow}
  - wait: 2s
  - fault: healthy
  - resume: MSFT
  - market: extended
  - wait: 4s
  - market: closed
"""


def _contents(path: Path) -> list[tuple[Any, ...]]:
    """What a recording says, message by message, without the statuses' wall-clock time."""
    out: list[tuple[Any, ...]] = []
    for message in recording.read(path):
        if message.HasField("market_status"):
            s = message.market_status
            out.append(("status", s.market, s.source_state, s.message))
        for u in message.prices.updates:
            bar = tuple(getattr(u, f) if u.HasField(f) else None for f in ("open", "volume"))
            out.append((u.ticker, u.price, u.sequence, u.state, u.timestamp.ToNanoseconds(), bar))
    return out


def _prices(contents: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [c for c in contents if c[0] != "status"]


async def _record(path: Path, clients: int = 1) -> None:
    source = SyntheticSource(tickers=["AAPL", "MSFT", "NVDA"], hz=2, seed=9, clock=ManualClock())
    async with (
        serve_in_process(source=source, record=path) as server,
        ScenarioClient(server) as control,
        Client(server) as client,
    ):
        subscriptions = [client.subscribe("AAPL", "MSFT", "NVDA") for _ in range(clients)]
        for subscription in subscriptions:
            await anext(subscription)
        events = [e async for e in control.run(SESSION)]
        assert events[-1].kind == 3, events[-1]  # FINISHED


async def test_a_replay_at_max_speed_gives_the_recorded_session_update_for_update(
    tmp_path: Path,
) -> None:
    original, replayed = tmp_path / "session.twr", tmp_path / "replayed.twr"
    await _record(original)
    recorded = _contents(original)
    prices = _prices(recorded)
    assert len(prices) > 40
    assert {c[3] for c in prices} == {pb.DATA_STATE_LIVE, pb.DATA_STATE_STALE}
    assert ("AAPL", 201.5) in {(c[0], c[1]) for c in prices}
    source = ReplaySource(original, speed=float("inf"))
    async with (
        serve_in_process(source=source, record=replayed) as server,
        Client(server) as client,
    ):
        subscription = client.subscribe("AAPL", "MSFT", "NVDA")
        await anext(subscription)
        await eventually(lambda: source.replay.finished)
        last = {c[0]: c for c in prices}
        snapshot = await client.snapshot("AAPL", "MSFT", "NVDA")
        assert {t: (u.price, u.sequence) for t, u in snapshot.items()} == {
            t: (c[1], c[2]) for t, c in last.items()
        }
        assert (await client.market_status()).market == pb.MARKET_STATE_CLOSED
    again = _contents(replayed)
    assert _prices(again) == prices  # ticker, price, sequence, state, timestamp and bar

    def played(contents: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """The session's statuses: not the recording server's own start and stop."""
        statuses = [c for c in contents if c[0] == "status"]
        return [c for c in statuses[1:] if c[2] != pb.SOURCE_STATE_STOPPED]

    assert [c[1:] for c in played(again)] == [c[1:] for c in played(recorded)]
    assert len(played(recorded)) == 4  # degraded, healthy, extended hours, closed


async def test_the_same_seed_and_operations_give_the_same_session_whoever_watches(
    tmp_path: Path,
) -> None:
    await _record(tmp_path / "one.twr", clients=1)
    await _record(tmp_path / "five.twr", clients=5)
    assert _prices(_contents(tmp_path / "one.twr")) == _prices(_contents(tmp_path / "five.twr"))


async def test_controls_work_during_a_replay(tmp_path: Path) -> None:
    path = tmp_path / "session.twr"
    await _record(path)
    # 12 s of recording at its own pace, on a clock the test steps.
    source = ReplaySource(path, speed=1.0, clock=ManualClock())
    async with (
        serve_in_process(source=source) as server,
        ScenarioClient(server) as control,
        Client(server) as client,
    ):
        subscription = client.subscribe("NVDA")
        await anext(subscription)
        await control.set_paused(True)
        held = (await client.snapshot("NVDA"))["NVDA"].sequence
        await control.advance(1.2)  # two ticks' worth of recording, paused
        assert (await client.snapshot("NVDA"))["NVDA"].sequence == held
        sequence = await control.push("NVDA", 42.0)
        update = await anext(subscription)
        while update.price != 42.0:
            update = await anext(subscription)
        assert update.sequence == sequence
        await control.set_paused(False)
        await control.advance(1.2)  # the replay goes on from where it was held
        assert (await client.snapshot("NVDA"))["NVDA"].sequence > sequence
        assert await control.drop() == 1
        with pytest.raises(RpcError) as error:
            await control.burst(hz=10, duration=1)
        assert error.value.code == "FAILED_PRECONDITION"


def test_a_corrupt_recording_is_refused_naming_where(tmp_path: Path) -> None:
    path = tmp_path / "bad.twr"
    first = pb.SubscribeResponse(heartbeat=pb.Heartbeat()).SerializeToString()
    path.write_bytes(bytes([len(first)]) + first + b"\x80\x01" + b"\x00" * 10)
    with pytest.raises(ConfigError) as error:
        ReplaySource(path)
    where = 1 + len(first)
    assert f"{path}: message 2 at byte {where} is cut short (10 of 128 bytes)" in str(error.value)
    path.write_bytes(b"\x03\xff\xff\xff")
    with pytest.raises(ConfigError, match="message 1 at byte 0 does not parse"):
        ReplaySource(path)


async def test_replay_needs_a_file_and_a_sane_speed(tmp_path: Path) -> None:
    for args, reason in (
        (["--source", "replay"], "--replay-file"),
        (
            ["--source", "replay", "--replay-file", __file__, "--replay-speed", "fast"],
            "replay_speed",
        ),
        (["--source", "replay", "--replay-file", str(tmp_path / "none.twr")], "cannot read"),
    ):
        process = await spawn(*args, "--port", "0")
        async with asyncio.timeout(30):
            _, stderr = await process.communicate()
        assert process.returncode != 0 and reason in stderr.decode(), stderr.decode()
