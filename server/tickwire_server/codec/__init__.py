"""The protobuf codec: domain types to tickwire.v1 messages, and pre-encoded frames.

Encode once: a price update is serialised once, as an element of the
repeated field `PriceBatch.updates`. A repeated field's wire form is the
concatenation of its elements, so a batch for any subscriber is the join of
the elements it has pending, and a `SubscribeResponse` frame is that batch
behind one more tag and length. Nothing here is per subscriber.

- `elements`: the hand-written element encoder (`Encoder`), its field tags
  (checked against the generated descriptors at import) and varints;
- `entry`: `CachedPrice`, the cache's lazily encoded entry;
- `columns`: a `PriceBlock`'s rows encoded together with array operations
  (`ColumnBatch`, the cache's batch of a block);
- `frames`: price frames (split to a size limit), `SharedBatch`, and the
  control frames (acks, heartbeats, market status);
- `messages`: domain types as generated messages, for the unary methods.
"""

from tickwire_server.codec.columns import ColumnBatch, TickerFields
from tickwire_server.codec.elements import Encoder, update_element, varint
from tickwire_server.codec.entry import CachedPrice
from tickwire_server.codec.frames import (
    Encoded,
    SharedBatch,
    ack_frame,
    heartbeat_frame,
    market_status_frame,
    prices_frame,
    prices_frames,
)
from tickwire_server.codec.messages import (
    MARKET_STATES,
    SOURCE_STATES,
    TICKER_STATUSES,
    market_status,
    ticker_info,
    ticker_results,
    timestamp,
)

__all__ = [
    "MARKET_STATES",
    "SOURCE_STATES",
    "TICKER_STATUSES",
    "CachedPrice",
    "ColumnBatch",
    "Encoded",
    "Encoder",
    "SharedBatch",
    "TickerFields",
    "ack_frame",
    "heartbeat_frame",
    "market_status",
    "market_status_frame",
    "prices_frame",
    "prices_frames",
    "ticker_info",
    "ticker_results",
    "timestamp",
    "update_element",
    "varint",
]
