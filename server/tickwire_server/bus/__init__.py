"""Scale-out over NATS: one ingest holds the upstream, many edges hold the clients.

- `wire`: subjects, buckets and the contract's messages on them;
- `link`: the NATS connection, which comes back by itself;
- `leader`: which ingest leads, as a lease in a key-value bucket;
- `leases`: what each edge wants, claimed and renewed within a lease;
- `ingest`: publishes what the ingest's hub accepts, holds what edges want;
- `edge`: the edge's price source, and the calls it forwards to the ingest;
- `candles`: the edges' live bars, from the leader's book.
"""

from tickwire_server.bus.edge import BusSource, Dropper, Forwarder
from tickwire_server.bus.ingest import IngestBus
from tickwire_server.bus.link import Link
from tickwire_server.bus.wire import Shards, node_key

__all__ = [
    "BusSource",
    "Dropper",
    "Forwarder",
    "IngestBus",
    "Link",
    "Shards",
    "node_key",
]
