"""Generated history: the simulator's first run has charts; a restart keeps them, once."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from pathlib import Path

from helpers import eventually_async

from tickwire import Client
from tickwire.v1 import candles_pb2 as cpb
from tickwire_server.candles import generate
from tickwire_server.candles.intervals import BY_NAME, NS, xnys
from tickwire_server.testing import serve_in_process


def test_generated_minutes_are_session_minutes_ending_at_the_price_now() -> None:
    sessions = xnys()
    end = int(dt.datetime(2026, 11, 28, tzinfo=dt.UTC).timestamp()) * NS  # a Saturday
    start = end - 5 * 86400 * NS
    stored = [BY_NAME[n] for n in ("1m", "5m", "1h", "1d")]
    bars = generate.history({"AAPL": 190.0}, sessions, start, end, stored, seed=3)
    again = generate.history({"AAPL": 190.0}, sessions, start, end, stored, seed=3)
    assert [(b.start, b.close) for b in bars] == [(b.start, b.close) for b in again]
    minutes = [b for b in bars if b.interval is BY_NAME["1m"]]
    # Mon 24th, Tue 25th, Wed 26th full; Thanksgiving shut; Friday a half day.
    assert len(minutes) == 3 * 390 + 210
    assert all(sessions.session(b.start) >= 0 for b in minutes)
    assert minutes[-1].close == 190.0
    assert all(b.low <= min(b.open, b.close) and b.high >= max(b.open, b.close) for b in minutes)
    assert all(b.source == cpb.CANDLE_SOURCE_SYNTHETIC and b.complete for b in bars)
    days = [b for b in bars if b.interval is BY_NAME["1d"]]
    assert len(days) == 4 and days[-1].close == 190.0
    assert days[-1].transactions == sum(b.transactions for b in minutes[-210:])
    assert abs(days[0].volume - sum(b.volume for b in minutes[:390])) < 1e-6


async def test_a_simulator_server_has_history_at_once_and_keeps_it_across_a_restart(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'candles.db'}"
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=12)
    async with serve_in_process(simulator=True, seed=5, history_url=url, backfill_days=3) as server:
        async with Client(server) as client:

            async def generated() -> bool:
                return len(await client.candles("AAPL", "1d", start)) >= 3

            await eventually_async(generated, wait=30)
            days = await client.candles("AAPL", "1d", start)
            # Today's bar, while the session is on, holds live prices too: it is the server's.
            done = [d for d in days[:3] if d.complete]
            assert len(done) >= 2
            assert all(d.source == cpb.CANDLE_SOURCE_SYNTHETIC for d in done)
            minutes = await client.candles("AAPL", "1m", start)
            assert len(minutes) >= 3 * 210  # three sessions, half days included
        history = server.server.history
        assert history is not None and history.store is not None
        first = await history.store.read("AAPL", "1m", 0, 2**62, 100_000)
    # Mark one generated bar: generating again would write it back as it was.
    with sqlite3.connect(tmp_path / "candles.db") as db:
        db.execute(
            'UPDATE candles SET close = 0.5 WHERE ticker = ? AND "interval" = ? AND "start" = ?',
            ("AAPL", "1m", first[0].start),
        )
    first[0] = first[0]._replace(close=0.5)
    async with serve_in_process(simulator=True, seed=5, history_url=url, backfill_days=3) as server:
        warmup = server.server.warmup
        assert warmup is not None
        await asyncio.wait_for(asyncio.shield(warmup), 30)  # sessions loaded, history checked
        history = server.server.history
        assert history is not None and history.store is not None
        again = await history.store.read("AAPL", "1m", 0, 2**62, 100_000)
        assert again[: len(first)] == first  # kept, and not made again over itself
