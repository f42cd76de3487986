"""The ingest's side of the bus: publish what the hub accepts, hold what edges want, lead.

Only the leader runs the source and publishes. A standby mirrors the
leader's prices into its own cache, so that when it takes over, its
sequence numbers go on from the leader's (and the simulator from the
leader's prices): a client sees no regression and no false gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import grpc
from google.protobuf.message import DecodeError
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from tickwire.v1 import candles_pb2 as cpb
from tickwire.v1 import market_data_pb2 as pb
from tickwire.v1 import scenario_pb2 as spb
from tickwire_server import codec
from tickwire_server.bus import wire
from tickwire_server.bus.candles import CandleRelay
from tickwire_server.bus.leader import Leadership
from tickwire_server.bus.leases import Leases
from tickwire_server.bus.link import Link
from tickwire_server.cache import PriceCache
from tickwire_server.codec import CachedPrice
from tickwire_server.domain import SourceStatus
from tickwire_server.hub import Hub
from tickwire_server.sources.base import PriceSource
from tickwire_server.subscriber import Subscriber
from tickwire_server.tasks import cancel

log = logging.getLogger(__name__)

HEARTBEAT = 1.0  # seconds between two status messages while nothing changes
DROP_WAIT = 2.0  # seconds a forwarded DropStreams waits for the edges' counts


class IngestBus:
    """Publishes the hub's prices and status, and holds the union of the edges' tickers.

    Args:
        link: the NATS connection.
        hub, cache, source: the ingest's own.
        shards: how tickers map to price subjects.
        leadership: who leads (its callbacks are this object's).
        interest_lease: seconds an edge's tickers outlive its last renewal.
        handlers: the gRPC method handlers forwarded calls are served by.
        start_source: starts the source (the server's, with its sink).
    """

    def __init__(
        self,
        link: Link,
        hub: Hub,
        cache: PriceCache,
        source: PriceSource,
        shards: wire.Shards,
        *,
        name: str,
        lease: float,
        interest_lease: float,
        handlers: Sequence[grpc.GenericRpcHandler[Any, Any]],
        start_source: Callable[[], Awaitable[None]],
        relay: CandleRelay | None = None,
    ) -> None:
        self.link = link
        self.hub = hub
        self.cache = cache
        self.source = source
        self.shards = shards
        self.leadership = Leadership(link, name, lease, self._gained, self._lost)
        # The edges' tickers, held upstream while this ingest leads.
        self.interest: Leases[str] = Leases(interest_lease, self._hold, "edge")
        self._holders: dict[str, Subscriber] = {}  # per edge, what holds its tickers in the hub
        self._handlers = handlers
        self._start_source = start_source
        self.relay = relay  # the edges' live candles, from this ingest's book
        self._latest: dict[str, dict[str, bytes]] = defaultdict(dict)  # shard -> ticker -> element
        self._queue: list[tuple[str, list[CachedPrice]]] = []
        self._wake = asyncio.Event()
        self._mirror: Subscription | None = None
        self._interest_sub: Subscription | None = None
        self._rpc: Subscription | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._universe = b""
        self._status: SourceStatus | None = None  # what the bucket holds
        self.published = 0
        self.dropped = 0
        hub.on_prices(self._prices)
        hub.on_status(self._status_changed)
        hub.on_reject(self._rejected)
        hub.on_forget(self._forgotten)

    def edges(self) -> dict[str, set[str]]:
        """The tickers each edge wants now (its lease running)."""
        return self.interest.claims()

    @property
    def leader(self) -> bool:
        return self.leadership.leader

    async def start(self) -> None:
        self.link.on_up(self._up)
        if self.relay is not None:
            await self.relay.start()
        await self.link.start()
        self._tasks = [
            asyncio.create_task(self._write_loop(), name="bus-writer"),
            asyncio.create_task(self._heartbeat_loop(), name="bus-heartbeat"),
            asyncio.create_task(self.interest.expire(), name="bus-interest"),
        ]
        self.leadership.start()

    async def stop(self) -> None:
        await self.leadership.stop()
        tasks, self._tasks = self._tasks, []
        await cancel(*tasks)
        if self.relay is not None:
            await self.relay.stop()
        await self.link.close()

    # What the hub accepts ---------------------------------------------------

    def _prices(self, entries: list[CachedPrice]) -> None:
        if not self.leader:
            return
        by_shard: dict[str, list[CachedPrice]] = {}
        shard_of = self.shards.of
        latest = self._latest
        for entry in entries:
            shard = shard_of(entry.ticker)
            group = by_shard.get(shard)
            if group is None:
                group = by_shard[shard] = []
            group.append(entry)
            latest[shard][entry.ticker] = entry.element
        self._queue.extend(by_shard.items())
        self._wake.set()

    async def _write_loop(self) -> None:
        """Per wake: the touched shards' latest into the bucket, then the live messages."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            queue, self._queue = self._queue, []
            nc = self.link.nc
            if nc is None or not self.link.connected:
                self.dropped += sum(len(group) for _, group in queue)
                continue  # edges go stale; the bucket is written anew once back
            try:
                prefix = f"$KV.{wire.PRICES_BUCKET}."
                for shard in {shard for shard, _ in queue}:
                    await nc.publish(prefix + shard, b"".join(self._latest[shard].values()))
                subject = self.shards.subject
                for shard, group in queue:
                    if group:
                        await nc.publish(subject(shard), wire.batch(group))
                        self.published += len(group)
            except Exception as exc:  # the link went down meanwhile
                log.debug("bus publish: %s", exc)

    def _status_changed(self, status: SourceStatus) -> None:
        if self.leader:
            asyncio.get_running_loop().create_task(self._say_status())

    def _rejected(self, tickers: Sequence[str], reason: str) -> None:
        if self.leader and self.link.nc is not None and self.link.connected:
            data = wire.rejects_message(tickers, reason)
            asyncio.get_running_loop().create_task(self.link.nc.publish(wire.REJECTS, data))

    def _forgotten(self, ticker: str) -> None:
        """The source let `ticker` go: its numbers start again, so its snapshot must go too."""
        self._latest[self.shards.of(ticker)].pop(ticker, None)

    async def _say_status(self) -> None:
        nc = self.link.nc
        if nc is None or not self.link.connected:
            return
        current = self.hub.status
        status = wire.status_message(current)
        universe = codec_universe(self.source)
        with contextlib.suppress(Exception):
            await nc.publish(wire.STATUS, status)
            if not current.same_as(self._status) or universe != self._universe:
                self._status, self._universe = current, universe
                await nc.publish(f"$KV.{wire.INGEST_BUCKET}.status", status)
                await nc.publish(f"$KV.{wire.INGEST_BUCKET}.universe", universe)
                await nc.publish(wire.UNIVERSE, universe)

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT)
            if self.leader:
                await self._say_status()

    # The link ----------------------------------------------------------------

    async def _up(self) -> None:
        nc = self.link.nc
        assert nc is not None
        if self._interest_sub is None:  # the client renews its subscriptions after a reconnect
            self._interest_sub = await nc.subscribe(f"{wire.INTEREST}.*", cb=self._interest)
        if self.leader:
            self._status, self._universe = None, b""  # the buckets may be new: say it all again
            self._queue.extend((shard, []) for shard in self._latest)
            self._wake.set()
            await self._say_status()
        elif self._mirror is None:
            await self._start_mirror()

    # Interest ------------------------------------------------------------------

    async def _interest(self, msg: Msg) -> None:
        edge = msg.subject.rsplit(".", 1)[-1]
        try:
            tickers = set(wire.tickers_of(msg.data))
        except Exception:
            log.warning("bus: a malformed interest message from %s", edge)
            return
        self.interest.want(edge, tickers)

    def _hold(self, edge: str, added: set[str], removed: set[str]) -> None:
        holder = self._holders.get(edge)
        if holder is None:
            holder = self._holders[edge] = Subscriber()
        for ticker in added:
            self.hub.hold(holder, ticker)
        for ticker in removed:
            self.hub.unhold(holder, ticker)

    async def _read_interest(self) -> None:
        """Every edge's tickers as the bucket holds them (a new leader's first view)."""
        for key, value in (await self.link.values(wire.INTEREST_BUCKET)).items():
            edge, dot, interval = key.partition(".c")
            with contextlib.suppress(Exception):  # a malformed value: the next renewal says it
                if not dot:
                    self.interest.want(key, set(wire.tickers_of(value)))
                elif self.relay is not None and interval.isdigit():
                    request = cpb.StreamCandlesRequest.FromString(value)
                    self.relay.want(edge, int(interval), set(request.tickers))

    # Leading -------------------------------------------------------------------

    async def _gained(self) -> None:
        if self._mirror is not None:
            with contextlib.suppress(Exception):
                await self._mirror.unsubscribe()
            self._mirror = None
        await self._load_prices()
        self.interest.activate()
        await self._read_interest()
        if self.relay is not None:
            self.relay.lead()
        resume = getattr(self.source, "resume", None)
        if resume is not None:
            resume({e.ticker: e.price for e in self.cache.snapshot()})
        nc = self.link.nc
        assert nc is not None
        self._rpc = await nc.subscribe(f"{wire.RPC}.>", cb=self._serve_call)
        await self._start_source()
        await self._say_status()

    async def _lost(self) -> None:
        if self._rpc is not None:
            with contextlib.suppress(Exception):
                await self._rpc.unsubscribe()
            self._rpc = None
        await self.source.stop()
        if self.relay is not None:
            self.relay.follow()
        self.interest.deactivate()
        if self.link.connected:
            await self._start_mirror()

    async def _start_mirror(self) -> None:
        """Follow the leader's prices, so that our sequences go on from its own."""
        nc = self.link.nc
        if nc is None:
            return
        self._mirror = await nc.subscribe(f"{wire.PRICES}.>", cb=self._mirrored)

    async def _mirrored(self, msg: Msg) -> None:
        if not self.leader:
            with contextlib.suppress(Exception):
                self.hub.accept(wire.entries(msg.data))

    async def _load_prices(self) -> None:
        """The bucket's latest prices into the cache (an ingest that starts after another)."""
        for value in (await self.link.values(wire.PRICES_BUCKET)).values():
            with contextlib.suppress(ValueError, DecodeError):
                self.hub.accept(wire.entries(value))

    # Forwarded calls ---------------------------------------------------------

    async def _serve_call(self, msg: Msg) -> None:
        method = (msg.headers or {}).get(wire.METHOD_HEADER, "")
        headers: dict[str, str] | None = None
        body = b""
        try:
            body = await serve_unary(self._handlers, method, msg.data)
            if method.endswith("/DropStreams"):  # the streams are the edges'
                body = await self._drop_on_edges(msg.data, body)
        except CallFailed as failed:
            headers = {wire.CODE_HEADER: failed.code.name, wire.MESSAGE_HEADER: failed.details}
        except Exception as exc:
            log.exception("forwarded %s failed", method)
            headers = {wire.CODE_HEADER: "INTERNAL", wire.MESSAGE_HEADER: str(exc)}
        if msg.reply and self.link.nc is not None:
            with contextlib.suppress(Exception):
                await self.link.nc.publish(msg.reply, body, headers=headers)

    async def _drop_on_edges(self, request: bytes, answer: bytes) -> bytes:
        """Have every edge drop its streams as asked; the answer with their counts added."""
        nc = self.link.nc
        dropped = spb.DropStreamsResponse.FromString(answer).dropped
        edges = len(self.edges())
        if nc is None or not edges:
            return answer
        inbox = nc.new_inbox()
        replies: asyncio.Queue[bytes] = asyncio.Queue()

        async def take(reply: Msg) -> None:
            replies.put_nowait(reply.data)

        sub = await nc.subscribe(inbox, cb=take)
        try:
            await nc.publish(wire.DROP, request, reply=inbox)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(DROP_WAIT):
                    for _ in range(edges):
                        dropped += spb.DropStreamsResponse.FromString(await replies.get()).dropped
        finally:
            await sub.unsubscribe()
        return spb.DropStreamsResponse(dropped=dropped).SerializeToString()


def codec_universe(source: PriceSource) -> bytes:
    """The source's universe as a `ListTickersResponse`."""
    return pb.ListTickersResponse(
        tickers=[codec.ticker_info(meta) for meta in source.tickers()]
    ).SerializeToString()


class CallFailed(Exception):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


class _Details:
    def __init__(self, method: str) -> None:
        self.method = method
        self.invocation_metadata: tuple[Any, ...] = ()


class _Context:
    """The part of a servicer context the unary methods use: `abort`."""

    async def abort(self, code: grpc.StatusCode, details: str = "") -> None:
        raise CallFailed(code, details)

    def peer(self) -> str:
        return "bus"

    def invocation_metadata(self) -> tuple[Any, ...]:
        return ()


async def serve_unary(
    handlers: Sequence[grpc.GenericRpcHandler[Any, Any]], method: str, data: bytes
) -> bytes:
    """Run the unary `method` on `data` with the server's own handlers; the response bytes.

    Raises:
        CallFailed: the method aborted, or no handler serves it.
    """
    for generic in handlers:
        handler = generic.service(_Details(method))  # type: ignore[arg-type]
        if handler is not None:
            break
    else:
        raise CallFailed(grpc.StatusCode.UNIMPLEMENTED, f"the ingest serves no {method}")
    if handler.unary_unary is None:
        raise CallFailed(grpc.StatusCode.UNIMPLEMENTED, f"{method} streams: not forwarded")
    request = handler.request_deserializer(data) if handler.request_deserializer else data
    response = await handler.unary_unary(request, _Context())  # type: ignore[arg-type]
    serialize = handler.response_serializer
    return bytes(serialize(response) if serialize is not None else response)
