"""StreamKeeper: keeps a subscription's Subscribe stream open — reconnects, re-sends, watchdog."""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

import grpc

from tickwire._errors import ClosedError, RpcError, SubscriptionError
from tickwire._types import (
    ConnectionState,
    StateCallback,
    StateChange,
    StreamOptions,
    StreamStats,
    TickerResult,
)
from tickwire.v1 import market_data_pb2 as pb

if TYPE_CHECKING:
    _Call = grpc.aio.StreamStreamCall[pb.SubscribeRequest, pb.SubscribeResponse]
    _Answer = asyncio.Future[list[TickerResult]]

# Opens one Subscribe call (the client's stub, with a token got for it).
OpenStream = Callable[[], Awaitable["_Call"]]

log = logging.getLogger(__name__)

# Errors a retry cannot fix: the stream fails for good. (UNAUTHENTICATED is
# retried once at once, with a fresh token; twice in a row is fatal.)
_FATAL = {
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.UNIMPLEMENTED,
    grpc.StatusCode.FAILED_PRECONDITION,
}

# What writing to a stream that broke (or finished) meanwhile raises.
_WRITE_FAILED = (grpc.aio.AioRpcError, grpc.aio.UsageError, asyncio.InvalidStateError)


class Receiver(Protocol):
    """What a keeper feeds: a subscription's inbox of prices (`Inbox`) or of candles."""

    results: list[TickerResult]
    readable: asyncio.Event

    @property
    def stats(self) -> StreamStats: ...

    def opening(self, request_id: str) -> pb.SubscribeRequest | None:
        """The request a new stream starts with, or None when nothing is wanted."""

    def receive(self, message: pb.SubscribeResponse) -> pb.SubscriptionAck | None:
        """Take in one message; return it when it is an ack."""

    def apply(self, ack: pb.SubscriptionAck) -> list[TickerResult]:
        """Settle an ack; its per-ticker results."""


class _StreamLost(Exception):
    """The current stream is gone and worth reconnecting."""


