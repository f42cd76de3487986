"""The protobuf codec: domain types to tickwire.v1 messages, and pre-encoded frames.

Encode once: a price update is serialised once, as an element of the
repeated field `PriceBatch.updates`. A repeated field's wire form is the
concatenation of its elements, so a batch for any subscriber is the join of
the elements it has pending, and a `SubscribeResponse` frame is that batch
behind one more tag and length. Nothing here is per subscriber.
"""

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

# Tags (field number << 3 | wire type 2, length-delimited).
_TAG_PRICES = b"\x0a"  # SubscribeResponse.prices = 1
_TAG_UPDATES = b"\x0a"  # PriceBatch.updates = 1
_TAG_CONFLATED = b"\x10"  # PriceBatch.conflated = 2, varint

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
}


def varint(value: int) -> bytes:
    """The protobuf base-128 varint encoding of a non-negative integer."""
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def update_element(update: pb.PriceUpdate) -> bytes:
    """`update` encoded as one element of `PriceBatch.updates`."""
    body = update.SerializeToString()
    return _TAG_UPDATES + varint(len(body)) + body


def prices_frame(elements: Iterable[bytes], conflated: int = 0) -> bytes:
    """A whole `SubscribeResponse{prices}` from pre-encoded update elements."""
    batch = b"".join(elements)
    if conflated:
        batch += _TAG_CONFLATED + varint(conflated)
    return _TAG_PRICES + varint(len(batch)) + batch


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


def market_status_frame(status: SourceStatus) -> bytes:
    """A `SubscribeResponse{market_status}` frame."""
    return pb.SubscribeResponse(market_status=market_status(status)).SerializeToString()


def heartbeat_frame(ping_id: str = "") -> bytes:
    """A `SubscribeResponse{heartbeat}` frame carrying the server's time."""
    beat = pb.Heartbeat(server_time=timestamp(time.time_ns()), ping_id=ping_id)
    return pb.SubscribeResponse(heartbeat=beat).SerializeToString()


def ticker_results(results: Iterable[TickerResult]) -> list[pb.TickerResult]:
    """Proto forms of per-ticker results."""
    return [
        pb.TickerResult(ticker=r.ticker, status=TICKER_STATUSES[r.status], message=r.message)
        for r in results
    ]


def ack_frame(
    action: pb.SubscriptionAction,
    results: Iterable[TickerResult],
    tickers: Iterable[str],
    request_id: str = "",
    message: str = "",
) -> bytes:
    """A `SubscribeResponse{ack}` frame."""
    ack = pb.SubscriptionAck(
        request_id=request_id,
        action=action,
        results=ticker_results(results),
        tickers=sorted(tickers),
        message=message,
    )
    return pb.SubscribeResponse(ack=ack).SerializeToString()


def ticker_info(meta: TickerMeta) -> pb.TickerInfo:
    """The proto form of ticker metadata."""
    return pb.TickerInfo(
        ticker=meta.ticker,
        name=meta.name,
        sector=meta.sector,
        seed_price=meta.seed_price,
        active=meta.active,
    )
