"""The tickwire.v1.MarketData servicer: converts between proto and domain, calls the hub."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
from google.protobuf.message import DecodeError, Message

from tickwire.v1 import candles_pb2 as cpb
from tickwire.v1 import market_data_pb2 as pb
from tickwire_server import codec, symbols
from tickwire_server.audit import StreamLog
from tickwire_server.auth import current_principal
from tickwire_server.cache import PriceCache
from tickwire_server.candles import query as candle_query
from tickwire_server.candles.book import CandleWatch
from tickwire_server.candles.history import History
from tickwire_server.candles.intervals import INTERVALS, Interval, UnknownInterval, interval
from tickwire_server.codec import CachedPrice
from tickwire_server.domain import TickerResult, TickerStatus
from tickwire_server.errors import EndReason, StreamEnded
from tickwire_server.gate import StreamGate
from tickwire_server.heartbeats import Heartbeats
from tickwire_server.hub import Hub
from tickwire_server.lag import LagWatch
from tickwire_server.limits import ClientStreams, TokenBucket
from tickwire_server.session import StreamSession
from tickwire_server.snapshot import read_page, read_snapshot
from tickwire_server.sources.base import PriceSource
from tickwire_server.stats import ServerStats
from tickwire_server.subscriber import Subscriber
from tickwire_server.transport import Connections

log = logging.getLogger(__name__)

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["MarketData"].full_name

_END_CODES = {
    EndReason.LAGGING: grpc.StatusCode.RESOURCE_EXHAUSTED,
    EndReason.OVERFLOW: grpc.StatusCode.RESOURCE_EXHAUSTED,
    EndReason.BAD_REQUEST: grpc.StatusCode.INVALID_ARGUMENT,
    EndReason.EXPIRED: grpc.StatusCode.UNAUTHENTICATED,
    EndReason.SHUTDOWN: grpc.StatusCode.UNAVAILABLE,
    EndReason.DROPPED: grpc.StatusCode.UNAVAILABLE,
    EndReason.INTERNAL: grpc.StatusCode.INTERNAL,
}

Context = grpc.aio.ServicerContext[bytes, bytes]
# Latest prices of the named tickers (None: all) from elsewhere than the cache.
Peek = Callable[[Sequence[str] | None], Awaitable[dict[str, CachedPrice]]]
_R = TypeVar("_R")


@dataclass(frozen=True, slots=True)
class StreamLimits:
    """Per-stream limits and cadences."""

    max_tickers: int = 1000
    max_request_tickers: int = 10_000
    max_lag: float = 10.0
    heartbeat_interval: float = 5.0
    max_frame_bytes: int = 1 << 20
    requests_per_minute: float = 100.0
    request_burst: int = 20
    max_streams_per_client: int = 1000
    snapshot_page_size: int = 1000
    max_resets_per_second: int = 200

    @property
    def status_wait(self) -> float:
        """How long an ending stream's status may wait for the transport before it is stalled."""
        return min(self.max_lag, self.heartbeat_interval) / 2


