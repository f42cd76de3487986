"""SqliteStore: the embedded candle history (stdlib sqlite3, WAL, one writer thread)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from tickwire_server.candles.bars import Bar
from tickwire_server.candles.store import (
    COLUMNS,
    MIGRATIONS,
    READ_COLUMNS,
    SCHEMA_VERSION,
    UPDATE_SET,
    UPSERT_WHERE,
    Row,
    StoreError,
    row_values,
    too_new,
)

_T = TypeVar("_T")

_UPSERT = (
    f"INSERT INTO candles ({COLUMNS}) VALUES ({', '.join('?' * 14)}) "
    f'ON CONFLICT (ticker, "interval", "start") DO UPDATE SET {UPDATE_SET} WHERE {UPSERT_WHERE}'
)


class SqliteStore:
    """Candles in one SQLite file: WAL, synchronous=NORMAL, tables WITHOUT ROWID.

    Every statement runs on one thread of its own, so the event loop never
    waits on the disk and the connection is never shared between threads.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.url = f"sqlite:///{self.path}"
        self._pool: ThreadPoolExecutor | None = None
        self._db: sqlite3.Connection | None = None

    async def _run(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        if self._pool is None or self._db is None:
            raise StoreError(f"the candle history at {self.url} is not open")
        db = self._db
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, db)

    async def open(self) -> None:
        if self._pool is not None:
            return
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="candles-sqlite")
        loop = asyncio.get_running_loop()
        try:
            self._db = await loop.run_in_executor(self._pool, self._connect)
        except BaseException:
            self._pool.shutdown(wait=False)
            self._pool = None
            raise

    def _connect(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the candle history at {self.url}: {exc}") from exc
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA busy_timeout=5000")
            _migrate(db, self.url)
        except sqlite3.DatabaseError as exc:
            db.close()
            raise StoreError(f"the candle history at {self.url} is unusable: {exc}") from exc
        except BaseException:
            db.close()
            raise
        return db

    async def close(self) -> None:
        pool, db = self._pool, self._db
        self._pool = self._db = None
        if pool is None:
            return
        if db is not None:
            await asyncio.get_running_loop().run_in_executor(pool, db.close)
        pool.shutdown(wait=True)

    async def write(self, bars: Sequence[Bar]) -> None:
        if not bars:
            return
        rows = [row_values(b) for b in bars]

        def write(db: sqlite3.Connection) -> None:
            with db:
                db.execute("BEGIN")
                db.executemany(_UPSERT, rows)

        await self._run(write)

    async def write_history(self, bars: Sequence[Bar]) -> None:
        await self.write(bars)

    async def read(
        self, ticker: str, interval: str, start_s: int, end_s: int, limit: int
    ) -> list[Row]:
        sql = (
            f'SELECT {READ_COLUMNS} FROM candles WHERE ticker = ? AND "interval" = ? '
            'AND "start" >= ? AND "start" < ? ORDER BY "start" LIMIT ?'
        )

        def read(db: sqlite3.Connection) -> list[Row]:
            cursor = db.execute(sql, (ticker, interval, start_s, end_s, limit))
            return [_row(r) for r in cursor]

        return await self._run(read)

    async def prune(self, interval: str, before_s: int) -> int:
        def prune(db: sqlite3.Connection) -> int:
            with db:
                cursor = db.execute(
                    'DELETE FROM candles WHERE "interval" = ? AND "start" < ?', (interval, before_s)
                )
                return cursor.rowcount

        return await self._run(prune)

    async def coverage(
        self, ticker: str, interval: str, start_s: int, end_s: int
    ) -> list[tuple[int, int]]:
        sql = (
            'SELECT "start", "end" FROM coverage WHERE ticker = ? AND "interval" = ? '
            'AND "end" > ? AND "start" < ? ORDER BY "start"'
        )

        def read(db: sqlite3.Connection) -> list[tuple[int, int]]:
            cursor = db.execute(sql, (ticker, interval, start_s, end_s))
            return [(int(a), int(b)) for a, b in cursor]

        return await self._run(read)

    async def cover(self, ticker: str, interval: str, ranges: Sequence[tuple[int, int]]) -> None:
        now = int(time.time())
        rows = [(ticker, interval, a, b, now) for a, b in ranges]
        sql = (
            'INSERT INTO coverage (ticker, "interval", "start", "end", fetched_at) '
            'VALUES (?, ?, ?, ?, ?) ON CONFLICT (ticker, "interval", "start") DO UPDATE SET '
            '"end" = max(coverage."end", excluded."end"), fetched_at = excluded.fetched_at'
        )

        def write(db: sqlite3.Connection) -> None:
            with db:
                db.execute("BEGIN")
                db.executemany(sql, rows)

        await self._run(write)


def _row(r: Any) -> Row:
    """A row as sqlite3 returns it (BOOLEAN comes back as an integer)."""
    return Row(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], bool(r[8]), r[9], r[10])


def _migrate(db: sqlite3.Connection, url: str) -> None:
    """Bring the schema to SCHEMA_VERSION, one numbered migration at a time."""
    db.execute("CREATE TABLE IF NOT EXISTS tickwire_schema (version INTEGER NOT NULL)")
    found = db.execute("SELECT max(version) FROM tickwire_schema").fetchone()[0] or 0
    if found > SCHEMA_VERSION:
        raise too_new(url, found)
    for version in range(found + 1, SCHEMA_VERSION + 1):
        with db:
            db.execute("BEGIN")
            for statement in MIGRATIONS[version - 1]:
                db.execute(statement.format(without_rowid=" WITHOUT ROWID"))
            db.execute("INSERT INTO tickwire_schema (version) VALUES (?)", (version,))
