"""CandleStore: where closed bars live, one schema for SQLite and PostgreSQL.

`candles` holds one row per (ticker, interval, start), `start` in seconds
since the epoch and `interval` by name ("1m"). An upsert follows source
precedence: a vendor bar (backfill) is never replaced by a bar tickwire
aggregated itself, since vendors filter trade conditions and their volume
differs from tick sums; generated (synthetic) history never replaces
either. `coverage` records which ranges were fetched from the vendor, so
that minutes with no trades are not fetched again. Migrations are numbered
and applied at open; a store whose schema is newer than this code refuses
to open (`SchemaTooNew`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import NamedTuple, Protocol

from tickwire_server.candles.bars import BACKFILL, LIVE, SYNTHETIC, Bar
from tickwire_server.candles.intervals import NS


class StoreError(RuntimeError):
    """The history store cannot be used; the message says why and what to do."""


class SchemaTooNew(StoreError):
    """The store was migrated by a newer tickwire."""


class Row(NamedTuple):
    """One stored bar as the store returns it (the caller knows ticker and interval)."""

    start: int  # seconds since the epoch
    open: float
    high: float
    low: float
    close: float
    volume: float
    vwap: float
    transactions: int
    complete: bool
    revision: int
    source: int


COLUMNS = (
    'ticker, "interval", "start", open, high, low, close, volume, vwap, transactions, '
    "complete, revision, source, updated_at"
)
READ_COLUMNS = (
    '"start", open, high, low, close, volume, vwap, transactions, complete, revision, source'
)

# When an incoming row (excluded) may replace a stored one: a vendor bar always;
# otherwise only over a non-vendor row, and a generated one only over a generated one.
UPSERT_WHERE = (
    f"excluded.source = {BACKFILL} OR (candles.source <> {BACKFILL} AND "
    f"(excluded.source = {LIVE} OR candles.source = {SYNTHETIC}))"
)
UPDATE_SET = ", ".join(
    f"{c} = excluded.{c}"
    for c in (
        "open",
        "high",
        "low",
        "close",
        "volume",
        "vwap",
        "transactions",
        "complete",
        "revision",
        "source",
        "updated_at",
    )
)

# Each entry moves the schema one version up; never edit one that was released.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE candles (
            ticker TEXT NOT NULL,
            "interval" TEXT NOT NULL,
            "start" BIGINT NOT NULL,
            open DOUBLE PRECISION NOT NULL,
            high DOUBLE PRECISION NOT NULL,
            low DOUBLE PRECISION NOT NULL,
            close DOUBLE PRECISION NOT NULL,
            volume DOUBLE PRECISION NOT NULL,
            vwap DOUBLE PRECISION NOT NULL,
            transactions BIGINT NOT NULL,
            complete BOOLEAN NOT NULL,
            revision INTEGER NOT NULL,
            source SMALLINT NOT NULL,
            updated_at BIGINT NOT NULL,
            PRIMARY KEY (ticker, "interval", "start")
        ){without_rowid}""",
        """CREATE TABLE coverage (
            ticker TEXT NOT NULL,
            "interval" TEXT NOT NULL,
            "start" BIGINT NOT NULL,
            "end" BIGINT NOT NULL,
            fetched_at BIGINT NOT NULL,
            PRIMARY KEY (ticker, "interval", "start")
        ){without_rowid}""",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)


def too_new(url: str, found: int) -> SchemaTooNew:
    return SchemaTooNew(
        f"the candle history at {url} has schema version {found}, newer than this tickwire "
        f"knows ({SCHEMA_VERSION}): run a tickwire at least as new as the one that wrote it, "
        "or point TICKWIRE_HISTORY_URL elsewhere"
    )


def row_values(bar: Bar, now: int | None = None) -> tuple[object, ...]:
    """The `candles` row of `bar`, in COLUMNS order."""
    return (
        bar.ticker,
        bar.interval.name,
        bar.start // NS,
        bar.open,
        bar.high,
        bar.low,
        bar.close,
        bar.volume,
        bar.vwap,
        bar.transactions,
        bar.complete,
        bar.revision,
        bar.source,
        int(time.time()) if now is None else now,
    )


class CandleStore(Protocol):
    """Closed bars by (ticker, interval, start); every method is a coroutine."""

    url: str

    async def open(self) -> None:
        """Connect and migrate. Raises StoreError (SchemaTooNew for a newer schema)."""

    async def close(self) -> None:
        """Release the connection. Idempotent."""

    async def write(self, bars: Sequence[Bar]) -> None:
        """Upsert closed bars (live closes and corrections), by source precedence."""

    async def write_history(self, bars: Sequence[Bar]) -> None:
        """Upsert a large batch of fetched or generated bars, by the same precedence."""

    async def read(
        self, ticker: str, interval: str, start_s: int, end_s: int, limit: int
    ) -> list[Row]:
        """At most `limit` rows with start in [start_s, end_s), in start order."""

    async def prune(self, interval: str, before_s: int) -> int:
        """Delete the `interval` bars that start before `before_s`; how many."""

    async def coverage(
        self, ticker: str, interval: str, start_s: int, end_s: int
    ) -> list[tuple[int, int]]:
        """The fetched ranges that overlap [start_s, end_s), by start."""

    async def cover(self, ticker: str, interval: str, ranges: Sequence[tuple[int, int]]) -> None:
        """Record ranges [start, end) (seconds) as fetched."""
