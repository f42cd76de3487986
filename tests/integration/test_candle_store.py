"""CandleStore on SQLite and on a real PostgreSQL: one schema, the same answers."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from postgres import PostgresServer

from tickwire_server.candles import SchemaTooNew, StoreError, build_store
from tickwire_server.candles.bars import BACKFILL, LIVE, SYNTHETIC, Bar
from tickwire_server.candles.intervals import BY_NAME, NS
from tickwire_server.candles.store import CandleStore, Row
from tickwire_server.errors import ConfigError
from tickwire_server.testing import serve_in_process

M1 = BY_NAME["1m"]
T0 = 1_764_000_000  # seconds, minute-aligned


def bar(minute: int, close: float, *, source: int = LIVE, revision: int = 0, n: int = 3) -> Bar:
    start = (T0 + 60 * minute) * NS
    return Bar.stored(
        "AAPL", M1, start, start + 60 * NS, (close - 1, close + 1, close - 2, close), 100.0 * n,
        close, n, revision=revision, source=source,
    )  # fmt: skip


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'candles.db'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.new_database()


@pytest.fixture
async def store(url: str) -> AsyncIterator[CandleStore]:
    s = build_store(url)
    await s.open()
    try:
        yield s
    finally:
        await s.close()


async def read_all(store: CandleStore, interval: str = "1m") -> list[Row]:
    return await store.read("AAPL", interval, 0, 2**62, 1_000_000)


async def test_bars_round_trip_in_start_order_with_range_and_limit(store: CandleStore) -> None:
    await store.write([bar(2, 12.0), bar(0, 10.0), bar(1, 11.0)])
    rows = await read_all(store)
    assert [(r.start, r.close, r.transactions, r.complete, r.source) for r in rows] == [
        (T0, 10.0, 3, True, LIVE),
        (T0 + 60, 11.0, 3, True, LIVE),
        (T0 + 120, 12.0, 3, True, LIVE),
    ]
    assert rows[0] == Row(T0, 9.0, 11.0, 8.0, 10.0, 300.0, 10.0, 3, True, 0, LIVE)
    assert [r.close for r in await store.read("AAPL", "1m", T0 + 60, T0 + 120, 10)] == [11.0]
    assert [r.close for r in await store.read("AAPL", "1m", T0, T0 + 999, 2)] == [10.0, 11.0]
    assert await store.read("MSFT", "1m", 0, 2**62, 10) == []
    assert await store.read("AAPL", "5m", 0, 2**62, 10) == []


async def test_a_correction_replaces_its_bar_and_precedence_keeps_vendor_bars(
    store: CandleStore,
) -> None:
    await store.write([bar(0, 10.0), bar(1, 20.0, source=BACKFILL), bar(2, 30.0, source=SYNTHETIC)])
    await store.write([bar(0, 10.5, revision=1, n=4)])  # a late price corrected the live bar
    await store.write([bar(1, 21.0)])  # tickwire's own bar never replaces the vendor's
    await store.write([bar(2, 31.0)])  # but it does replace a made-up one
    await store.write_history([bar(0, 99.0, source=SYNTHETIC), bar(3, 40.0, source=SYNTHETIC)])
    await store.write_history([bar(1, 22.0, source=BACKFILL)])  # a vendor's newer answer wins
    rows = {r.start: r for r in await read_all(store)}
    assert (rows[T0].close, rows[T0].revision, rows[T0].transactions) == (10.5, 1, 4)
    assert (rows[T0 + 60].close, rows[T0 + 60].source) == (22.0, BACKFILL)
    assert (rows[T0 + 120].close, rows[T0 + 120].source) == (31.0, LIVE)
    assert (rows[T0 + 180].close, rows[T0 + 180].source) == (40.0, SYNTHETIC)


async def test_history_batches_are_stored_whole(store: CandleStore) -> None:
    await store.write_history([bar(m, 100.0 + m, source=BACKFILL) for m in range(5000)])
    rows = await read_all(store)
    assert len(rows) == 5000 and rows[-1].close == 5099.0
    assert await store.prune("1m", T0 + 60 * 4000) == 4000
    assert len(await read_all(store)) == 1000


async def test_coverage_records_fetched_ranges(store: CandleStore) -> None:
    await store.cover("AAPL", "1m", [(100, 200), (300, 400)])
    await store.cover("AAPL", "1m", [(100, 250)])  # the same start fetched further
    assert await store.coverage("AAPL", "1m", 0, 1000) == [(100, 250), (300, 400)]
    assert await store.coverage("AAPL", "1m", 260, 300) == []
    assert await store.coverage("AAPL", "1d", 0, 1000) == []


async def test_a_store_written_by_a_newer_tickwire_refuses_to_open(url: str) -> None:
    first = build_store(url)
    await first.open()
    await first.close()
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
            db.execute("INSERT INTO tickwire_schema (version) VALUES (99)")
    else:
        db = await asyncpg.connect(url)
        await db.execute("INSERT INTO tickwire_schema (version) VALUES (99)")
        await db.close()
    again = build_store(url)
    with pytest.raises(SchemaTooNew, match="schema version 99, newer than this tickwire knows"):
        await again.open()
    with pytest.raises(ConfigError, match="schema version 99"):  # a server will not start
        async with serve_in_process({"AAPL": 1.0}, history_url=url):
            pass


async def test_sqlite_and_postgres_give_the_same_answers(
    tmp_path: Path, postgres: PostgresServer
) -> None:
    answers = []
    for url in (f"sqlite:///{tmp_path / 'same.db'}", postgres.new_database()):
        store = build_store(url)
        await store.open()
        await store.write([bar(m, 10.0 + m) for m in range(0, 30, 2)])
        await store.write_history([bar(m, 50.0 + m, source=BACKFILL) for m in range(0, 30, 3)])
        await store.write([bar(6, 1.0, revision=1)])
        await store.cover("AAPL", "1m", [(T0, T0 + 900)])
        answers.append(
            (
                await read_all(store),
                await store.read("AAPL", "1m", T0 + 300, T0 + 1200, 4),
                await store.coverage("AAPL", "1m", T0, T0 + 60),
                await store.prune("1m", T0 + 600),
                await read_all(store),
            )
        )
        await store.close()
    assert answers[0] == answers[1]


async def test_an_unreachable_postgres_is_a_clear_error(tmp_path: Path) -> None:
    store = build_store(f"postgresql://nobody@/nothing?host={tmp_path}")
    with pytest.raises(StoreError, match="cannot connect to the candle history"):
        await store.open()


async def test_a_server_keeps_its_candles_in_postgres(postgres: PostgresServer) -> None:
    from tickwire import Client
    from tickwire_server.domain import Quote

    url = postgres.new_database()
    async with serve_in_process({"AAPL": 10.0}, history_url=url) as server:
        now = server.controls.source.clock.now_ns()
        t0 = now - now % (60 * NS) + 60 * NS
        for m in range(3):
            server.push([Quote("NEWCO", 5.0 + m, t0 + m * 60 * NS, volume=10.0)])
        server.push([Quote("NEWCO", 9.0, t0 + 3 * 60 * NS)])
        async with Client(server) as client:
            import datetime as dt

            start = dt.datetime.fromtimestamp(t0 / NS, dt.UTC)
            bars = await client.candles("NEWCO", "1m", start, start + dt.timedelta(minutes=10))
            assert [b.close for b in bars] == [5.0, 6.0, 7.0, 9.0]
    db = await asyncpg.connect(url)
    try:
        rows = await db.fetch(
            'SELECT "start", close FROM candles WHERE ticker = $1 AND "interval" = $2 '
            'ORDER BY "start"',
            "NEWCO",
            "1m",
        )
    finally:
        await db.close()
    assert [(r["start"], r["close"]) for r in rows] == [
        (t0 // NS + 60 * m, 5.0 + m) for m in range(3)
    ]
