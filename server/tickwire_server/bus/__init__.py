"""Scale-out over NATS: one ingest holds the upstream, many edges hold the clients.

- `wire`: subjects, buckets and the contract's messages on them;
- `link`: the NATS connection, which comes back by itself;
- `leader`: which ingest leads, as a lease in a key-value bucket;
- `ingest`: publishes what the ingest's hub accepts, holds what edges want;
- `edge`: the edge's price source, and the calls it forwards to the ingest.
"""

from tickwire_server.bus.edge import BusSource, Dropper, Forwarder
from tickwire_server.bus.ingest import IngestBus
from tickwire_server.bus.link import Link
from tickwire_server.bus.wire import (
    INGEST_BUCKET,
    INTEREST_BUCKET,
    LEADER_BUCKET,
    PRICES_BUCKET,
    Shards,
    node_key,
)

__all__ = [
    "INGEST_BUCKET",
    "INTEREST_BUCKET",
    "LEADER_BUCKET",
    "PRICES_BUCKET",
    "BusSource",
    "Dropper",
    "Forwarder",
    "IngestBus",
    "Link",
    "Shards",
    "node_key",
]