class StreamKeeper:
    """Keeps a `Subscribe` stream open for one subscription, one stream after another.

    `open_stream` opens a `Subscribe` call; `options` say how to keep it.
    Its task opens a stream, subscribes the inbox's wanted tickers, writes
    every add/remove still unanswered, hands each message to the inbox and
    takes `heartbeat_timeout` of silence for a loss. After a loss it waits
    (exponential backoff with jitter) and reconnects; a fatal status, or
    `max_reconnects` failed attempts in a row, fail it for good.

    Attributes:
        state: where the stream stands.
        error: why it failed for good, if it did.
        closed: closed or failed: no stream opens again.
    """

    def __init__(
        self,
        open_stream: OpenStream,
        options: StreamOptions,
        inbox: Receiver,
        *,
        strict: bool,
        on_state: StateCallback | None,
        on_end: Callable[[], None],
    ) -> None:
        self._open_stream = open_stream
        self._options = options
        self._inbox = inbox
        self._strict = strict
        self._on_state = on_state
        self._on_end = on_end
        self._connected = asyncio.Event()
        # add/remove requests awaiting their ack, by request id.
        self._in_flight: dict[str, tuple[pb.SubscribeRequest, _Answer]] = {}
        self._ids = itertools.count(1)
        self._call: _Call | None = None
        self._writing = asyncio.Lock()  # grpc takes one write at a time per call
        self._rng = random.Random()
        self.state = ConnectionState.CONNECTING
        self.error: BaseException | None = None
        self.closed = False
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name="tickwire-subscription"
        )
        self._task.add_done_callback(self._finished)

    async def request(self, request: pb.SubscribeRequest) -> list[TickerResult]:
        """Send an add/remove and return its ack's results, across reconnects.

        It is written now when a stream is up; otherwise (and again after a
        reconnect, should its ack be lost) `_on_connect` writes it.

        Raises:
            RpcError: DEADLINE_EXCEEDED when no ack came within the client's `timeout`.
            ClosedError: closed (or `error`, when failed).
        """
        self._raise_if_closed()
        request_id = f"r{next(self._ids)}"
        kind = request.WhichOneof("request")
        assert kind is not None, "a request to send names what it asks"
        getattr(request, kind).request_id = request_id
        answer: _Answer = asyncio.get_running_loop().create_future()
        self._in_flight[request_id] = (request, answer)
        timeout = self._options.timeout
        try:
            async with asyncio.timeout(timeout):
                if self._connected.is_set() and self._call is not None:
                    await self._send(self._call, request)
                return await answer
        except TimeoutError:
            raise RpcError("DEADLINE_EXCEEDED", f"no answer within {timeout:g} s") from None
        finally:
            self._in_flight.pop(request_id, None)

    async def wait_connected(self) -> None:
        """Return once a stream is up; raise if it failed for good or was closed."""
        while not self._connected.is_set():
            self._raise_if_closed()
            waiter = asyncio.ensure_future(self._connected.wait())
            await asyncio.wait({waiter, self._task}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()

    async def close(self) -> None:
        """Stop the stream and the task. Idempotent."""
        self.closed = True
        if not self._task.done():
            self._task.cancel()
            await asyncio.wait({self._task})
        self._end(self.error or ClosedError("the subscription is closed"))
        self._set_state(StateChange(ConnectionState.CLOSED))

    def _raise_if_closed(self) -> None:
        if self.error is not None:
            raise self.error
        if self.closed:
            raise ClosedError("the subscription is closed")

    async def _send(self, call: _Call, request: pb.SubscribeRequest) -> None:
        """Write one request; a stream that broke meanwhile is left to its reader."""
        async with self._writing:
            try:
                await call.write(request)
            except _WRITE_FAILED as error:  # the read says why; the next stream re-sends
                log.debug("request not written: %r", error)

    async def _run(self) -> None:
        attempt = 0  # reconnects since the last healthy stream
        refused = 0  # UNAUTHENTICATED ends in a row, none of them after a healthy stream
        backoff = self._options.backoff
        try:
            while True:
                connected_at: list[float] = []
                fresh_token = False
                try:
                    await self._stream(connected_at)
                    reason = "the server closed the stream"
                except _StreamLost as lost:
                    reason = str(lost)
                except grpc.aio.AioRpcError as error:
                    code = error.code()
                    if code == grpc.StatusCode.UNAUTHENTICATED:
                        refused = 1 if connected_at else refused + 1
                        fresh_token = refused == 1
                    if code in _FATAL or (code == grpc.StatusCode.UNAUTHENTICATED and refused > 1):
                        self._fail(RpcError.from_grpc(error))
                        return
                    reason = f"{code.name}: {error.details()}"
                self._connected.clear()
                self._call = None
                if connected_at and time.monotonic() - connected_at[0] >= backoff.reset_after:
                    attempt = 0
                limit = self._options.max_reconnects
                if limit is not None and attempt >= limit:
                    message = f"gave up after {limit} reconnects in a row: {reason}"
                    self._fail(RpcError("UNAVAILABLE", message))
                    return
                # After a token ran out, the next stream gets a fresh one at once.
                delay = 0.0 if fresh_token else backoff.delay(attempt, self._rng)
                self._set_state(
                    StateChange(ConnectionState.RECONNECTING, attempt + 1, delay, reason)
                )
                log.info("stream lost (%s); reconnecting in %.2f s", reason, delay)
                attempt += 1
                self._inbox.stats.reconnects += 1
                await asyncio.sleep(delay)
        except asyncio.CancelledError:
            self._set_state(StateChange(ConnectionState.CLOSED))
            raise
        finally:
            if self._call is not None:
                self._call.cancel()

    async def _stream(self, connected_at: list[float]) -> None:
        """One stream, from opening to loss (raises) or the server's clean end."""
        try:
            call = await self._open_stream()
        except Exception as error:  # the caller's token function failed: retry later
            raise _StreamLost(f"getting a token failed: {error!r}") from error
        self._call = call
        try:
            request_id = "resubscribe" if self._inbox.results else "initial"
            opening = self._inbox.opening(request_id) or pb.SubscribeRequest(
                ping=pb.Ping(id="hello")
            )
            await self._send(call, opening)
            silence = self._options.heartbeat_timeout
            while True:
                try:
                    async with asyncio.timeout(silence):
                        message = await call.read()
                except TimeoutError:
                    raise _StreamLost(
                        f"no message for {silence:g} s (heartbeat watchdog)"
                    ) from None
                if not isinstance(message, pb.SubscribeResponse):
                    return  # EOF: the server ended the stream
                if not connected_at:
                    connected_at.append(time.monotonic())
                    await self._on_connect(call)
                ack = self._inbox.receive(message)
                if ack is not None:
                    self._on_ack(ack)
        finally:
            call.cancel()

    async def _on_connect(self, call: _Call) -> None:
        """The stream is up: say so, and write every request still unanswered.

        Their acks may have been lost with the last stream. The server's
        answers are idempotent: subscribing again is OK, and removing what
        the new stream never had is NOT_SUBSCRIBED.
        """
        self._connected.set()
        # Taken with no await since the set: later requests write themselves.
        unanswered = [request for request, answer in self._in_flight.values() if not answer.done()]
        self._set_state(StateChange(ConnectionState.CONNECTED))
        for request in unanswered:
            await self._send(call, request)

    def _on_ack(self, ack: pb.SubscriptionAck) -> None:
        results = self._inbox.apply(ack)
        if ack.request_id == "initial":
            self._inbox.results = results
            if self._strict and any(not r.ok for r in results):
                self._fail(SubscriptionError(results))
        request = self._in_flight.get(ack.request_id)
        if request is not None and not request[1].done():
            request[1].set_result(results)

    def _fail(self, error: BaseException) -> None:
        if self.error is None:
            self.error = error
        self._end(self.error)
        self._set_state(StateChange(ConnectionState.CLOSED, reason=str(error)))
        if self._call is not None:
            self._call.cancel()

    def _finished(self, task: asyncio.Task[None]) -> None:
        """The task ended (closed, failed, or a bug): release what it held."""
        error = None if task.cancelled() else task.exception()
        if error is not None:
            log.error("the subscription's task failed", exc_info=error)
            self._fail(error)
        self._end(self.error or ClosedError("the subscription is closed"))

    def _end(self, error: BaseException) -> None:
        """No stream opens again: wake readers, fail unanswered requests, tell the owner."""
        self.closed = True
        self._connected.clear()
        self._inbox.readable.set()
        for _, answer in self._in_flight.values():
            if not answer.done():
                answer.set_exception(error)
        self._on_end()

    def _set_state(self, change: StateChange) -> None:
        if change.state is self.state and change.state is not ConnectionState.RECONNECTING:
            return
        self.state = change.state
        callback = self._on_state or self._options.on_state
        if callback is not None:
            try:
                callback(change)
            except Exception:
                log.exception("state callback failed")
