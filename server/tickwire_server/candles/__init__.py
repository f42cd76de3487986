"""Candles: live OHLCV bars of sixteen intervals, their stored history and GetCandles.

`CandleBook` aggregates accepted prices into bars and sends them to candle
subscribers; `History` writes closed bars to a `CandleStore` (SQLite or
PostgreSQL) and answers reads; `query` checks GetCandles requests.
"""

from __future__ import annotations

from tickwire_server.candles.bars import Bar
from tickwire_server.candles.book import CandleBook
from tickwire_server.candles.history import DEFAULT_RETENTION, History, parse_retention
from tickwire_server.candles.intervals import INTERVALS, Interval, Sessions, interval, xnys
from tickwire_server.candles.store import CandleStore, SchemaTooNew, StoreError

__all__ = [
    "DEFAULT_RETENTION",
    "INTERVALS",
    "Bar",
    "CandleBook",
    "CandleStore",
    "History",
    "Interval",
    "SchemaTooNew",
    "Sessions",
    "StoreError",
    "build_store",
    "interval",
    "parse_retention",
    "xnys",
]


def build_store(url: str) -> CandleStore:
    """The store a history URL names: sqlite:///PATH or postgresql://..."""
    if url.startswith("sqlite:///"):
        from tickwire_server.candles.sqlite import SqliteStore

        return SqliteStore(url.removeprefix("sqlite:///"))
    from tickwire_server.candles.postgres import PostgresStore

    return PostgresStore(url)
