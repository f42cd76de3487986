"""The element encoder: a LIVE `PriceUpdate` as a `PriceBatch.updates` element, by hand.

`Encoder.live_element` writes byte for byte what the generated encoder gives
for the same message (fields in number order, proto3 zeros left out) at
about a fifth of the cost, since no message object is built. The field tags
and enum numbers it writes are listed in `TAGS` and `ENUM_NUMBERS` and
checked against the generated descriptors when this module is imported, so
a contract change that moves one fails loudly instead of sending wrong bytes.
"""

from __future__ import annotations

import struct

from google.protobuf import descriptor_pool
from google.protobuf import timestamp_pb2 as _timestamp_pb2  # noqa: F401  (registers Timestamp)
from google.protobuf.descriptor import FieldDescriptor

from tickwire.v1 import market_data_pb2 as pb
from tickwire_server.domain import Quote

_UPDATE = "tickwire.v1.PriceUpdate"
_BATCH = "tickwire.v1.PriceBatch"
_RESPONSE = "tickwire.v1.SubscribeResponse"
_TIMESTAMP = "google.protobuf.Timestamp"

# (message, field) -> tag (field number << 3 | wire type), as this codec writes it.
TAGS: dict[tuple[str, str], int] = {
    (_RESPONSE, "prices"): 0x0A,
    (_BATCH, "updates"): 0x0A,
    (_BATCH, "conflated"): 0x10,
    (_UPDATE, "ticker"): 0x0A,
    (_UPDATE, "price"): 0x11,
    (_UPDATE, "previous_price"): 0x19,
    (_UPDATE, "change"): 0x21,
    (_UPDATE, "change_percent"): 0x29,
    (_UPDATE, "direction"): 0x30,
    (_UPDATE, "timestamp"): 0x3A,
    (_UPDATE, "sequence"): 0x40,
    (_UPDATE, "state"): 0x48,
    (_UPDATE, "open"): 0x51,
    (_UPDATE, "high"): 0x59,
    (_UPDATE, "low"): 0x61,
    (_UPDATE, "close"): 0x69,
    (_UPDATE, "volume"): 0x71,
    (_UPDATE, "vwap"): 0x79,
    (_UPDATE, "transactions"): 0x80,  # field 16: a two-byte varint tag
    (_TIMESTAMP, "seconds"): 0x08,
    (_TIMESTAMP, "nanos"): 0x10,
}
# (enum, value name) -> number, as this codec writes it.
ENUM_NUMBERS: dict[tuple[str, str], int] = {
    ("tickwire.v1.Direction", "DIRECTION_UP"): 1,
    ("tickwire.v1.Direction", "DIRECTION_DOWN"): 2,
    ("tickwire.v1.Direction", "DIRECTION_FLAT"): 3,
    ("tickwire.v1.DataState", "DATA_STATE_LIVE"): 1,
}

_WIRE_TYPES = {
    FieldDescriptor.TYPE_DOUBLE: 1,
    FieldDescriptor.TYPE_FIXED64: 1,
    FieldDescriptor.TYPE_SFIXED64: 1,
    FieldDescriptor.TYPE_FLOAT: 5,
    FieldDescriptor.TYPE_FIXED32: 5,
    FieldDescriptor.TYPE_SFIXED32: 5,
    FieldDescriptor.TYPE_STRING: 2,
    FieldDescriptor.TYPE_BYTES: 2,
    FieldDescriptor.TYPE_MESSAGE: 2,
}  # every other scalar (ints, bool, enum) is a varint: 0


def contract_mismatches(
    tags: dict[tuple[str, str], int] = TAGS,
    enums: dict[tuple[str, str], int] = ENUM_NUMBERS,
) -> list[str]:
    """Where `tags` and `enums` disagree with the generated descriptors (empty: none)."""
    pool = descriptor_pool.Default()
    out: list[str] = []
    for (message, name), tag in tags.items():
        field = pool.FindMessageTypeByName(message).fields_by_name.get(name)
        if field is None:
            out.append(f"{message}.{name} is not in the contract")
            continue
        expected = field.number << 3 | _WIRE_TYPES.get(field.type, 0)
        if expected != tag:
            out.append(
                f"{message}.{name}: the codec writes tag {tag:#x}, the contract says {expected:#x}"
            )
    for (enum, name), number in enums.items():
        value = pool.FindEnumTypeByName(enum).values_by_name.get(name)
        if value is None or value.number != number:
            found = "missing" if value is None else value.number
            out.append(f"{enum}.{name}: the codec writes {number}, the contract says {found}")
    return out


if _mismatches := contract_mismatches():
    raise ImportError(
        "tickwire_server.codec is out of step with tickwire.v1: " + "; ".join(_mismatches)
    )

_ONE_BYTE = [bytes((n,)) for n in range(0x80)]


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


_TAG_UPDATES = bytes((TAGS[_BATCH, "updates"],))
# The tag of a field 1 that is length-delimited, and a one-byte length, for
# lengths < 128: the head of a `PriceBatch.updates` element and of `PriceUpdate.ticker` alike.
assert TAGS[_BATCH, "updates"] == TAGS[_UPDATE, "ticker"]
_FIELD1_HEADS = [_TAG_UPDATES + bytes((n,)) for n in range(0x80)]