class MarketDataService:
    """Implements tickwire.v1.MarketData: streams through the `Hub`, reads from cache and source.

    The streaming methods write pre-encoded `SubscribeResponse` frames (see
    `codec`), so their handlers pass bytes through instead of serialising.
    """

    def __init__(
        self,
        hub: Hub,
        cache: PriceCache,
        source: PriceSource,
        limits: StreamLimits,
        stats: ServerStats | None = None,
        gate: StreamGate | None = None,
        candles: CandleWatch | None = None,
        history: History | None = None,
        notes: Callable[[], str] | None = None,
        peek: Peek | None = None,
    ) -> None:
        self._stats = stats if stats is not None else ServerStats()
        self._peek = peek  # an edge's: latest prices its cache lacks, from the bus
        self._candles = candles
        self._history = history
        self._notes = notes
        self.gate = gate if gate is not None else StreamGate()
        self._hub = hub
        self._cache = cache
        self._source = source
        self._limits = limits
        # checked often enough that lag plus the status wait stay within one heartbeat
        self._lag = LagWatch(limits.max_lag, limits.status_wait / 2)
        self._heartbeats = Heartbeats(limits.heartbeat_interval)
        self._clients = ClientStreams(limits.max_streams_per_client)
        self.connections = Connections(self._stats, limits.max_resets_per_second)

    # Streams --------------------------------------------------------------

    async def Subscribe(self, requests: AsyncIterator[bytes], context: Context) -> None:
        async def run(session: StreamSession) -> StreamEnded:
            sub = session.subscriber
            reader = asyncio.create_task(self._read_requests(requests, session))
            reader.add_done_callback(lambda task: _end_on_failure(task, sub))
            try:
                return await self._send_loop(sub, context)
            finally:
                reader.cancel()

        await self._serve("Subscribe", context, run, bucket=True)

    async def StreamPrices(self, request: pb.StreamPricesRequest, context: Context) -> None:
        await self._check_request_size(len(request.tickers), context)

        async def run(session: StreamSession) -> StreamEnded:
            results = session.subscribe(request.tickers)
            ack = codec.ack_frame(
                pb.SUBSCRIPTION_ACTION_SUBSCRIBE,
                results,
                session.tickers,
                message="" if request.tickers else "name at least one ticker",
            )
            return await self._fixed_set(session, results, bool(session.tickers), ack, context)

        await self._serve("StreamPrices", context, run)

    async def StreamCandles(self, request: cpb.StreamCandlesRequest, context: Context) -> None:
        await self._check_request_size(len(request.tickers), context)
        iv = _interval_of(request.interval)
        if iv is None or self._candles is None:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, _no_interval(request.interval))
        assert iv is not None

        async def run(session: StreamSession) -> StreamEnded:
            results = session.subscribe_candles(request.tickers, iv, request.closed_only)
            tickers = session.candle_tickers(iv)
            ack = codec.ack_frame(
                pb.SUBSCRIPTION_ACTION_SUBSCRIBE_CANDLES,
                results,
                tickers,
                message="" if request.tickers else "name at least one ticker",
                interval=iv.number,
            )
            return await self._fixed_set(session, results, bool(tickers), ack, context)

        await self._serve("StreamCandles", context, run)

    async def _fixed_set(
        self,
        session: StreamSession,
        results: list[TickerResult],
        accepted: bool,
        ack: bytes,
        context: Context,
    ) -> StreamEnded:
        """A server stream of a fixed set: the ack first, then the pump; or, with nothing
        accepted, the ack alone and INVALID_ARGUMENT naming the first rejections."""
        self._count_rejected(results)
        if accepted:
            session.subscriber.push(ack)  # the first message; what was queued waits behind it
            return await self._send_loop(session.subscriber, context)
        try:
            async with asyncio.timeout(self._limits.max_lag):
                await context.write(ack)
        except TimeoutError:
            return StreamEnded(EndReason.LAGGING, "the client accepted not even the ack")
        why = _summary(results) if results else "no ticker named"
        return StreamEnded(EndReason.BAD_REQUEST, "no ticker accepted: " + why)

    async def _serve(
        self,
        rpc: str,
        context: Context,
        run: Callable[[StreamSession], Awaitable[StreamEnded]],
        *,
        bucket: bool = False,
    ) -> None:
        """Admit a stream, `run` it until it must end, end it, and release what it held.

        Everything the stream holds upstream is released the moment it ends,
        before its status is tried: the status may wait behind data the
        client does not take (see `_end`).
        """
        client = await self._admit_stream(context)
        sub, session = self._open(bucket=bucket)
        sub.principal = current_principal.get().subject
        record = StreamLog(rpc, current_principal.get(), context, self._stats)
        peer = record.peer
        sub.connection = peer
        self.connections.opened(peer)
        ended: StreamEnded | None = None
        recorded = stalled = False
        try:
            ended = await run(session)
            tickers = len(sub.tickers) + len(sub.candle_keys)
            session.close()
            ended, stalled = await self._end(
                context, ended, peer, lambda e: record.close(tickers, e)
            )
            recorded = True
        finally:
            if not recorded:  # the client went away, or a bug
                record.close(len(sub.tickers), ended)
            session.close()
            self._clients.close(client)
            # A stream the client cancelled before it was sent anything is a reset.
            reset = ended is None and sub.frames_written == 0
            self.connections.closed(peer, stalled=stalled, reset=reset)

    async def _end(
        self,
        context: Context,
        ended: StreamEnded,
        peer: str,
        record: Callable[[StreamEnded], None],
    ) -> tuple[StreamEnded, bool]:
        """Give the client its status, or find it stalled; `record` the end.

        Returns the end and whether the stream was counted stalled on its
        connection (see `Connections`, which cuts a connection whose streams
        all stalled).

        A client that accepts no data cannot receive the status either, since
        trailers follow the data. If the transport has not taken the status
        within `status_wait`, the stream STALLED: it is recorded so at once.
        A client that merely paused still gets its status when it reads
        again within another `max_lag`; past that, or at once when the
        status cannot be sent at all (a write still pending), it counts as
        stalled on its connection. The call then waits for grpc core to
        finish it: the cut, or the client leaving.
        """
        status = asyncio.ensure_future(context.abort(_END_CODES[ended.reason], ended.message))
        await asyncio.wait((status,), timeout=self._limits.status_wait)
        if _delivered(status) or (status.done() and ended.reason is not EndReason.LAGGING):
            record(ended)  # delivered, or the client had already gone
            return ended, False
        stalled = StreamEnded(
            EndReason.STALLED,
            f"{ended.message}; the client took not even the status, so the stream is dropped",
        )
        record(stalled)
        if not status.done():
            await asyncio.wait((status,), timeout=self._limits.max_lag)
        cut = not _delivered(status)
        if cut:
            self.connections.stalled(peer)
        try:
            await status
        except (grpc.aio.AbortError, grpc.aio.InternalError):
            pass  # expected for a call the server itself ended
        return stalled, cut

    async def _admit_stream(self, context: Context) -> str:
        """Count a new stream against its client's limit; its key (aborts past the limit)."""
        principal = current_principal.get()
        refusing = self.gate.refusing(principal.subject)
        if refusing:
            self._stats.requests_rejected["refused"] += 1
            await context.abort(
                grpc.StatusCode.UNAVAILABLE,
                f"new streams are refused for another {refusing:.1f} s "
                "(ScenarioControl.DropStreams)",
            )
        anonymous = principal.via == "anonymous"
        key = _peer_host(context.peer()) if anonymous else principal.subject
        if not self._clients.open(key):
            self._stats.requests_rejected["too_many_streams"] += 1
            who = f"anonymous clients at {key}" if anonymous else str(principal)
            await context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"{who} already hold {self._clients.limit} streams, the most one client may",
            )
        return key

    def _open(self, *, bucket: bool = False) -> tuple[Subscriber, StreamSession]:
        limits = self._limits
        sub = Subscriber(max_frame_bytes=limits.max_frame_bytes)
        session = StreamSession(
            self._hub,
            sub,
            self._source,
            max_tickers=limits.max_tickers,
            bucket=TokenBucket(limits.requests_per_minute / 60.0, limits.request_burst)
            if bucket
            else None,
            candles=self._candles,
        )
        return sub, session

    async def _read_requests(self, requests: AsyncIterator[bytes], session: StreamSession) -> None:
        """Apply each request; return at the client's half-close (the stream goes on)."""
        sub = session.subscriber
        async for raw in requests:
            try:
                request = pb.SubscribeRequest.FromString(raw)
            except DecodeError as exc:
                sub.end(StreamEnded(EndReason.BAD_REQUEST, f"malformed SubscribeRequest: {exc}"))
                return
            kind = request.WhichOneof("request")
            if (too_long := _overlong_id(request)) is not None:
                sub.end(StreamEnded(EndReason.BAD_REQUEST, too_long))
                return
            if kind == "ping":
                sub.push(codec.heartbeat_frame(request.ping.id))
                continue
            if kind not in ("subscribe", "unsubscribe", "subscribe_candles", "unsubscribe_candles"):
                sub.push(
                    codec.ack_frame(
                        pb.SUBSCRIPTION_ACTION_UNSPECIFIED,
                        [],
                        session.tickers,
                        message="the request sets none of subscribe, unsubscribe, "
                        "subscribe_candles, unsubscribe_candles or ping",
                    )
                )
                continue
            change = getattr(request, kind)
            if len(change.tickers) > self._limits.max_request_tickers:
                sub.end(_too_many(len(change.tickers), self._limits.max_request_tickers))
                return
            if kind.endswith("_candles"):
                self._candle_request(session, kind, change)
            else:
                if kind == "subscribe":
                    action = pb.SUBSCRIPTION_ACTION_SUBSCRIBE
                    results = session.subscribe(change.tickers)
                else:
                    action = pb.SUBSCRIPTION_ACTION_UNSUBSCRIBE
                    results = session.unsubscribe(change.tickers)
                self._count_rejected(results)
                sub.push(codec.ack_frame(action, results, session.tickers, change.request_id))
            if session.refused_in_a_row > self._limits.request_burst:
                sub.end(
                    StreamEnded(
                        EndReason.OVERFLOW,
                        f"{session.refused_in_a_row} requests in a row over the rate limit "
                        f"({self._limits.requests_per_minute:g} a minute); ending the stream",
                    )
                )
                return

    def _candle_request(
        self,
        session: StreamSession,
        kind: str,
        change: cpb.SubscribeCandles | cpb.UnsubscribeCandles,
    ) -> None:
        """Apply a subscribe_candles or unsubscribe_candles request and queue its ack."""
        subscribing = kind == "subscribe_candles"
        action = (
            pb.SUBSCRIPTION_ACTION_SUBSCRIBE_CANDLES
            if subscribing
            else pb.SUBSCRIPTION_ACTION_UNSUBSCRIBE_CANDLES
        )
        iv = _interval_of(change.interval)
        if iv is None or self._candles is None:
            message = _no_interval(change.interval)
            session.subscriber.push(
                codec.ack_frame(action, [], [], change.request_id, message=message)
            )
            return
        if isinstance(change, cpb.SubscribeCandles):
            results = session.subscribe_candles(change.tickers, iv, change.closed_only)
        else:
            results = session.unsubscribe_candles(change.tickers, iv)
        self._count_rejected(results)
        ack = codec.ack_frame(
            action, results, session.candle_tickers(iv), change.request_id, interval=iv.number
        )
        # Before the forming bars `subscribe_candles` queued: an ack is a control frame.
        session.subscriber.push(ack)

    def _count_rejected(self, results: list[TickerResult]) -> None:
        rejected = self._stats.requests_rejected
        for result in results:
            if result.status is not TickerStatus.OK:
                rejected[result.status.name.lower()] += 1

    async def _send_loop(self, sub: Subscriber, context: Context) -> StreamEnded:
        """`_pump`, as a task of its own (cancelled with the call, as any awaited task).

        Each wake-up of the send loop (prices to send, a write completed)
        then resumes two coroutines, not the eight between the interceptor
        and the write: at 10,000 streams that is two wake-ups a frame.
        """
        return await asyncio.create_task(self._pump(sub, context))

    async def _pump(self, sub: Subscriber, context: Context) -> StreamEnded:
        """Send everything the subscriber has pending, as it comes, plus heartbeats.

        Returns why the stream must end: a write the client does not accept
        within `max_lag` (see `LagWatch`) is LAGGING; the caller's token
        running out (its `exp` plus the leeway) is EXPIRED; otherwise whatever
        ended the subscriber.
        The caller releases the subscriber before reporting the status, since
        the status itself may wait behind unread data.
        """
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        lag = self._lag
        stats = self._stats
        drained, conflated = sub.drained, sub.conflated_total
        lag.register(task)
        beat = self._heartbeats.add(sub)
        expiry = None
        valid_until = current_principal.get().valid_until
        if valid_until is not None:
            expiry = loop.call_later(
                max(0.0, valid_until - time.time()),
                sub.end,
                StreamEnded(EndReason.EXPIRED, "token expired"),
            )
        try:
            while True:
                frames = await sub.next_frames(None)  # heartbeats arrive as control frames
                since = sub.waiting_since
                for frame in frames:
                    lag.writing(task)  # lagging means no progress, not a long burst
                    await context.write(frame)
                    stats.bytes_sent += len(frame)
                lag.idle(task)
                # Counted once per flush, whatever the number of updates in it.
                stats.frames_sent += len(frames)
                sub.frames_written += len(frames)
                if sub.drained != drained:
                    stats.updates_sent += sub.drained - drained
                    drained = sub.drained
                    stats.sample_lag(time.monotonic() - since)
                if sub.conflated_total != conflated:
                    stats.updates_conflated += sub.conflated_total - conflated
                    conflated = sub.conflated_total
        except asyncio.CancelledError:
            if not lag.lagging(task):
                raise  # the call itself was cancelled
            task.uncancel()
            return StreamEnded(
                EndReason.LAGGING,
                f"the client accepted no data for {lag.max_lag:g} s and fell behind "
                f"({sub.conflated_total} updates conflated); ending the stream",
            )
        except StreamEnded as ended:
            return ended
        finally:
            lag.unregister(task)
            self._heartbeats.discard(sub, beat)
            if expiry is not None:
                expiry.cancel()

    # Unary ------------------------------------------------------------------

    async def GetSnapshot(
        self, request: pb.GetSnapshotRequest, context: Context
    ) -> pb.GetSnapshotResponse:
        await self._check_request_size(len(request.tickers), context)
        if not request.tickers:  # everything: a page at a time, so no answer outgrows a client
            size = min(
                request.page_size or self._limits.snapshot_page_size,
                self._limits.snapshot_page_size,
            )
            elsewhere = await self._peek(None) if self._peek is not None else None
            try:
                page, token = read_page(self._cache, size, request.page_token, elsewhere)
            except ValueError as exc:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            return pb.GetSnapshotResponse(
                prices=[e.snapshot_update() for e in page], next_page_token=token
            )
        elsewhere = None
        if self._peek is not None:
            names = [symbols.normalize(t) for t in request.tickers]
            missing = [t for t in names if symbols.is_valid(t) and self._cache.get(t) is None]
            elsewhere = await self._peek(missing) if missing else None
        entries, results = read_snapshot(self._cache, self._source, request.tickers, elsewhere)
        return pb.GetSnapshotResponse(
            prices=[e.snapshot_update() for e in entries], results=codec.ticker_results(results)
        )

    async def ListTickers(
        self, request: pb.ListTickersRequest, context: Context
    ) -> pb.ListTickersResponse:
        metas = sorted(self._source.tickers(), key=lambda m: m.ticker)
        return pb.ListTickersResponse(tickers=[codec.ticker_info(m) for m in metas])

    async def GetMarketStatus(
        self, request: pb.GetMarketStatusRequest, context: Context
    ) -> pb.GetMarketStatusResponse:
        status = codec.market_status(self._hub.status)
        note = self._notes() if self._notes is not None else ""
        if note:
            status.message = f"{status.message}; {note}" if status.message else note
        return pb.GetMarketStatusResponse(status=status)

    async def GetCandles(
        self, request: cpb.GetCandlesRequest, context: Context
    ) -> cpb.GetCandlesResponse:
        if self._history is None:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, "this server keeps no candles")
        assert self._history is not None
        try:
            query = candle_query.parse(request, self._now_ns())
        except candle_query.BadCandleRequest as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        if not self._source.knows(query.ticker):
            await context.abort(
                grpc.StatusCode.NOT_FOUND,
                f"the {self._source.name} source does not serve {query.ticker}",
            )
        return await candle_query.answer(self._history, query)

    def _now_ns(self) -> int:
        """Now for a request with no end: the wall clock, or the source's clock if ahead."""
        now = time.time_ns()
        if self._candles is not None:
            now = max(now, self._candles.clock_ns + 1)
        return now

    async def _check_request_size(self, count: int, context: Context) -> None:
        if count > self._limits.max_request_tickers:
            error = _too_many(count, self._limits.max_request_tickers)
            await context.abort(_END_CODES[error.reason], error.message)


