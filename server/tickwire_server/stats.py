"""ServerStats: what the server counts as it goes, in plain numbers cheap to add to.

Added to once per batch or per flush, never per update; `metrics` exports
them when a scrape asks. `lag` is a histogram only while metrics are served.
"""

from __future__ import annotations

import collections
import random
from dataclasses import dataclass, field
from typing import Protocol

from tickwire_server.errors import EndReason

# Why a stream ended, as `tickwire_streams_ended_total{reason}` names it.
END_REASONS = {
    None: "client",
    EndReason.SHUTDOWN: "shutdown",
    EndReason.DROPPED: "dropped",
    EndReason.LAGGING: "lagging",
    EndReason.STALLED: "stalled",
    EndReason.EXPIRED: "token_expired",
    EndReason.OVERFLOW: "limit",
    EndReason.BAD_REQUEST: "error",
    EndReason.INTERNAL: "error",
}
# Why the server closed a connection, as `tickwire_connections_closed_total{reason}` names it.
CONNECTION_CLOSE_REASONS = ("stalled", "rapid_reset")
LAG_SAMPLE = 1 / 16  # share of flushes whose delivery lag is observed


class Observes(Protocol):
    def observe(self, amount: float) -> None: ...


@dataclass
class ServerStats:
    """What the server counts as it goes: plain numbers, cheap to add to."""

    streams_open: collections.Counter[str] = field(default_factory=collections.Counter)
    streams_opened: int = 0
    streams_ended: collections.Counter[str] = field(default_factory=collections.Counter)
    updates_accepted: int = 0
    updates_sent: int = 0
    updates_conflated: int = 0
    frames_sent: int = 0
    bytes_sent: int = 0
    requests_rejected: collections.Counter[str] = field(default_factory=collections.Counter)
    connections_closed: collections.Counter[str] = field(default_factory=collections.Counter)
    lag: Observes | None = None  # a histogram, while metrics are exported

    def opened(self, rpc: str) -> None:
        self.streams_open[rpc] += 1
        self.streams_opened += 1

    def ended(self, rpc: str, reason: EndReason | None) -> None:
        self.streams_open[rpc] -= 1
        self.streams_ended[END_REASONS[reason]] += 1

    def sample_lag(self, seconds: float) -> None:
        """Observe one flush's delivery lag, for about `LAG_SAMPLE` of the calls."""
        if self.lag is not None and random.random() < LAG_SAMPLE:
            self.lag.observe(seconds)