def update_element(update: pb.PriceUpdate) -> bytes:
    """`update` encoded as one element of `PriceBatch.updates` (any state, any fields)."""
    body = update.SerializeToString()
    size = len(body)
    if size < 0x80:
        return _FIELD1_HEADS[size] + body
    return _TAG_UPDATES + varint(size) + body


def _tag(name: str) -> int:
    return TAGS[_UPDATE, name]


_PRICE, _PREVIOUS, _CHANGE, _PERCENT, _DIRECTION = (
    _tag(n) for n in ("price", "previous_price", "change", "change_percent", "direction")
)
_UP = ENUM_NUMBERS["tickwire.v1.Direction", "DIRECTION_UP"]
_DOWN = ENUM_NUMBERS["tickwire.v1.Direction", "DIRECTION_DOWN"]
_FLAT = ENUM_NUMBERS["tickwire.v1.Direction", "DIRECTION_FLAT"]
# price, previous_price, change, change_percent, then the direction's tag and value:
_MOVED = struct.Struct("<BdBdBdBdBB").pack
_PRICES_2 = struct.Struct("<BdBd").pack  # price, previous_price
_DOUBLE = struct.Struct("<Bd").pack
_DIRECTIONS = {
    sign: bytes((_DIRECTION, value)) for sign, value in ((1, _UP), (-1, _DOWN), (0, _FLAT))
}
_TAG_TIMESTAMP = bytes((_tag("timestamp"),))
_TAG_SECONDS = bytes((TAGS[_TIMESTAMP, "seconds"],))
_TAG_NANOS = bytes((TAGS[_TIMESTAMP, "nanos"],))
_TAG_SEQUENCE = bytes((_tag("sequence"),))
_STATE_LIVE = bytes((_tag("state"), ENUM_NUMBERS["tickwire.v1.DataState", "DATA_STATE_LIVE"]))
_BAR_DOUBLES = tuple((_tag(n), n) for n in ("open", "high", "low", "close", "volume", "vwap"))
_TAG_TRANSACTIONS = varint(_tag("transactions"))


class Encoder:
    """Encodes LIVE price update elements for one cache, remembering what repeats.

    It keeps the encoded `ticker` field of every symbol it has seen (up to
    `max_symbols`; past that it starts over, so churning symbols cost bounded
    memory) and the last `timestamp` field, which a batch's updates mostly
    share. Safe to call from several threads: each memo is replaced whole,
    and two threads encoding at once get the same bytes.
    """

    __slots__ = ("_tickers", "_stamp", "max_symbols")

    def __init__(self, max_symbols: int = 100_000) -> None:
        self.max_symbols = max_symbols
        self._tickers: dict[str, bytes] = {}
        self._stamp: tuple[int | None, bytes] = (None, b"")

    def live_element(self, quote: Quote, previous_price: float, sequence: int) -> bytes:
        """The `PriceBatch.updates` element of `quote` as a LIVE update.

        Change fields are against `previous_price` (> 0); `sequence` is the
        ticker's new sequence (>= 1).
        """
        price = quote.price
        change = price - previous_price
        percent = change / previous_price * 100.0
        body = self._tickers.get(quote.ticker) or self._ticker_field(quote.ticker)
        if change and percent:  # the usual case: every field present
            body += _MOVED(
                _PRICE, price, _PREVIOUS, previous_price, _CHANGE, change, _PERCENT, percent,
                _DIRECTION, _UP if change > 0 else _DOWN,
            )  # fmt: skip
        else:
            body += _PRICES_2(_PRICE, price, _PREVIOUS, previous_price)
            if change:
                body += _DOUBLE(_CHANGE, change)
            body += _DIRECTIONS[(change > 0) - (change < 0)]
        stamp = self._stamp
        if stamp[0] != quote.timestamp_ns:
            stamp = self._stamp = (quote.timestamp_ns, timestamp_field(quote.timestamp_ns))
        body += stamp[1] + _TAG_SEQUENCE + varint(sequence) + _STATE_LIVE
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

    def _ticker_field(self, ticker: str) -> bytes:
        """Field 1 (`ticker`) of `ticker`, remembered."""
        field = ticker_field(ticker)
        if len(self._tickers) >= self.max_symbols:
            self._tickers = {}
        self._tickers[ticker] = field
        return field


def ticker_field(ticker: str) -> bytes:
    """Field 1 (`ticker`) of a `PriceUpdate`."""
    name = ticker.encode()
    size = len(name)
    return (_FIELD1_HEADS[size] if size < 0x80 else _TAG_UPDATES + varint(size)) + name


def timestamp_field(ns: int) -> bytes:
    """Field 7 (`timestamp`) for `ns` nanoseconds since the epoch."""
    seconds, nanos = divmod(ns, 1_000_000_000)
    body = b""
    if seconds:
        body += _TAG_SECONDS + varint(seconds & 0xFFFFFFFFFFFFFFFF)  # int64: two's complement
    if nanos:
        body += _TAG_NANOS + varint(nanos)
    return _TAG_TIMESTAMP + varint(len(body)) + body


def _bar_fields(quote: Quote) -> bytes:
    out = b""
    for tag, name in _BAR_DOUBLES:
        value = getattr(quote, name)
        if value is not None:
            out += _DOUBLE(tag, value)
    if quote.transactions is not None:
        out += _TAG_TRANSACTIONS + varint(quote.transactions & 0xFFFFFFFFFFFFFFFF)
    return out