def _delivered(status: asyncio.Future[Any]) -> bool:
    """Whether an `abort` sent its status: it raises AbortError once the trailers are out."""
    return status.done() and isinstance(status.exception(), grpc.aio.AbortError)


def _too_many(count: int, limit: int) -> StreamEnded:
    return StreamEnded(
        EndReason.BAD_REQUEST, f"the request names {count} tickers; at most {limit} per request"
    )


MAX_ID_LENGTH = 128  # characters of a request_id or ping id, which the server echoes


def _overlong_id(request: pb.SubscribeRequest) -> str | None:
    """Why the request's echoed id is too long, or None."""
    kind = request.WhichOneof("request")
    if kind == "ping":
        field, value = "ping id", request.ping.id
    elif kind == "subscribe":
        field, value = "request_id", request.subscribe.request_id
    elif kind in ("unsubscribe", "subscribe_candles", "unsubscribe_candles"):
        field, value = "request_id", getattr(request, kind).request_id
    else:
        return None
    if len(value) <= MAX_ID_LENGTH:
        return None
    return f"the {field} has {len(value)} characters; at most {MAX_ID_LENGTH}"


def _interval_of(number: int) -> Interval | None:
    try:
        return interval(int(number)) if number else None
    except UnknownInterval:
        return None


def _no_interval(number: int) -> str:
    names = ", ".join(f"{iv.name} ({cpb.CandleInterval.Name(iv.number)})" for iv in INTERVALS)
    given = "no interval" if not number else f"interval {number} is unknown"
    return f"{given}: name one of {names}"


