"""Candles: what live bars cost, how fast history is written, and GetCandles end to end.

- Fan-out, 50 subscribers x 500 tickers flat out, candles on (the default)
  against `--candles false`, in alternating rounds: the ratio of the medians.
- Aggregation, in process: the cost per accepted update of `CandleBook.observe`
  on batches of 10,000 tickers stepping half a second, against the price
  path's own `PriceCache.apply` on the same batches. Only the 5s bar is
  touched per update (every coarser interval rolls up from it), so the cost
  does not grow with the intervals kept: 5 stored, 16 built.
- Store writes: bars/s of closed-bar upserts (`write`, executemany) and of
  history batches (`write_history`: COPY into a temporary table on
  PostgreSQL), on SQLite and on a throwaway PostgreSQL.
- GetCandles: a year of 1m bars of one ticker (about 98,000, generated into
  SQLite), read by the Python client over gRPC (one request per day, as the
  interval's range allows, every page followed) against the same rows read
  straight from the store in one query.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.proc import ROOT
from bench.scenarios import paired
from tickwire_server.cache import PriceCache
from tickwire_server.candles import generate
from tickwire_server.candles.bars import LIVE, Bar
from tickwire_server.candles.book import CandleBook
from tickwire_server.candles.intervals import BY_NAME, NS, xnys
from tickwire_server.candles.store import CandleStore
from tickwire_server.domain import Quote


def aggregation(quick: bool) -> dict[str, Any]:
    tickers = [f"T{i:05d}" for i in range(10_000)]
    steps = 20 if quick else 120
    t0 = 1_764_000_000 * NS
    batches = [
        [
            Quote(t, 100.0 + (i + s) % 7 * 0.01, t0 + s * NS // 2, size=100.0)
            for i, t in enumerate(tickers)
        ]
        for s in range(steps)
    ]
    cache = PriceCache()
    book = CandleBook()
    book.observe(cache.apply(batches.pop(0)))  # every ticker's first price: set-up, not timed
    applied = []
    start = time.perf_counter()
    for batch in batches:
        applied.append(cache.apply(batch))
    price_s = time.perf_counter() - start
    start = time.perf_counter()
    for entries in applied:
        book.observe(entries)
    candle_s = time.perf_counter() - start
    updates = len(batches) * len(tickers)
    return {
        "tickers": len(tickers),
        "updates": updates,
        "price_path_us_per_update": round(price_s / updates * 1e6, 3),
        "candles_us_per_update": round(candle_s / updates * 1e6, 3),
        "candles_vs_price_path": round(candle_s / price_s, 3),
        "bars_closed": book.stats.closed,
    }


def _bars(n: int, source: int = LIVE) -> list[Bar]:
    one = BY_NAME["1m"]
    t0 = 1_764_000_000 * NS
    return [
        Bar.stored(
            f"T{i % 100:03d}",
            one,
            t0 + (i // 100) * 60 * NS,
            t0 + (i // 100 + 1) * 60 * NS,
            (10.0, 11.0, 9.0, 10.5),
            1000.0,
            10.2,
            12,
            source=source,
        )  # fmt: skip
        for i in range(n)
    ]


async def _write_rate(store: CandleStore, n: int, batch: int, history: bool) -> float:
    await store.open()
    try:
        bars = _bars(n)
        start = time.perf_counter()
        for i in range(0, n, batch):
            part = bars[i : i + batch]
            await (store.write_history(part) if history else store.write(part))
        return n / (time.perf_counter() - start)
    finally:
        await store.close()


def store_writes(quick: bool) -> dict[str, Any]:
    from tickwire_server.candles import build_store

    sys.path.insert(0, str(Path(ROOT) / "tests"))  # the tests' throwaway PostgreSQL
    from postgres import PostgresServer

    n = 20_000 if quick else 100_000
    out: dict[str, Any] = {"bars": n}
    with tempfile.TemporaryDirectory(prefix="tickwire-bench-") as tmp, PostgresServer() as pg:
        for name, url in (("sqlite", None), ("postgres", "pg")):
            for mode, batch in (("write", 1000), ("write_history", 10_000)):
                target = f"sqlite:///{tmp}/{mode}.db" if url is None else pg.new_database()
                rate = asyncio.run(_write_rate(build_store(target), n, batch, mode != "write"))
                out[f"{name}_{mode}_bars_per_s"] = round(rate)
    return out


async def _get_candles(quick: bool) -> dict[str, Any]:
    from tickwire import Client
    from tickwire_server.candles.sqlite import SqliteStore
    from tickwire_server.testing import serve_in_process

    sessions = xnys()
    now = time.time_ns()
    days = 60 if quick else 365
    start = now - days * 86400 * NS
    one = BY_NAME["1m"]
    with tempfile.TemporaryDirectory(prefix="tickwire-bench-") as tmp:
        path = Path(tmp) / "year.db"
        store = SqliteStore(path)
        await store.open()
        bars = generate.history({"AAPL": 190.0}, sessions, start, now, [one], seed=1)
        for i in range(0, len(bars), 20_000):
            await store.write_history(bars[i : i + 20_000])
        direct = []
        for _ in range(3):
            began = time.perf_counter()
            rows = await store.read("AAPL", "1m", start // NS, now // NS, 10**7)
            direct.append(time.perf_counter() - began)
        await store.close()
        async with serve_in_process({"AAPL": 190.0}, history_url=f"sqlite:///{path}") as server:
            async with Client(server, timeout=60) as client:
                over_grpc = []
                for _ in range(3):
                    began = time.perf_counter()
                    got = await client.candles(
                        "AAPL",
                        "1m",
                        dt.datetime.fromtimestamp(start / NS, dt.UTC),
                        dt.datetime.fromtimestamp(now / NS, dt.UTC),
                    )
                    over_grpc.append(time.perf_counter() - began)
    grpc_s, store_s = statistics.median(over_grpc), statistics.median(direct)
    return {
        "days": days,
        "bars": len(got),
        "rows_direct": len(rows),
        "grpc_s": round(grpc_s, 3),
        "store_s": round(store_s, 3),
        "grpc_bars_per_s": round(len(got) / grpc_s),
        "grpc_vs_store": round(grpc_s / store_s, 2),
    }


def run(quick: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    out.update(paired.compare(("off", "on"), ({"BENCH_NO_CANDLES": "1"}, {}), quick))
    out["aggregation"] = aggregation(quick)
    out["store"] = store_writes(quick)
    out["get_candles"] = asyncio.run(_get_candles(quick))
    agg, store, get = out["aggregation"], out["store"], out["get_candles"]
    out["candles_us_per_update"] = agg["candles_us_per_update"]
    out["candles_vs_price_path"] = agg["candles_vs_price_path"]
    out["sqlite_write_bars_per_s"] = store["sqlite_write_bars_per_s"]
    out["postgres_write_bars_per_s"] = store["postgres_write_bars_per_s"]
    out["get_candles_grpc_vs_store"] = get["grpc_vs_store"]
    return out
