"""Columns: a `PriceBlock`'s LIVE updates encoded together, with array operations.

Every row is encoded as `Encoder.live_element` would encode it as a quote,
byte for byte, but the block is built as one byte matrix, a row per update
and a column range per field, and read off in one pass: what costs Python
bytecode per update in the element encoder costs a few array operations per
block here. Fields that a row leaves out (a zero change, a shorter symbol or
sequence number) are masked out of the matrix; when no row leaves out
anything the others keep, the matrix is the encoding as it stands.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from tickwire_server.codec.elements import (
    ENUM_NUMBERS,
    TAGS,
    Encoder,
    ticker_field,
    timestamp_field,
)
from tickwire_server.codec.entry import CachedPrice
from tickwire_server.codec.frames import SharedBatch
from tickwire_server.domain import BAR_COLUMNS, FloatArray, PriceBlock

Bytes = npt.NDArray[np.uint8]
Mask = npt.NDArray[np.bool_]
Counts = npt.NDArray[np.intp]
# A field as a byte matrix (a row per update), which of its bytes each row keeps (None:
# all) and how many that is (one count for all rows, or a count per row).
_Part = tuple[Bytes, Mask | None, int | Counts]

_UPDATE = "tickwire.v1.PriceUpdate"
_TAG_ELEMENT = TAGS["tickwire.v1.PriceBatch", "updates"]
_TAG_PRICE, _TAG_PREVIOUS, _TAG_CHANGE, _TAG_PERCENT, _TAG_DIRECTION, _TAG_SEQUENCE = (
    TAGS[_UPDATE, n]
    for n in ("price", "previous_price", "change", "change_percent", "direction", "sequence")
)
_TAG_BARS = {name: TAGS[_UPDATE, name] for name in BAR_COLUMNS}
_UP, _DOWN, _FLAT = (
    ENUM_NUMBERS["tickwire.v1.Direction", f"DIRECTION_{n}"] for n in ("UP", "DOWN", "FLAT")
)
_STATE_LIVE = bytes(
    (TAGS[_UPDATE, "state"], ENUM_NUMBERS["tickwire.v1.DataState", "DATA_STATE_LIVE"])
)
_SEVEN = np.arange(10, dtype=np.uint64) * np.uint64(7)
_VARINT_STEPS = np.array([1 << (7 * k) for k in range(1, 10)], dtype=np.uint64)


class TickerFields:
    """The encoded `ticker` field of every ticker of a list, made once for the list."""

    __slots__ = ("tickers", "keys", "part")

    def __init__(self, tickers: tuple[str, ...]) -> None:
        self.tickers = tickers
        self.keys = frozenset(tickers)
        fields = [ticker_field(t) for t in tickers]
        widths = np.fromiter(map(len, fields), dtype=np.intp, count=len(fields))
        width = int(widths.max()) if len(fields) else 0
        matrix = np.frombuffer(b"".join(f.ljust(width, b"\0") for f in fields), np.uint8)
        rows = matrix.reshape(len(fields), width)
        if len(fields) == 0 or int(widths.min()) == width:
            self.part: _Part = (rows, None, width)
        else:
            self.part = (rows, np.arange(width) < widths[:, None], widths)


def encode_block(
    names: TickerFields, block: PriceBlock, previous: FloatArray, sequence: npt.NDArray[np.uint64]
) -> tuple[bytes, Counts]:
    """The block's rows as `PriceBatch.updates` elements, joined, and where each one ends.

    Row i moved from `previous[i]` (> 0) and has the sequence `sequence[i]`
    (>= 1); `names` holds the block's ticker fields.
    """
    n = len(block)
    price = block.prices
    change = price - previous
    with np.errstate(over="ignore"):  # as Python's floats: an overflow is inf
        percent = change / previous * 100.0
    moved = change != 0.0
    direction = np.where(change > 0.0, _UP, np.where(moved, _DOWN, _FLAT)).astype(np.uint8)
    stamp = timestamp_field(block.timestamp_ns)
    parts = [
        names.part,
        *_doubles(_TAG_PRICE, price),
        *_doubles(_TAG_PREVIOUS, previous),
        *_present(_doubles(_TAG_CHANGE, change), moved),
        *_present(_doubles(_TAG_PERCENT, percent), moved & (percent != 0.0)),
        _constant(bytes((_TAG_DIRECTION,)), n),
        (direction[:, None], None, 1),
        _constant(stamp + bytes((_TAG_SEQUENCE,)), n),
        _varints(sequence),
        _constant(_STATE_LIVE, n),
    ]
    for name in BAR_COLUMNS:
        column = getattr(block, name)
        if column is None:
            continue
        if name == "transactions":
            tag = _TAG_BARS[name]  # field 16: a two-byte tag
            parts.append(_constant(bytes((tag | 0x80, tag >> 7)), n))
            parts.append(_varints(column.astype(np.uint64)))  # int64: two's complement
        else:
            parts.extend(_doubles(_TAG_BARS[name], column))
    body = np.zeros(n, np.intp) + sum(part[2] for part in parts)
    length = _varints(body.astype(np.uint64))
    head = [_constant(bytes((_TAG_ELEMENT,)), n), length]
    return _read_off(head + parts, np.cumsum(body + length[2] + 1))


def _doubles(tag: int, values: FloatArray) -> list[_Part]:
    """A tag byte and a little-endian double per row (the doubles' own bytes, not a copy)."""
    doubles = np.ascontiguousarray(values, dtype="<f8").view(np.uint8).reshape(-1, 8)
    return [_constant(bytes((tag,)), len(values)), (doubles, None, 8)]


def _present(parts: list[_Part], rows: Mask) -> list[_Part]:
    """`parts` (kept whole in every row) kept only in `rows`."""
    if rows.all():
        return parts
    out: list[_Part] = []
    for matrix, keep, width in parts:
        assert keep is None and isinstance(width, int)
        out.append((matrix, np.repeat(rows[:, None], width, axis=1), rows * width))
    return out


def _constant(data: bytes, n: int) -> _Part:
    """The same bytes in every row."""
    return np.broadcast_to(np.frombuffer(data, np.uint8), (n, len(data))), None, len(data)


def _varints(values: npt.NDArray[np.uint64]) -> _Part:
    """Each value's base-128 varint, as wide as the widest and masked to each row's length."""
    widths = np.searchsorted(_VARINT_STEPS, values, side="right") + 1
    width = int(widths.max()) if len(values) else 1
    groups = (values[:, None] >> _SEVEN[:width]) & np.uint64(0x7F)
    matrix = groups.astype(np.uint8)
    if width > 1:
        columns = np.arange(width)
        matrix |= (columns < (widths[:, None] - 1)).view(np.uint8) << np.uint8(7)
        if int(widths.min()) != width:
            return matrix, columns < widths[:, None], widths
    return matrix, None, width


def _read_off(parts: list[_Part], ends: Counts) -> tuple[bytes, Counts]:
    """The kept bytes of `parts`, row after row (each row ends at `ends`)."""
    matrix = np.concatenate([part[0] for part in parts], axis=1)
    if all(part[1] is None for part in parts):
        return matrix.tobytes(), ends
    keep = np.ones(matrix.shape, np.bool_)
    at = 0
    for rows, mask, _ in parts:
        if mask is not None:
            keep[:, at : at + rows.shape[1]] = mask
        at += rows.shape[1]
    return matrix[keep].tobytes(), ends


class ColumnBatch(SharedBatch):
    """A `PriceBlock` as accepted by the cache: shared like any batch, encoded as a block.

    The rows are encoded together by `encode_block` on first send (or first
    read of `elements`); `cached_prices` makes a `CachedPrice` per row for those
    who need one (the recorder, price listeners).
    """

    __slots__ = ("names", "block", "previous", "sequence", "_data", "_ends")

    def __init__(
        self,
        names: TickerFields,
        block: PriceBlock,
        previous: FloatArray,
        sequence: npt.NDArray[np.uint64],
    ) -> None:
        super().__init__({}, names.keys)
        self.names = names
        self.block = block
        self.previous = previous
        self.sequence = sequence
        self._data: bytes | None = None
        self._ends: Counts | None = None

    def encoded(self) -> tuple[bytes, Counts]:
        """Every row's element, joined in order, and where each ends (encoded once)."""
        if self._data is None or self._ends is None:
            self._data, self._ends = encode_block(
                self.names, self.block, self.previous, self.sequence
            )
        return self._data, self._ends

    def _join(self) -> bytes:
        return self.encoded()[0]

    def share(self, keys: frozenset[str]) -> SharedBatch:
        elements = self.elements  # the block's, encoded together once for every share
        return SharedBatch.of_elements({t: elements[t] for t in keys}, keys)

    def _encode_elements(self) -> dict[str, bytes]:
        data, ends = self.encoded()
        starts = [0, *ends[:-1].tolist()]
        return {
            t: data[a:b] for t, a, b in zip(self.block.tickers, starts, ends.tolist(), strict=True)
        }

    def cached_prices(self, encoder: Encoder) -> list[CachedPrice]:
        """A live `CachedPrice` per row, in order (`encoder` encodes those not yet sent)."""
        block = self.block
        rows = zip(block, self.previous.tolist(), self.sequence.tolist(), strict=True)
        if self._data is None:
            return [CachedPrice(q, q.price, p, n, encoder) for q, p, n in rows]
        elements = self.elements.values()
        return [
            CachedPrice(q, q.price, p, n, encoder, e)
            for (q, p, n), e in zip(rows, elements, strict=True)
        ]