def _summary(results: list[TickerResult], shown: int = 3) -> str:
    """The first few rejections, so a status message stays short whatever the request."""
    text = "; ".join(f"{r.ticker}: {r.message or r.status.value}" for r in results[:shown])
    more = len(results) - shown
    return f"{text}; and {more} more" if more > 0 else text


def _end_on_failure(reader: asyncio.Task[None], sub: Subscriber) -> None:
    """End the stream when its request reader failed (a bug): never leave it deaf."""
    if reader.cancelled() or reader.exception() is None:
        return
    error = reader.exception()
    log.error("handling a Subscribe request failed", exc_info=error)
    sub.end(StreamEnded(EndReason.INTERNAL, f"internal error handling a request: {error!r}"))


def _peer_host(peer: str | None) -> str:
    """The address part of a grpc peer ("ipv4:127.0.0.1:5555" -> "ipv4:127.0.0.1")."""
    if not peer:
        return "unknown"
    if peer.startswith("unix:"):
        return "unix"
    return peer.rpartition(":")[0] or peer


def _parsed(message: type[Message], method: Callable[[Any, Context], Awaitable[_R]]) -> Any:
    """`method` taking raw bytes: a request that does not parse is INVALID_ARGUMENT."""
    name = message.DESCRIPTOR.name

    async def handle(raw: bytes, context: Context) -> _R:
        try:
            request = message.FromString(raw)
        except DecodeError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"malformed {name}: {exc}")
        return await method(request, context)

    return handle


