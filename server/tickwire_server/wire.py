"""The protobuf codec: domain types to tickwire.v1 messages, and pre-encoded frames.

Encode once: a price update is serialised once, as an element of the
repeated field `PriceBatch.updates`. A repeated field's wire form is the
concatenation of its elements, so a batch for any subscriber is the join of
the elements it has pending, and a `SubscribeResponse` frame is that batch
behind one more tag and length. Nothing here is per subscriber.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterable, Mapping
from typing import Protocol

from google.protobuf.timestamp_pb2 import Timestamp

from tickwire.v1 import market_data_pb2 as pb
from tickwire_server.domain import (
    MarketState,
    Quote,
    SourceState,
    SourceStatus,
    TickerMeta,
    TickerResult,
    TickerStatus,
)

_ONE_BYTE = [bytes((n,)) for n in range(0x80)]

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
    if value < 0x80:
        return _ONE_BYTE[value]
    if value < 0x4000:
        return bytes(((value & 0x7F) | 0x80, value >> 7))
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


# Tag 0x0a (field 1, length-delimited) and a one-byte length, for lengths < 128:
# the head of a `PriceBatch.updates` element and of `PriceUpdate.ticker` alike.
_FIELD1_HEADS = [_TAG_UPDATES + bytes((n,)) for n in range(0x80)]


def update_element(update: pb.PriceUpdate) -> bytes:
    """`update` encoded as one element of `PriceBatch.updates`."""
    body = update.SerializeToString()
    size = len(body)
    if size < 0x80:
        return _FIELD1_HEADS[size] + body
    return _TAG_UPDATES + varint(size) + body


# Hand-written encoder of a LIVE PriceUpdate element, byte for byte what
# `update_element(build_update(...))` gives (fields in number order, proto3
# zeros left out) at about a fifth of the cost: no message object is built.
# price, previous_price, change, change_percent, then the direction's tag and value:
_MOVED = struct.Struct("<BdBdBdBdBB").pack
_PRICES_2 = struct.Struct("<BdBd").pack  # price, previous_price
_DOUBLE = struct.Struct("<Bd").pack
_UP, _DOWN = 1, 2
_DIRECTION_UP, _DIRECTION_DOWN, _DIRECTION_FLAT = b"\x30\x01", b"\x30\x02", b"\x30\x03"
_SEQUENCE = b"\x40"
_STATE_LIVE = b"\x48\x01"
_BAR_TAGS = ((0x51, "open"), (0x59, "high"), (0x61, "low"), (0x69, "close"))
_TRANSACTIONS = b"\x80\x01"  # field 16, varint
_stamp_memo: tuple[int, bytes] = (-1, b"")
_TICKER_FIELDS: dict[str, bytes] = {}  # field 1 (`ticker`) per symbol, encoded once
_TICKER_FIELDS_MAX = 100_000


def _ticker_field(ticker: str) -> bytes:
    """Field 1 of `ticker`, remembered (callers look in `_TICKER_FIELDS` first)."""
    field = _TICKER_FIELDS.get(ticker)
    if field is None:
        name = ticker.encode()
        field = _FIELD1_HEADS[len(name)] + name if len(name) < 0x80 else _string(name)
        if len(_TICKER_FIELDS) >= _TICKER_FIELDS_MAX:  # a bound, should symbols churn
            _TICKER_FIELDS.clear()
        _TICKER_FIELDS[ticker] = field
    return field


def _timestamp_field(ns: int) -> bytes:
    """Field 7 (`timestamp`) for `ns`; a batch usually shares one, so the last is kept."""
    global _stamp_memo
    memo = _stamp_memo
    if memo[0] == ns:
        return memo[1]
    seconds, nanos = divmod(ns, 1_000_000_000)
    body = b""
    if seconds:
        body += b"\x08" + varint(seconds & 0xFFFFFFFFFFFFFFFF)  # int64: two's complement
    if nanos:
        body += b"\x10" + varint(nanos)
    field = b"\x3a" + varint(len(body)) + body
    _stamp_memo = (ns, field)
    return field


def live_element(quote: Quote, previous_price: float, sequence: int) -> bytes:
    """The `PriceBatch.updates` element of `quote` as a LIVE update.

    Change fields are against `previous_price` (> 0), `sequence` is the
    ticker's new sequence (>= 1).
    """
    price = quote.price
    change = price - previous_price
    percent = change / previous_price * 100.0
    body = _TICKER_FIELDS.get(quote.ticker) or _ticker_field(quote.ticker)
    if change and percent:  # the usual case: every field present
        body += _MOVED(
            0x11, price, 0x19, previous_price, 0x21, change, 0x29, percent,
            0x30, _UP if change > 0 else _DOWN,
        )  # fmt: skip
    else:
        body += _PRICES_2(0x11, price, 0x19, previous_price)
        if change:
            body += _DOUBLE(0x21, change)
        body += _DIRECTION_UP if change > 0 else _DIRECTION_DOWN if change < 0 else _DIRECTION_FLAT
    body += _timestamp_field(quote.timestamp_ns) + _SEQUENCE + varint(sequence) + _STATE_LIVE
    if (
        quote.open is not None
        or quote.high is not None
        or quote.low is not None
        or quote.close is not None
        or quote.volume is not None
        or quote.vwap is not None
        or quote.transactions is not None
    ):
        body += _bar_fields(quote)
    size = len(body)
    return (_FIELD1_HEADS[size] if size < 0x80 else _TAG_UPDATES + varint(size)) + body


def _bar_fields(quote: Quote) -> bytes:
    out = b""
    for tag, name in _BAR_TAGS:
        value = getattr(quote, name)
        if value is not None:
            out += _DOUBLE(tag, value)
    if quote.volume is not None:
        out += _DOUBLE(0x71, quote.volume)
    if quote.vwap is not None:
        out += _DOUBLE(0x79, quote.vwap)
    if quote.transactions is not None:
        out += _TRANSACTIONS + varint(quote.transactions & 0xFFFFFFFFFFFFFFFF)
    return out


def _string(data: bytes) -> bytes:
    return b"\x0a" + varint(len(data)) + data


def prices_frame(elements: Iterable[bytes], conflated: int = 0) -> bytes:
    """A whole `SubscribeResponse{prices}` from pre-encoded update elements."""
    batch = b"".join(elements)
    if conflated:
        batch += _TAG_CONFLATED + varint(conflated)
    return _TAG_PRICES + varint(len(batch)) + batch


_SHARED_FRAMES = 8  # frames kept per shared batch, one per conflated count


class Encoded(Protocol):
    """Anything that reads as one pre-encoded `PriceBatch.updates` element."""

    @property
    def element(self) -> bytes: ...


class SharedBatch:
    """One publish's entries by ticker, read-only, shared by every stream that takes it all.

    `keys` is the frozenset of its tickers. Nothing is encoded until a stream
    sends the batch: the elements are then joined once, and each frame (one
    per distinct `conflated` count; streams under the same load mostly share
    one) is made once and reused by every stream that sends it. A batch
    replaced in every mailbox before any stream sends it costs no encoding.
    """

    __slots__ = ("entries", "keys", "_elements", "_body", "_frames")

    def __init__(self, entries: Mapping[str, Encoded], keys: frozenset[str]) -> None:
        self.entries = entries
        self.keys = keys
        self._elements: dict[str, bytes] | None = None
        self._body: bytes | None = None
        self._frames: dict[int, bytes] = {}

    @property
    def elements(self) -> dict[str, bytes]:
        """The encoded element of every ticker, in the batch's order (made once)."""
        if self._elements is None:
            self._elements = {t: e.element for t, e in self.entries.items()}
        return self._elements

    def frame(self, conflated: int = 0) -> bytes:
        """`prices_frame(elements, conflated)`, from elements joined once."""
        frame = self._frames.get(conflated)
        if frame is not None:
            return frame
        body = self._body
        if body is None:
            body = self._body = b"".join([e.element for e in self.entries.values()])
        if len(self._frames) >= _SHARED_FRAMES:  # counts all differ: keep memory bounded
            self._frames.clear()
        tail = _TAG_CONFLATED + varint(conflated) if conflated else b""
        frame = b"".join((_TAG_PRICES, varint(len(body) + len(tail)), body, tail))
        self._frames[conflated] = frame
        return frame


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
