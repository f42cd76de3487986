"""The edge's side of the bus: a price source fed by the ingest, and calls forwarded to it.

`BusSource` is the edge hub's source. The hub asks it for a ticker when
the ticker's first client on this edge arrives, as it asks any source;
the source subscribes to the ticker's shard, reads the shard's latest
prices from the bucket (after subscribing, so nothing falls between), and
tells the ingest, which holds the union of every edge's tickers upstream.
Prices keep the ingest's sequence numbers.

When the ingest goes silent for `stale_after` (a leader dying, NATS away)
the edge marks its prices stale and says so in the source state; the next
price from the new leader makes each live again, with no client
reconnecting. Cut off from NATS for `outage_limit`, the edge reports
ERROR, so its health turns NOT_SERVING and a load balancer moves clients away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf.message import DecodeError
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from tickwire.v1 import market_data_pb2 as pb
from tickwire.v1 import scenario_pb2 as spb
from tickwire_server.bus import wire
from tickwire_server.bus.leases import claim, renewing
from tickwire_server.bus.link import Link
from tickwire_server.codec import CachedPrice
from tickwire_server.domain import MarketState, SourceState, SourceStatus, TickerMeta
from tickwire_server.gate import StreamGate
from tickwire_server.hub import Hub, LoopSink
from tickwire_server.scenario.controls import drop_streams
from tickwire_server.sources.base import PriceSink
from tickwire_server.tasks import cancel

log = logging.getLogger(__name__)

WATCH_EVERY = 0.25  # seconds between two looks at the ingest's silence
PENDING_MESSAGES = 10_000  # per shard subscription
PENDING_BYTES = 16 << 20


class BusSource:
    """Prices from the ingest over NATS (see the module's docstring).

    Args:
        link: the NATS connection.
        shards: how tickers map to subjects (the ingest's setting).
        node: this edge's key on the bus.
        interest_lease: seconds the ingest keeps our tickers after our last word.
        stale_after: seconds of ingest silence after which prices are stale.
        outage_limit: seconds cut off from NATS after which the edge says ERROR.
    """

    name = "bus"

    def __init__(
        self,
        link: Link,
        shards: wire.Shards,
        *,
        node: str,
        interest_lease: float,
        stale_after: float,
        outage_limit: float,
    ) -> None:
        self.link = link
        self.shards = shards
        self.node = node
        self.interest_lease = interest_lease
        self.stale_after = stale_after
        self.outage_limit = outage_limit
        self._sink: LoopSink | None = None
        self._wanted: set[str] = set()
        self._by_shard: dict[str, set[str]] = {}
        self._subs: dict[str, Subscription] = {}
        self._to_read: set[str] = set()  # shards whose latest prices are still to read
        self._ingest = SourceStatus(
            "bus", MarketState.CLOSED, SourceState.STARTING, "waiting for the ingest"
        )
        self._status = self._ingest
        self._universe: list[TickerMeta] = []
        self._heard = 0.0  # monotonic time of the ingest's last message
        self._stale = False
        self._changed = asyncio.Event()
        self._said: frozenset[str] | None = None  # what the ingest was last told
        self._tasks: list[asyncio.Task[None]] = []
        self._fixed: list[Subscription] = []
        self._arrived: list[CachedPrice] = []  # live prices read this loop turn

    # PriceSource --------------------------------------------------------------

    async def start(self, sink: PriceSink) -> None:
        assert isinstance(sink, LoopSink), "an edge's source needs the hub's own sink"
        self._sink = sink
        self.link.on_up(self._up)
        self.link.on_down(self._down)
        self._tasks = [
            asyncio.create_task(self._watch(), name="bus-watch"),
            asyncio.create_task(
                renewing(self.link, self._changed, self.interest_lease, self._say),
                name="bus-interest",
            ),
        ]
        await self.link.start(first_wait=2.0)

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        await cancel(*tasks)
        nc = self.link.nc
        if nc is not None and self.link.connected:  # leave at once, not after the lease
            with contextlib.suppress(Exception):
                await nc.publish(f"{wire.INTEREST}.{self.node}", wire.tickers_message(()))
                await self.link.kv[wire.INTEREST_BUCKET].delete(self.node)
        await self.link.close()
        self._set(SourceStatus("bus", self._ingest.market, SourceState.STOPPED))

    def add_ticker(self, ticker: str) -> None:
        if ticker in self._wanted:
            return
        self._wanted.add(ticker)
        shard = self.shards.of(ticker)
        self._by_shard.setdefault(shard, set()).add(ticker)
        self._to_read.add(shard)
        self._changed.set()

    def remove_ticker(self, ticker: str) -> bool:
        if ticker not in self._wanted:
            return True
        self._wanted.discard(ticker)
        shard = self.shards.of(ticker)
        tickers = self._by_shard.get(shard)
        if tickers is not None:
            tickers.discard(ticker)
            if not tickers:
                del self._by_shard[shard]
        self._changed.set()
        return True

    def knows(self, ticker: str) -> bool:
        """True: the ingest's source rejects what it does not know, and the edge passes it on."""
        return True

    def tickers(self) -> list[TickerMeta]:
        return list(self._universe)

    def status(self) -> SourceStatus:
        return self._status

    async def peek(self, tickers: Sequence[str] | None) -> dict[str, CachedPrice]:
        """The bucket's latest prices of `tickers` (None: all), for GetSnapshot; not cached.

        A ticker no client of this edge watches has no price in the edge's
        cache, but the ingest may have one.
        """
        shards = None if tickers is None else {self.shards.of(t) for t in tickers}
        names = None if tickers is None else set(tickers)
        out: dict[str, CachedPrice] = {}
        for value in (await self.link.values(wire.PRICES_BUCKET, shards)).values():
            for price in wire.entries(value):
                if names is None or price.ticker in names:
                    out[price.ticker] = price
        return out

    # The bus -------------------------------------------------------------------

    async def _up(self) -> None:
        nc = self.link.nc
        assert nc is not None
        if not self._fixed:  # the client renews subscriptions after a reconnect
            self._fixed = [
                await nc.subscribe(wire.STATUS, cb=self._on_status),
                await nc.subscribe(wire.REJECTS, cb=self._on_rejects),
                await nc.subscribe(wire.UNIVERSE, cb=self._on_universe),
            ]
        await self._read_ingest()
        self._to_read.update(self._by_shard)  # what was missed while away
        self._changed.set()

    def _down(self) -> None:
        self._changed.set()

    async def _read_ingest(self) -> None:
        said = await self.link.values(wire.INGEST_BUCKET, ("universe", "status"))
        with contextlib.suppress(DecodeError):
            if "universe" in said:
                self._take_universe(said["universe"])
            if "status" in said and not self._heard:
                self._ingest = wire.status_of(said["status"])

    def _take_universe(self, data: bytes) -> None:
        response = pb.ListTickersResponse.FromString(data)
        self._universe = [
            TickerMeta(t.ticker, t.name, t.sector, t.seed_price, t.active) for t in response.tickers
        ]

    async def _on_status(self, msg: Msg) -> None:
        try:
            status = wire.status_of(msg.data)
        except Exception:
            return
        self._heard = time.monotonic()
        self._ingest = status
        self._refresh()

    async def _on_universe(self, msg: Msg) -> None:
        with contextlib.suppress(Exception):
            self._take_universe(msg.data)

    async def _on_rejects(self, msg: Msg) -> None:
        tickers, reason = wire.rejects_of(msg.data)
        mine = [t for t in tickers if t in self._wanted]
        if mine and self._sink is not None:
            self._sink.reject(mine, reason)

    async def _on_prices(self, msg: Msg) -> None:
        self._heard = time.monotonic()
        self._take(msg.data)
        if self._stale:
            self._refresh()

    def _take(self, data: bytes, snapshot: bool = False) -> None:
        try:
            entries = wire.entries(data)
        except Exception as exc:
            log.warning("bus: a malformed price batch (%s)", exc)
            return
        wanted = self._wanted
        mine = [e for e in entries if e.ticker in wanted]
        if not mine or self._sink is None:
            return
        if snapshot:
            self._sink.accept(mine, snapshot)
            return
        # The shards of one source batch arrive as several messages, read in
        # one go: they reach the hub as one batch, so each stream gets one
        # offer (and one frame) for them, as on a standalone server.
        if not self._arrived:
            asyncio.get_running_loop().call_soon(self._hand_over)
        self._arrived.extend(mine)

    def _hand_over(self) -> None:
        arrived, self._arrived = self._arrived, []
        if arrived and self._sink is not None:
            self._sink.accept(arrived)

    # Keeping up ------------------------------------------------------------------

    async def _say(self, renew: bool) -> None:
        """Follow the shards, tell the ingest what is wanted (when it changed or is due), read."""
        await self._follow_shards()
        wanted = frozenset(self._wanted)
        if wanted != self._said or renew:
            data = wire.tickers_message(wanted)
            await claim(self.link, f"{wire.INTEREST}.{self.node}", self.node, data)
            self._said = wanted
        await self._read_shards()

    async def _follow_shards(self) -> None:
        nc = self.link.nc
        assert nc is not None
        for shard in list(self._subs):
            if shard not in self._by_shard:
                await self._subs.pop(shard).unsubscribe()
        added = False
        for shard in list(self._by_shard):
            if shard not in self._subs:
                self._subs[shard] = await nc.subscribe(
                    self.shards.subject(shard),
                    cb=self._on_prices,
                    # What may wait for this edge per shard: past it NATS' client drops
                    # (counted), so an edge that falls behind holds bounded memory.
                    pending_msgs_limit=PENDING_MESSAGES,
                    pending_bytes_limit=PENDING_BYTES,
                )
                added = True
        if added:
            await nc.flush()  # subscribed at the server before the bucket is read

    async def _read_shards(self) -> None:
        shards, self._to_read = self._to_read, set()
        wanted = [shard for shard in shards if shard in self._by_shard]
        # A shard with nothing there yet gets its first price live.
        for value in (await self.link.values(wire.PRICES_BUCKET, wanted)).values():
            self._take(value, snapshot=True)

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(WATCH_EVERY)
            self._refresh()

    def _refresh(self) -> None:
        """Work out the state clients see from the link and the ingest's last word."""
        now = time.monotonic()
        down = self.link.down_for()
        silent = now - self._heard if self._heard else 0.0
        ingest = self._ingest
        if down >= self.outage_limit:
            status = SourceStatus(
                ingest.source, ingest.market, SourceState.ERROR,
                f"cut off from the bus for over {self.outage_limit:g} s",
            )  # fmt: skip
        elif down > 0.0 or silent >= self.stale_after:
            why = (
                "bus connection lost"
                if down > 0.0
                else f"no word from the ingest for over {self.stale_after:g} s"
            )
            status = SourceStatus(ingest.source, ingest.market, SourceState.DEGRADED, why)
        else:
            status = ingest
        stale = status.state is not SourceState.HEALTHY and (
            down > 0.0 or silent >= self.stale_after
        )
        if stale and not self._stale and self._sink is not None:
            self._sink.mark_stale(sorted(self._wanted))
        self._stale = stale
        self._set(status)

    def _set(self, status: SourceStatus) -> None:
        if status.same_as(self._status):
            return
        self._status = status
        if self._sink is not None:
            self._sink.set_status(status)


class Dropper:
    """An edge's part of `ScenarioControl.DropStreams`: the leader asks, every edge drops."""

    def __init__(self, link: Link, hub: Hub, gate: StreamGate) -> None:
        self.link = link
        self.hub = hub
        self.gate = gate
        self._sub: Subscription | None = None

    def start(self) -> None:
        self.link.on_up(self._up)

    async def _up(self) -> None:
        nc = self.link.nc
        assert nc is not None
        if self._sub is None:
            self._sub = await nc.subscribe(wire.DROP, cb=self._drop)

    async def _drop(self, msg: Msg) -> None:
        try:
            request = spb.DropStreamsRequest.FromString(msg.data)
        except Exception:
            return
        # The leader checked the request before it asked every edge.
        refuse_for = request.refuse_for.ToTimedelta().total_seconds()
        dropped = drop_streams(self.hub, self.gate, refuse_for, request.principal)
        if msg.reply and self.link.nc is not None:
            with contextlib.suppress(Exception):
                answer = spb.DropStreamsResponse(dropped=dropped).SerializeToString()
                await self.link.nc.publish(msg.reply, answer)


if TYPE_CHECKING:
    _Handler = grpc.GenericRpcHandler[bytes, bytes]
else:
    _Handler = grpc.GenericRpcHandler  # not subscriptable at run time

# Forwarded to the leading ingest: the control plane and the candle history.
_SCENARIO = spb.DESCRIPTOR.services_by_name["ScenarioControl"]
FORWARDED = frozenset(
    [f"/{_SCENARIO.full_name}/{m.name}" for m in _SCENARIO.methods if not m.server_streaming]
    + [f"/{pb.DESCRIPTOR.package}.MarketData/GetCandles"]
)


class Forwarder(_Handler):
    """Serves the forwarded unary methods by a NATS request to the leader.

    The answer's status comes back as is: the ingest's INVALID_ARGUMENT
    reaches the client as INVALID_ARGUMENT. No leader answering within the
    timeout is UNAVAILABLE, which clients retry.
    """

    def __init__(self, link: Link, timeout: float = 10.0) -> None:
        self.link = link
        self.timeout = timeout
        self._handlers = {
            method: grpc.unary_unary_rpc_method_handler(self._call(method)) for method in FORWARDED
        }

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler[Any, Any] | None:
        return self._handlers.get(details.method)

    def _call(self, method: str) -> Any:
        subject = wire.rpc_subject(method)

        async def forward(request: bytes, context: Any) -> bytes:
            nc = self.link.nc
            if nc is None or not self.link.connected:
                await context.abort(
                    grpc.StatusCode.UNAVAILABLE, "this edge is cut off from the bus"
                )
            assert nc is not None
            try:
                reply = await nc.request(
                    subject, request, timeout=self.timeout, headers={wire.METHOD_HEADER: method}
                )
            except Exception as exc:  # NoRespondersError, TimeoutError
                await context.abort(
                    grpc.StatusCode.UNAVAILABLE,
                    f"no ingest leader answered {method} ({exc.__class__.__name__})",
                )
                raise
            headers = reply.headers or {}
            code = headers.get(wire.CODE_HEADER)
            if code:
                status = getattr(grpc.StatusCode, code, grpc.StatusCode.UNKNOWN)
                await context.abort(status, headers.get(wire.MESSAGE_HEADER, ""))
            return bytes(reply.data)

        return forward
