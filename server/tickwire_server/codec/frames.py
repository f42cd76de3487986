"""Frames: whole `SubscribeResponse` messages, assembled from pre-encoded parts.

A prices frame is the `prices` tag, a length and the batch: the joined
update elements, then the `conflated` count when there is one. A frame over
a stream's size limit is split into several, the count riding on the first.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from tickwire.v1 import market_data_pb2 as pb
from tickwire_server.codec.elements import TAGS, varint
from tickwire_server.codec.messages import market_status, ticker_results, timestamp
from tickwire_server.domain import SourceStatus, TickerResult

_TAG_PRICES = bytes((TAGS["tickwire.v1.SubscribeResponse", "prices"],))
_TAG_CONFLATED = bytes((TAGS["tickwire.v1.PriceBatch", "conflated"],))
# What a prices frame adds around its elements, at most: the `prices` tag and a
# length up to 2**32 (1 + 5), the `conflated` tag and a 64-bit varint (1 + 10).
FRAME_OVERHEAD = 17
_SHARED_FRAMES = 8  # frames kept per shared batch, one per conflated count


def prices_frame(elements: Iterable[bytes], conflated: int = 0) -> bytes:
    """A whole `SubscribeResponse{prices}` from pre-encoded update elements."""
    return _frame(b"".join(elements), conflated)


def prices_frames(elements: Sequence[bytes], conflated: int, max_bytes: int) -> list[bytes]:
    """`elements` as prices frames of at most `max_bytes` each (one, when they fit).

    `conflated` rides on the first frame. An element too large for any frame
    goes alone in one, over the limit: it cannot be split.
    """
    frame = prices_frame(elements, conflated)
    if len(frame) <= max_bytes:
        return [frame]
    return _split(elements, conflated, max_bytes)


def _frame(batch: bytes, conflated: int) -> bytes:
    tail = _TAG_CONFLATED + varint(conflated) if conflated else b""
    return b"".join((_TAG_PRICES, varint(len(batch) + len(tail)), batch, tail))


def _split(elements: Iterable[bytes], conflated: int, max_bytes: int) -> list[bytes]:
    limit = max_bytes - FRAME_OVERHEAD
    frames: list[bytes] = []
    chunk: list[bytes] = []
    size = 0
    for element in elements:
        if chunk and size + len(element) > limit:
            frames.append(prices_frame(chunk, conflated))
            conflated, chunk, size = 0, [], 0
        chunk.append(element)
        size += len(element)
    frames.append(prices_frame(chunk, conflated))
    return frames


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
    Subclasses encode otherwise (`ColumnBatch`: a whole block at once) by
    overriding `_encode_elements`, `_join` and `share`.
    """

    __slots__ = ("entries", "keys", "_elements", "_body", "_frames")

    def __init__(self, entries: Mapping[str, Encoded], keys: frozenset[str]) -> None:
        self.entries = entries
        self.keys = keys
        self._elements: dict[str, bytes] | None = None
        self._body: bytes | None = None
        self._frames: dict[int, bytes] = {}

    @classmethod
    def of_elements(cls, elements: dict[str, bytes], keys: frozenset[str]) -> SharedBatch:
        """A batch of elements already encoded (a share of another batch's)."""
        batch = cls({}, keys)
        batch._elements = elements
        return batch

    @property
    def elements(self) -> dict[str, bytes]:
        """The encoded element of every ticker, in the batch's order (made once)."""
        if self._elements is None:
            self._elements = self._encode_elements()
        return self._elements

    def _encode_elements(self) -> dict[str, bytes]:
        return {t: e.element for t, e in self.entries.items()}

    def share(self, keys: frozenset[str]) -> SharedBatch:
        """The batch of `keys` (a subset of this one's) alone, encoded as lazily as this one."""
        return SharedBatch({t: self.entries[t] for t in keys}, keys)

    def _join(self) -> bytes:
        """Every element, joined in order."""
        if self._elements is not None:
            return b"".join(self._elements.values())
        return b"".join([e.element for e in self.entries.values()])

    def frame(self, conflated: int = 0) -> bytes:
        """`prices_frame(elements, conflated)`, from elements joined once."""
        frame = self._frames.get(conflated)
        if frame is not None:
            return frame
        body = self._body
        if body is None:
            body = self._body = self._join()
        if len(self._frames) >= _SHARED_FRAMES:  # counts all differ: keep memory bounded
            self._frames.clear()
        frame = self._frames[conflated] = _frame(body, conflated)
        return frame

    def frames(self, conflated: int, max_bytes: int) -> list[bytes]:
        """The batch as frames of at most `max_bytes`: its shared frame when that fits."""
        frame = self.frame(conflated)
        if len(frame) <= max_bytes:
            return [frame]
        return _split(self.elements.values(), conflated, max_bytes)


def market_status_frame(status: SourceStatus) -> bytes:
    """A `SubscribeResponse{market_status}` frame."""
    return pb.SubscribeResponse(market_status=market_status(status)).SerializeToString()


def heartbeat_frame(ping_id: str = "") -> bytes:
    """A `SubscribeResponse{heartbeat}` frame carrying the server's time."""
    beat = pb.Heartbeat(server_time=timestamp(time.time_ns()), ping_id=ping_id)
    return pb.SubscribeResponse(heartbeat=beat).SerializeToString()


def ack_frame(
    action: pb.SubscriptionAction,
    results: Iterable[TickerResult],
    tickers: Iterable[str],
    request_id: str = "",
    message: str = "",
    interval: int = 0,
) -> bytes:
    """A `SubscribeResponse{ack}` frame (`interval`: a candle request's)."""
    ack = pb.SubscriptionAck(
        request_id=request_id,
        action=action,
        results=ticker_results(results),
        tickers=sorted(tickers),
        message=message,
        interval=interval,  # type: ignore[arg-type]
    )
    return pb.SubscribeResponse(ack=ack).SerializeToString()
