"""CachedPrice: the cache's entry for one ticker, encoded at most once for every subscriber."""

from __future__ import annotations

from tickwire.v1 import market_data_pb2 as pb
from tickwire_server.codec.elements import Encoder, update_element
from tickwire_server.domain import Quote


class CachedPrice:
    """The latest update of one ticker, encoded at most once for every subscriber.

    `element` is the update encoded as a `PriceBatch.updates` element; `update`
    is the same as a message (state LIVE, or STALE once the source said it is
    no longer refreshed). The cache's hot path keeps only the quote and the
    price it moved from: the element is encoded on first read (by the
    cache's `Encoder`), so a price replaced before any stream takes it is
    never encoded at all, and the message is decoded from the element only
    when someone asks for it. The snapshot encoding is made on first use.
    Entries are safe to read from any thread: two first reads at once may
    both encode, to the same bytes.
    """

    __slots__ = (
        "ticker",
        "price",
        "sequence",
        "quote",
        "_previous_price",
        "_encoder",
        "_element",
        "_update",
        "_snapshot",
    )

    def __init__(
        self,
        quote: Quote,
        price: float,
        previous_price: float,
        sequence: int,
        encoder: Encoder,
        element: bytes | None = None,
    ) -> None:
        """A LIVE entry for `quote` (price `price`), moved from `previous_price`.

        `element` is its encoding when already made (else `encoder` makes it on first read).
        """
        self.ticker = quote.ticker
        self.price = price
        self.sequence = sequence
        self.quote: Quote | None = quote  # None for an entry built from a message
        self._previous_price = previous_price
        self._encoder: Encoder | None = encoder
        self._element = element
        self._update: pb.PriceUpdate | None = None
        self._snapshot: bytes | None = None

    @classmethod
    def of(cls, update: pb.PriceUpdate, element: bytes | None = None) -> CachedPrice:
        """An entry holding `update` as it is (any state), with its `element` if already encoded."""
        entry = cls.__new__(cls)
        entry.ticker = update.ticker
        entry.price = update.price
        entry.sequence = update.sequence
        entry.quote = None
        entry._previous_price = update.previous_price
        entry._encoder = None
        entry._element = update_element(update) if element is None else element
        entry._update = update
        entry._snapshot = None
        return entry

    @property
    def element(self) -> bytes:
        """The update as one `PriceBatch.updates` element (encoded on first read)."""
        element = self._element
        if element is None:
            # Only live entries are built without an element, and they have both.
            assert self.quote is not None and self._encoder is not None
            element = self._encoder.live_element(self.quote, self._previous_price, self.sequence)
            self._element = element
        return element

    @property
    def update(self) -> pb.PriceUpdate:
        """The update as a message (decoded from `element` on first use; do not mutate)."""
        if self._update is None:
            self._update = pb.PriceBatch.FromString(self.element).updates[0]
        return self._update

    @property
    def stale(self) -> bool:
        """True when the source stopped refreshing this price."""
        return self.quote is None and self.update.state == pb.DATA_STATE_STALE

    def snapshot_element(self) -> bytes:
        """The update flagged DATA_STATE_SNAPSHOT (STALE if stale), encoded as a batch element."""
        if self.stale:
            return self.element
        if self._snapshot is None:
            self._snapshot = update_element(self.as_state(pb.DATA_STATE_SNAPSHOT))
        return self._snapshot

    def snapshot_update(self) -> pb.PriceUpdate:
        """A copy of the update for a snapshot read: state SNAPSHOT, or STALE if stale."""
        return self.as_state(pb.DATA_STATE_STALE if self.stale else pb.DATA_STATE_SNAPSHOT)

    def as_state(self, state: pb.DataState) -> pb.PriceUpdate:
        """A copy of the update with another data state."""
        copy = pb.PriceUpdate()
        copy.CopyFrom(self.update)
        copy.state = state
        return copy

    def __repr__(self) -> str:
        return f"CachedPrice({self.ticker!r}, {self.price!r}, sequence={self.sequence})"
