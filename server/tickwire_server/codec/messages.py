"""Domain types as generated tickwire.v1 messages: enums, timestamps, statuses, metadata."""

from __future__ import annotations

import time
from collections.abc import Iterable

from google.protobuf.timestamp_pb2 import Timestamp

from tickwire.v1 import market_data_pb2 as pb
from tickwire_server.domain import (
    MarketState,
    SourceState,
    SourceStatus,
    TickerMeta,
    TickerResult,
    TickerStatus,
)

MARKET_STATES = {
    MarketState.OPEN: pb.MARKET_STATE_OPEN,
    MarketState.CLOSED: pb.MARKET_STATE_CLOSED,
    MarketState.EXTENDED_HOURS: pb.MARKET_STATE_EXTENDED_HOURS,
}
SOURCE_STATES = {
    SourceState.STARTING: pb.SOURCE_STATE_STARTING,
    SourceState.HEALTHY: pb.SOURCE_STATE_HEALTHY,
    SourceState.DEGRADED: pb.SOURCE_STATE_DEGRADED,
    SourceState.ERROR: pb.SOURCE_STATE_ERROR,
    SourceState.STOPPED: pb.SOURCE_STATE_STOPPED,
}
TICKER_STATUSES = {
    TickerStatus.OK: pb.TICKER_STATUS_OK,
    TickerStatus.INVALID_SYMBOL: pb.TICKER_STATUS_INVALID_SYMBOL,
    TickerStatus.UNKNOWN_TICKER: pb.TICKER_STATUS_UNKNOWN_TICKER,
    TickerStatus.LIMIT_EXCEEDED: pb.TICKER_STATUS_LIMIT_EXCEEDED,
    TickerStatus.NOT_SUBSCRIBED: pb.TICKER_STATUS_NOT_SUBSCRIBED,
    TickerStatus.NO_DATA: pb.TICKER_STATUS_NO_DATA,
    TickerStatus.RATE_LIMITED: pb.TICKER_STATUS_RATE_LIMITED,
}


def timestamp(ns: int) -> Timestamp:
    """A protobuf Timestamp from nanoseconds since the epoch."""
    return Timestamp(seconds=ns // 1_000_000_000, nanos=ns % 1_000_000_000)


def market_status(status: SourceStatus) -> pb.MarketStatus:
    """The proto form of a source status, stamped with the server's time."""
    return pb.MarketStatus(
        market=MARKET_STATES[status.market],
        source=status.source,
        source_state=SOURCE_STATES[status.state],
        message=status.message,
        server_time=timestamp(time.time_ns()),
    )


def ticker_results(results: Iterable[TickerResult]) -> list[pb.TickerResult]:
    """Proto forms of per-ticker results."""
    return [
        pb.TickerResult(ticker=r.ticker, status=TICKER_STATUSES[r.status], message=r.message)
        for r in results
    ]


def ticker_info(meta: TickerMeta) -> pb.TickerInfo:
    """The proto form of ticker metadata."""
    return pb.TickerInfo(
        ticker=meta.ticker,
        name=meta.name,
        sector=meta.sector,
        seed_price=meta.seed_price,
        active=meta.active,
    )