def handler(service: MarketDataService) -> grpc.GenericRpcHandler[bytes, bytes]:
    """The gRPC handler table for `service`.

    Every method takes raw request bytes and parses them itself, so a
    malformed request gets a clear INVALID_ARGUMENT (gRPC's own decoding
    failure would be UNKNOWN). Streams send pre-encoded frames (no serializer:
    grpc sends the bytes as they are); unary
    methods serialise the generated response classes. The method names and types are those of the
    generated service, so reflection and every generated client see the
    contract unchanged.
    """
    methods = {
        "Subscribe": grpc.stream_stream_rpc_method_handler(
            service.Subscribe, request_deserializer=None, response_serializer=None
        ),
        "StreamPrices": grpc.unary_stream_rpc_method_handler(
            _parsed(pb.StreamPricesRequest, service.StreamPrices),
            request_deserializer=None,
            response_serializer=None,
        ),
        "GetSnapshot": grpc.unary_unary_rpc_method_handler(
            _parsed(pb.GetSnapshotRequest, service.GetSnapshot),
            request_deserializer=None,
            response_serializer=pb.GetSnapshotResponse.SerializeToString,
        ),
        "ListTickers": grpc.unary_unary_rpc_method_handler(
            _parsed(pb.ListTickersRequest, service.ListTickers),
            request_deserializer=None,
            response_serializer=pb.ListTickersResponse.SerializeToString,
        ),
        "GetMarketStatus": grpc.unary_unary_rpc_method_handler(
            _parsed(pb.GetMarketStatusRequest, service.GetMarketStatus),
            request_deserializer=None,
            response_serializer=pb.GetMarketStatusResponse.SerializeToString,
        ),
        "StreamCandles": grpc.unary_stream_rpc_method_handler(
            _parsed(cpb.StreamCandlesRequest, service.StreamCandles),
            request_deserializer=None,
            response_serializer=None,
        ),
        "GetCandles": grpc.unary_unary_rpc_method_handler(
            _parsed(cpb.GetCandlesRequest, service.GetCandles),
            request_deserializer=None,
            response_serializer=cpb.GetCandlesResponse.SerializeToString,
        ),
    }
    return grpc.method_handlers_generic_handler(SERVICE_NAME, methods)
