"""Plain types of the client: ticker results, states, statistics, backoff, stream options."""

from __future__ import annotations

import enum
import ipaddress
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from tickwire.v1 import market_data_pb2 as pb


class TickerStatus(enum.Enum):
    """The outcome for one ticker of a request."""

    OK = "ok"
    INVALID_SYMBOL = "invalid symbol"
    UNKNOWN_TICKER = "unknown ticker"
    LIMIT_EXCEEDED = "limit exceeded"
    NOT_SUBSCRIBED = "not subscribed"
    NO_DATA = "no data"
    RATE_LIMITED = "rate limited"
    UNSPECIFIED = "unspecified"

    @classmethod
    def from_proto(cls, value: int) -> TickerStatus:
        return _STATUS_FROM_PROTO.get(int(value), cls.UNSPECIFIED)


_STATUS_FROM_PROTO: dict[int, TickerStatus] = {
    pb.TICKER_STATUS_OK: TickerStatus.OK,
    pb.TICKER_STATUS_INVALID_SYMBOL: TickerStatus.INVALID_SYMBOL,
    pb.TICKER_STATUS_UNKNOWN_TICKER: TickerStatus.UNKNOWN_TICKER,
    pb.TICKER_STATUS_LIMIT_EXCEEDED: TickerStatus.LIMIT_EXCEEDED,
    pb.TICKER_STATUS_NOT_SUBSCRIBED: TickerStatus.NOT_SUBSCRIBED,
    pb.TICKER_STATUS_NO_DATA: TickerStatus.NO_DATA,
    pb.TICKER_STATUS_RATE_LIMITED: TickerStatus.RATE_LIMITED,
}


@dataclass(frozen=True, slots=True)
class TickerResult:
    """The server's answer for one requested ticker."""

    ticker: str
    status: TickerStatus
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status is TickerStatus.OK

    @classmethod
    def from_proto(cls, result: pb.TickerResult) -> TickerResult:
        return cls(result.ticker, TickerStatus.from_proto(result.status), result.message)


class HasTarget(Protocol):
    """Anything that names a server address, such as a `tickwire_server.testing` server."""

    @property
    def target(self) -> str: ...


Target = str | HasTarget | Sequence[str]


def target_of(target: Target) -> str:
    """The address string of a target.

    Several servers that serve the same prices (the edges of a cluster) are
    one target: a list of "HOST:PORT", or those joined by commas. They
    become gRPC's own address list ("ipv4:A:P,B:Q"), which the channel
    balances round robin and leaves when one stops answering: a stream cut
    by a dead server reconnects to another.

    Raises:
        ValueError: a target of a list is not an IP address (or localhost) and a port.
    """
    if isinstance(target, str):
        parts = [p.strip() for p in target.split(",") if p.strip()]
        if len(parts) <= 1:
            return target
    elif isinstance(target, Sequence):
        parts = [str(p).strip() for p in target]
        if not parts:
            raise ValueError("an empty list of targets")
        if len(parts) == 1:
            return parts[0]
    else:
        return target.target
    return _address_list(parts)


def _address_list(parts: list[str]) -> str:
    families: set[int] = set()
    out: list[str] = []
    for part in parts:
        host, sep, port = part.rpartition(":")
        host = host.strip("[]")
        if not sep or not port.isdigit() or not host:
            raise ValueError(f"target {part!r} of a list: write HOST:PORT")
        if host == "localhost":
            host = "127.0.0.1"
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            raise ValueError(
                f"target {part!r} of a list: give IP addresses (a name with several addresses "
                "is one target: dns:///NAME:PORT)"
            ) from None
        families.add(ip.version)
        out.append(f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}")
    if len(families) > 1:
        raise ValueError("a list of targets is all IPv4 or all IPv6")
    return f"ipv{families.pop()}:{','.join(out)}"


def is_address_list(target: str) -> bool:
    """True for a target `target_of` made of several servers."""
    return target.startswith(("ipv4:", "ipv6:")) and "," in target


class ConnectionState(enum.Enum):
    """Where a subscription's stream stands."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class StateChange:
    """One change of connection state.

    Attributes:
        state: the new state.
        attempt: reconnect attempts since the last healthy period (0 when connected).
        delay: seconds the client waits before the next attempt (RECONNECTING only).
        reason: why the stream was lost, when it was.
    """

    state: ConnectionState
    attempt: int = 0
    delay: float = 0.0
    reason: str = ""


StateCallback = Callable[[StateChange], None]


@dataclass(slots=True)
class StreamStats:
    """Counters of one subscription, for display and monitoring.

    `gaps` counts sequence jumps (updates the server conflated or that were
    missed while disconnected); `missed` the updates those jumps skipped.
    `conflated` counts updates replaced before delivery, by the server (as
    it reports in each batch) and by this client when the caller lags.
    """

    updates: int = 0
    batches: int = 0
    gaps: int = 0
    missed: int = 0
    conflated: int = 0
    reconnects: int = 0
    heartbeats: int = 0
    last_message_at: float = field(default_factory=time.monotonic)


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with jitter for reconnects.

    The n-th consecutive failure waits min(maximum, initial * multiplier**n),
    spread by ±jitter of itself. After `reset_after` seconds of a healthy
    stream the count starts again from zero.
    """

    initial: float = 0.25
    maximum: float = 15.0
    multiplier: float = 2.0
    jitter: float = 0.2
    reset_after: float = 30.0

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before reconnect attempt number `attempt` (0-based)."""
        base = min(self.maximum, self.initial * self.multiplier ** min(attempt, 64))
        spread = (rng or random).uniform(-self.jitter, self.jitter)
        return max(0.0, base * (1.0 + spread))


@dataclass(frozen=True, slots=True)
class StreamOptions:
    """How a subscription keeps its stream, fixed when the `Client` is made.

    Attributes:
        timeout: seconds an add/remove may wait for its answer.
        backoff: reconnect pacing.
        heartbeat_timeout: seconds of silence after which a stream counts as dead.
        max_reconnects: failed reconnects in a row before giving up (None: never).
        on_state: called with every `StateChange` (a subscription's own wins).
    """

    timeout: float = 10.0
    backoff: Backoff = field(default_factory=Backoff)
    heartbeat_timeout: float = 20.0
    max_reconnects: int | None = None
    on_state: StateCallback | None = None
