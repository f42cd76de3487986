"""Subscriber: one stream's ticker set and its conflating mailbox."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Set

from tickwire_server import codec
from tickwire_server.errors import EndReason, StreamEnded


class Subscriber:
    """The server side of one price stream, with no gRPC in it.

    It owns the stream's ticker set: the hub changes it through
    `add_ticker` and `remove_ticker` (as it updates its own index), everyone
    else reads `tickers`. The hub offers encoded price elements; at most one
    is pending per ticker (latest wins) and each overwrite is counted as conflated. A whole
    `SharedBatch` offered to an empty mailbox is kept by reference (no copy)
    and, unless split, sent as the batch's shared frame for its conflated
    count. Control frames (acks, heartbeats, market status) queue in order
    and are never dropped; a client that lets more than `max_controls` (or
    `max_control_bytes` of them) pile up is ended. The send loop calls
    `next_frames`, which drains everything pending into as few frames as
    fit `max_frame_bytes`: idle, a price goes out at once; under load,
    batches grow.
    """

    __slots__ = (
        "_tickers",
        "principal",
        "connection",
        "releasing",
        "drained",
        "frames_written",
        "waiting_since",
        "_conflated_sent",
        "_prices",
        "_shared",
        "_conflated",
        "_controls",
        "_control_bytes",
        "_candles",
        "candle_keys",
        "_waiter",
        "_ended",
        "_max_controls",
        "_max_control_bytes",
        "_max_frame_bytes",
    )

    def __init__(
        self,
        *,
        max_controls: int = 1024,
        max_control_bytes: int = 1 << 20,
        max_frame_bytes: int = 1 << 20,
    ) -> None:
        self._tickers: set[str] = set()
        self.principal = ""  # the subject of whoever opened the stream
        self.connection = ""  # the peer address of its connection, as grpc names it
        self.releasing = 0  # tickers this stream released that are still upstream (hub-kept)
        self.drained = 0  # price updates taken out to send, over the stream's life
        self.frames_written = 0  # counted by the send loop, once per flush
        self.waiting_since = 0.0  # monotonic time the oldest pending price arrived (0: none)
        self._conflated_sent = 0
        self._prices: dict[str, bytes] = {}
        self._shared: codec.SharedBatch | None = None  # pending instead of _prices
        self._conflated = 0
        self._controls: deque[bytes] = deque()
        self._control_bytes = 0
        # Pending candle frames, latest per (ticker, interval, start); sent after controls.
        self._candles: dict[tuple[str, int, int], bytes] = {}
        # The stream's candle subscriptions: (ticker, interval number) -> closed only.
        self.candle_keys: dict[tuple[str, int], bool] = {}
        self._waiter: asyncio.Future[None] | None = None  # the send loop's, while it waits
        self._ended: StreamEnded | None = None
        self._max_controls = max_controls
        self._max_control_bytes = max_control_bytes
        self._max_frame_bytes = max_frame_bytes

    @property
    def tickers(self) -> Set[str]:
        """The tickers this stream is subscribed to (read-only: see `add_ticker`)."""
        return self._tickers

    def add_ticker(self, ticker: str) -> bool:
        """Add `ticker` to the stream's set; False when it was there already."""
        if ticker in self._tickers:
            return False
        self._tickers.add(ticker)
        return True

    def remove_ticker(self, ticker: str) -> bool:
        """Take `ticker` out of the set and drop its pending price; False when absent."""
        if ticker not in self._tickers:
            return False
        self._tickers.discard(ticker)
        if self._shared is not None:
            self._own()
        self._prices.pop(ticker, None)
        return True

    def offer(self, ticker: str, element: bytes) -> None:
        """Queue a price element for `ticker`, replacing one still pending."""
        if self._shared is not None:
            self._own()
        prices = self._prices
        if not prices:
            self.waiting_since = time.monotonic()
        if ticker in prices:
            self._conflated += 1
        prices[ticker] = element
        self._notify()

    def offer_all(self, batch: codec.SharedBatch) -> None:
        """Queue every element of `batch`, each as `offer` would (latest wins).

        One wake-up for the lot. An empty mailbox just keeps the batch, and
        so does one holding only an older batch of no other tickers (all of
        which it overwrites: counted as conflated). Otherwise one dict update,
        and what it overwrote is counted (size before + offered - size after).
        """
        shared = self._shared
        if shared is None and not self._prices:
            self._shared = batch
            self.waiting_since = time.monotonic()
        elif shared is not None and (shared.keys is batch.keys or shared.keys <= batch.keys):
            self._conflated += len(shared.keys)
            self._shared = batch
        else:
            self._own()
            prices = self._prices
            before = len(prices)
            prices.update(batch.elements)
            self._conflated += before + len(batch.keys) - len(prices)
        self._notify()

    def _notify(self) -> None:
        """Wake the send loop if it waits (a bare future: one stream, one waiter)."""
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _own(self) -> None:
        """Turn a kept shared batch, if any, into this mailbox's own pending prices."""
        if self._shared is not None:
            self._prices.update(self._shared.elements)
            self._shared = None

    def push(self, frame: bytes) -> None:
        """Queue a control frame; ends the stream when too many, or too many bytes, wait."""
        if (
            len(self._controls) >= self._max_controls
            or self._control_bytes + len(frame) > self._max_control_bytes
        ):
            self.end(
                StreamEnded(
                    EndReason.OVERFLOW,
                    f"more than {self._max_controls} answers or {self._max_control_bytes} bytes "
                    "of them are waiting to be read: the client sends requests faster than it "
                    "reads the stream",
                )
            )
            return
        self._controls.append(frame)
        self._control_bytes += len(frame)
        self._notify()

    def offer_candle(self, key: tuple[str, int, int], frame: bytes) -> None:
        """Queue a candle frame, replacing a pending one of the same bar (a newer state of it).

        Bars of other starts queue beside it; as with control frames, a
        client that lets more than `max_controls` pile up is ended.
        """
        candles = self._candles
        if key not in candles and len(candles) >= self._max_controls:
            self.end(
                StreamEnded(
                    EndReason.OVERFLOW,
                    f"more than {self._max_controls} candles are waiting to be read: "
                    "the client reads the stream slower than its bars close",
                )
            )
            return
        candles[key] = frame
        self._notify()

    def end(self, error: StreamEnded) -> None:
        """Make the send loop raise `error` at its next turn (first reason wins)."""
        if self._ended is None:
            self._ended = error
        self._notify()

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
        if not (self._prices or self._shared or self._controls or self._candles or self._ended):
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            try:
                if max_wait is None:  # no timer to arm and cancel: the common case
                    await waiter
                else:
                    async with asyncio.timeout(max_wait):
                        await waiter
            except TimeoutError:
                return []
            finally:
                self._waiter = None
        if self._ended is not None:
            raise self._ended
        if self._controls:
            frames = list(self._controls)
            self._controls.clear()
            self._control_bytes = 0
            if self._prices or self._shared:
                frames.extend(self._drain_prices())
        elif self._prices or self._shared:
            frames = self._drain_prices()  # a list of its own: the common case
        else:
            frames = []
        if self._candles:
            frames.extend(self._candles.values())
            self._candles.clear()
        return frames

    def _drain_prices(self) -> list[bytes]:
        conflated, self._conflated = self._conflated, 0
        self._conflated_sent += conflated
        shared, self._shared = self._shared, None
        if shared is not None:
            self.drained += len(shared.keys)
            return shared.frames(conflated, self._max_frame_bytes)
        elements = list(self._prices.values())
        self.drained += len(elements)
        self._prices.clear()
        return codec.prices_frames(elements, conflated, self._max_frame_bytes)
