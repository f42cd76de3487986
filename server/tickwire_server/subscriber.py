"""Subscriber: one stream's ticker set and its conflating mailbox."""

from __future__ import annotations

import asyncio
from collections import deque

from tickwire_server import wire
from tickwire_server.errors import EndReason, StreamEnded

# What a prices frame adds around its elements, at most: the `prices` tag and a
# length up to 2**32 (1 + 5), the `conflated` tag and a 64-bit varint (1 + 10).
_FRAME_OVERHEAD = 17


class Subscriber:
    """The server side of one price stream, with no gRPC in it.

    The hub offers encoded price elements; at most one is pending per ticker
    (latest wins) and each overwrite is counted as conflated. A whole
    `SharedBatch` offered to an empty mailbox is kept by reference (no copy)
    and, unless split, sent as the batch's shared frame for its conflated
    count. Control frames (acks, heartbeats, market status) queue in order
    and are never dropped; a client that lets more than `max_controls` pile
    up is ended. The send loop calls `next_frames`, which drains everything
    pending into as few frames as fit `max_frame_bytes`: idle, a price goes
    out at once; under load, batches grow.
    """

    __slots__ = (
        "tickers",
        "_conflated_sent",
        "_prices",
        "_shared",
        "_conflated",
        "_controls",
        "_wake",
        "_ended",
        "_max_controls",
        "_max_frame_bytes",
    )

    def __init__(self, *, max_controls: int = 1024, max_frame_bytes: int = 1 << 20) -> None:
        self.tickers: set[str] = set()
        self._conflated_sent = 0
        self._prices: dict[str, bytes] = {}
        self._shared: wire.SharedBatch | None = None  # pending instead of _prices
        self._conflated = 0
        self._controls: deque[bytes] = deque()
        self._wake = asyncio.Event()
        self._ended: StreamEnded | None = None
        self._max_controls = max_controls
        self._max_frame_bytes = max_frame_bytes

    def offer(self, ticker: str, element: bytes) -> None:
        """Queue a price element for `ticker`, replacing one still pending."""
        if self._shared is not None:
            self._own()
        prices = self._prices
        if ticker in prices:
            self._conflated += 1
        prices[ticker] = element
        self._wake.set()

    def offer_all(self, batch: wire.SharedBatch) -> None:
        """Queue every element of `batch`, each as `offer` would (latest wins).

        One wake-up for the lot. An empty mailbox just keeps the batch, and
        so does one holding only an older batch of no other tickers (all of
        which it overwrites: counted as conflated). Otherwise one dict update,
        and what it overwrote is counted (size before + offered - size after).
        """
        shared = self._shared
        if shared is None and not self._prices:
            self._shared = batch
        elif shared is not None and (shared.keys is batch.keys or shared.keys <= batch.keys):
            self._conflated += len(shared.keys)
            self._shared = batch
        else:
            self._own()
            prices = self._prices
            before = len(prices)
            prices.update(batch.elements)
            self._conflated += before + len(batch.keys) - len(prices)
        self._wake.set()

    def discard(self, ticker: str) -> None:
        """Drop a pending price of a ticker the stream no longer has."""
        if self._shared is not None:
            self._own()
        self._prices.pop(ticker, None)

    def _own(self) -> None:
        """Turn a kept shared batch, if any, into this mailbox's own pending prices."""
        if self._shared is not None:
            self._prices.update(self._shared.elements)
            self._shared = None

    def push(self, frame: bytes) -> None:
        """Queue a control frame; ends the stream when too many are waiting."""
        if len(self._controls) >= self._max_controls:
            self.end(
                StreamEnded(
                    EndReason.OVERFLOW,
                    f"more than {self._max_controls} answers are waiting to be read: "
                    "the client sends requests faster than it reads the stream",
                )
            )
            return
        self._controls.append(frame)
        self._wake.set()

    def end(self, error: StreamEnded) -> None:
        """Make the send loop raise `error` at its next turn (first reason wins)."""
        if self._ended is None:
            self._ended = error
        self._wake.set()

    @property
    def ended(self) -> StreamEnded | None:
        return self._ended

    @property
    def conflated_total(self) -> int:
        """Updates replaced before they were sent, over the stream's life."""
        return self._conflated_sent + self._conflated

    @property
    def pending(self) -> int:
        """How many price elements wait to be sent."""
        if self._shared is not None:
            return len(self._shared.keys)
        return len(self._prices)

    async def next_frames(self, max_wait: float | None) -> list[bytes]:
        """Wait up to `max_wait` seconds for output; return every pending frame.

        Returns an empty list when the time ran out with nothing to send.

        Raises:
            StreamEnded: the stream was ended; pending output is dropped.
        """
        if not (self._prices or self._shared or self._controls or self._ended):
            self._wake.clear()
            try:
                async with asyncio.timeout(max_wait):
                    await self._wake.wait()
            except TimeoutError:
                return []
        if self._ended is not None:
            raise self._ended
        frames = list(self._controls)
        self._controls.clear()
        if self._prices or self._shared:
            frames.extend(self._drain_prices())
        return frames

    def _drain_prices(self) -> list[bytes]:
        conflated, self._conflated = self._conflated, 0
        self._conflated_sent += conflated
        shared, self._shared = self._shared, None
        if shared is not None:
            frame = shared.frame(conflated)
            if len(frame) <= self._max_frame_bytes:
                return [frame]
            elements = list(shared.elements.values())
        else:
            elements = list(self._prices.values())
            self._prices.clear()
            frame = wire.prices_frame(elements, conflated)
        if len(frame) <= self._max_frame_bytes:
            return [frame]
        limit = self._max_frame_bytes - _FRAME_OVERHEAD
        frames: list[bytes] = []
        chunk: list[bytes] = []
        size = 0
        for element in elements:
            if chunk and size + len(element) > limit:
                frames.append(wire.prices_frame(chunk, conflated))
                conflated, chunk, size = 0, [], 0
            chunk.append(element)
            size += len(element)
        frames.append(wire.prices_frame(chunk, conflated))
        return frames
