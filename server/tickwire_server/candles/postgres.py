"""PostgresStore: candle history in PostgreSQL through asyncpg (production)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

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

_UPSERT = (
    f"INSERT INTO candles ({COLUMNS}) VALUES ({', '.join(f'${i}' for i in range(1, 15))}) "
    f'ON CONFLICT (ticker, "interval", "start") DO UPDATE SET {UPDATE_SET} WHERE {UPSERT_WHERE}'
)
_COPY_COLUMNS = [c.strip().strip('"') for c in COLUMNS.split(",")]
# Serialises migrations of concurrent servers starting against one database.
_MIGRATION_LOCK = 0x7469636B  # "tick"


class PostgresStore:
    """Candles in PostgreSQL: a pool of asyncpg connections, the shared schema.

    Live closes are upserted with `executemany`; a large batch (backfill,
    generated history) is copied into a temporary table with COPY, then
    merged with one `INSERT ... SELECT ... ON CONFLICT`.
    """

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 4) -> None:
        self.url = _redacted(url)
        self._dsn = url
        self._sizes = (min_size, max_size)
        self._pool: Any = None

    async def open(self) -> None:
        if self._pool is not None:
            return
        try:
            import asyncpg
        except ImportError as exc:
            raise StoreError(
                "PostgreSQL history needs asyncpg: pip install 'tickwire-server[postgres]'"
            ) from exc
        try:
            pool = await asyncpg.create_pool(
                self._dsn, min_size=self._sizes[0], max_size=self._sizes[1], command_timeout=60
            )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise StoreError(f"cannot connect to the candle history at {self.url}: {exc}") from exc
        try:
            async with pool.acquire() as db, db.transaction():
                await db.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
                await _migrate(db, self.url)
        except BaseException:
            await pool.close()
            raise
        self._pool = pool

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    def _ready(self) -> Any:
        if self._pool is None:
            raise StoreError(f"the candle history at {self.url} is not open")
        return self._pool

    async def write(self, bars: Sequence[Bar]) -> None:
        if not bars:
            return
        now = int(time.time())
        rows = [row_values(b, now) for b in bars]
        async with self._ready().acquire() as db, db.transaction():
            await db.executemany(_UPSERT, rows)

    async def write_history(self, bars: Sequence[Bar]) -> None:
        if not bars:
            return
        now = int(time.time())
        rows = [row_values(b, now) for b in bars]
        async with self._ready().acquire() as db, db.transaction():
            await db.execute(
                "CREATE TEMPORARY TABLE incoming (LIKE candles INCLUDING DEFAULTS) ON COMMIT DROP"
            )
            await db.copy_records_to_table("incoming", records=rows, columns=_COPY_COLUMNS)
            await db.execute(
                f"INSERT INTO candles ({COLUMNS}) SELECT {COLUMNS} FROM incoming "
                f'ON CONFLICT (ticker, "interval", "start") DO UPDATE SET {UPDATE_SET} '
                f"WHERE {UPSERT_WHERE}"
            )

    async def read(
        self, ticker: str, interval: str, start_s: int, end_s: int, limit: int
    ) -> list[Row]:
        sql = (
            f'SELECT {READ_COLUMNS} FROM candles WHERE ticker = $1 AND "interval" = $2 '
            'AND "start" >= $3 AND "start" < $4 ORDER BY "start" LIMIT $5'
        )
        records = await self._ready().fetch(sql, ticker, interval, start_s, end_s, limit)
        return [Row(*r) for r in records]

    async def prune(self, interval: str, before_s: int) -> int:
        status = await self._ready().execute(
            'DELETE FROM candles WHERE "interval" = $1 AND "start" < $2', interval, before_s
        )
        return int(status.split()[-1])

    async def coverage(
        self, ticker: str, interval: str, start_s: int, end_s: int
    ) -> list[tuple[int, int]]:
        records = await self._ready().fetch(
            'SELECT "start", "end" FROM coverage WHERE ticker = $1 AND "interval" = $2 '
            'AND "end" > $3 AND "start" < $4 ORDER BY "start"',
            ticker,
            interval,
            start_s,
            end_s,
        )
        return [(int(a), int(b)) for a, b in records]

    async def cover(self, ticker: str, interval: str, ranges: Sequence[tuple[int, int]]) -> None:
        now = int(time.time())
        async with self._ready().acquire() as db, db.transaction():
            await db.executemany(
                'INSERT INTO coverage (ticker, "interval", "start", "end", fetched_at) '
                'VALUES ($1, $2, $3, $4, $5) ON CONFLICT (ticker, "interval", "start") DO UPDATE '
                'SET "end" = greatest(coverage."end", excluded."end"), '
                "fetched_at = excluded.fetched_at",
                [(ticker, interval, a, b, now) for a, b in ranges],
            )


async def _migrate(db: Any, url: str) -> None:
    await db.execute("CREATE TABLE IF NOT EXISTS tickwire_schema (version INTEGER NOT NULL)")
    found = await db.fetchval("SELECT coalesce(max(version), 0) FROM tickwire_schema")
    if found > SCHEMA_VERSION:
        raise too_new(url, found)
    for version in range(found + 1, SCHEMA_VERSION + 1):
        for statement in MIGRATIONS[version - 1]:
            await db.execute(statement.format(without_rowid=""))
        await db.execute("INSERT INTO tickwire_schema (version) VALUES ($1)", version)


def _redacted(url: str) -> str:
    """`url` without its password, for logs and errors."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))
