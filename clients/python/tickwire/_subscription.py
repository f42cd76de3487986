"""Subscription: a self-healing Subscribe stream, read as an async iterator of prices."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import grpc

from tickwire._errors import ClosedError, RpcError, SubscriptionError
from tickwire._types import (
    ConnectionState,
    StateChange,
    StreamStats,
    TickerResult,
    TickerStatus,
)
from tickwire.v1 import market_data_pb2 as pb

if TYPE_CHECKING:
    from tickwire._client import Client

log = logging.getLogger(__name__)

# Errors a retry cannot fix: the stream fails for good.
_FATAL = {
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.UNIMPLEMENTED,
    grpc.StatusCode.FAILED_PRECONDITION,
}

_EOF = grpc.aio.EOF  # type: ignore[attr-defined]

StateCallback = Callable[[StateChange], None]


class _StreamLost(Exception):
    """The current stream is gone and worth reconnecting."""


class Subscription:
    """Live prices for a changing set of tickers, surviving disconnects.

    Iterate it for `PriceUpdate`s: the latest price of each ticker first
    (state SNAPSHOT), then live updates. Behind it one task keeps a
    `Subscribe` stream open: it reconnects with exponential backoff and
    jitter, resubscribes the wanted set, treats a stream silent for longer
    than `heartbeat_timeout` as dead, and counts sequence gaps in `stats`.
    Updates wait in a mailbox holding the latest per ticker, so a caller
    that reads slowly gets fresh prices, never a growing backlog.

    Create it with `Client.subscribe`; close it with `close()` or
    `async with`.
    """

    def __init__(
        self,
        client: Client,
        tickers: Iterable[str],
        *,
        strict: bool,
        on_state: StateCallback | None,
    ) -> None:
        self._client = client
        self._strict = strict
        self._on_state = on_state
        self._wanted: dict[str, None] = dict.fromkeys(tickers)
        self._pending: dict[str, pb.PriceUpdate] = {}
        self._readable = asyncio.Event()
        self._connected = asyncio.Event()
        self._acks: dict[str, asyncio.Future[list[TickerResult]]] = {}
        self._ids = itertools.count(1)
        self._last_sequence: dict[str, int] = {}
        self._call: grpc.aio.StreamStreamCall[pb.SubscribeRequest, pb.SubscribeResponse] | None
        self._call = None
        self._error: BaseException | None = None
        self._closed = False
        self._rng = random.Random()
        self.state = ConnectionState.CONNECTING
        self.stats = StreamStats()
        self.results: list[TickerResult] = []
        self.rejected: dict[str, TickerResult] = {}
        self.market_status: pb.MarketStatus | None = None
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name="tickwire-subscription"
        )

    # The caller's side ------------------------------------------------------

    @property
    def tickers(self) -> list[str]:
        """The tickers this subscription wants (accepted or awaiting an answer)."""
        return list(self._wanted)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> pb.PriceUpdate:
        while not self._pending:
            if self._error is not None:
                raise self._error
            if self._closed:
                raise StopAsyncIteration
            self._readable.clear()
            await self._readable.wait()
        ticker = next(iter(self._pending))
        return self._pending.pop(ticker)

    async def add(self, *tickers: str, strict: bool | None = None) -> list[TickerResult]:
        """Subscribe to more tickers on the same stream; one result per ticker.

        Raises:
            SubscriptionError: strict and some tickers were rejected.
            ClosedError: the subscription is closed or failed.
        """
        results = await self._request(pb.SubscribeRequest(subscribe=pb.SubscribeTickers(
            tickers=list(tickers))))  # fmt: skip
        if self._strict if strict is None else strict:
            _raise_if_rejected(results)
        return results

    async def remove(self, *tickers: str) -> list[TickerResult]:
        """Unsubscribe tickers; pending updates of them are dropped."""
        for ticker in tickers:
            self._forget(ticker.strip().upper())
        return await self._request(pb.SubscribeRequest(unsubscribe=pb.UnsubscribeTickers(
            tickers=list(tickers))))  # fmt: skip

    async def wait_connected(self) -> None:
        """Return once the stream is (re)connected; raise if it failed for good."""
        while not self._connected.is_set():
            if self._error is not None:
                raise self._error
            if self._closed:
                raise ClosedError("the subscription is closed")
            waiter = asyncio.ensure_future(self._connected.wait())
            done, _ = await asyncio.wait({waiter, self._task}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()

    async def close(self) -> None:
        """Stop the stream and its task. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._readable.set()

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # The stream's side ------------------------------------------------------

    async def _request(self, request: pb.SubscribeRequest) -> list[TickerResult]:
        request_id = f"r{next(self._ids)}"
        change = request.subscribe if request.HasField("subscribe") else request.unsubscribe
        change.request_id = request_id
        future: asyncio.Future[list[TickerResult]] = asyncio.get_running_loop().create_future()
        self._acks[request_id] = future
        try:
            async with asyncio.timeout(self._client.timeout):
                while True:
                    await self.wait_connected()
                    call = self._call
                    try:
                        if call is None:
                            raise _StreamLost
                        await call.write(request)
                        break
                    except (grpc.aio.AioRpcError, grpc.aio.UsageError, _StreamLost):
                        self._connected.clear()  # it broke under us: wait for the next stream
                return await future
        finally:
            self._acks.pop(request_id, None)

    async def _run(self) -> None:
        attempt = 0
        try:
            while True:
                connected_at: list[float] = []
                try:
                    await self._stream(connected_at)
                    reason = "the server closed the stream"
                except _StreamLost as lost:
                    reason = str(lost)
                except grpc.aio.AioRpcError as error:
                    if error.code() in _FATAL:
                        self._fail(RpcError.from_grpc(error))
                        return
                    reason = f"{error.code().name}: {error.details()}"
                self._connected.clear()
                self._call = None
                healthy = connected_at and time.monotonic() - connected_at[0] >= (
                    self._client.backoff.reset_after
                )
                attempt = 0 if healthy else attempt
                limit = self._client.max_reconnects
                if limit is not None and self.stats.reconnects >= limit:
                    self._fail(
                        RpcError("UNAVAILABLE", f"gave up after {limit} reconnects: {reason}")
                    )
                    return
                delay = self._client.backoff.delay(attempt, self._rng)
                self._set_state(
                    StateChange(ConnectionState.RECONNECTING, attempt + 1, delay, reason)
                )
                log.info("stream lost (%s); reconnecting in %.2f s", reason, delay)
                attempt += 1
                self.stats.reconnects += 1
                await asyncio.sleep(delay)
        except asyncio.CancelledError:
            self._set_state(StateChange(ConnectionState.CLOSED))
            raise
        finally:
            if self._call is not None:
                self._call.cancel()
            for future in self._acks.values():
                if not future.done():
                    future.set_exception(self._error or ClosedError("the subscription is closed"))

    async def _stream(self, connected_at: list[float]) -> None:
        """One stream, from opening to loss (raises) or the server's clean end."""
        call = self._client._stub.Subscribe(metadata=self._client._metadata)
        self._call = call
        try:
            if self._wanted:
                initial = pb.SubscribeTickers(tickers=list(self._wanted), request_id="resubscribe")
                if not self.results:
                    initial.request_id = "initial"
                await call.write(pb.SubscribeRequest(subscribe=initial))
            else:
                await call.write(pb.SubscribeRequest(ping=pb.Ping(id="hello")))
            while True:
                try:
                    async with asyncio.timeout(self._client.heartbeat_timeout):
                        message = await call.read()
                except TimeoutError:
                    timeout = self._client.heartbeat_timeout
                    raise _StreamLost(
                        f"no message for {timeout:g} s (heartbeat watchdog)"
                    ) from None
                if message is _EOF:
                    return
                if not connected_at:
                    connected_at.append(time.monotonic())
                    self._connected.set()
                    self._set_state(StateChange(ConnectionState.CONNECTED))
                self._receive(message)
        finally:
            call.cancel()

    def _receive(self, message: pb.SubscribeResponse) -> None:
        stats = self.stats
        stats.last_message_at = time.monotonic()
        kind = message.WhichOneof("response")
        if kind == "prices":
            batch = message.prices
            stats.batches += 1
            stats.conflated += batch.conflated
            for update in batch.updates:
                self._deliver(update)
            if self._pending:
                self._readable.set()
        elif kind == "ack":
            self._on_ack(message.ack)
        elif kind == "heartbeat":
            stats.heartbeats += 1
        elif kind == "market_status":
            self.market_status = message.market_status

    def _deliver(self, update: pb.PriceUpdate) -> None:
        ticker = update.ticker
        if ticker not in self._wanted:
            return  # in flight when it was removed
        stats = self.stats
        stats.updates += 1
        last = self._last_sequence.get(ticker)
        if last is not None and update.sequence > last + 1:
            stats.gaps += 1
            stats.missed += update.sequence - last - 1
        self._last_sequence[ticker] = update.sequence
        if ticker in self._pending:
            stats.conflated += 1
        self._pending[ticker] = update

    def _on_ack(self, ack: pb.SubscriptionAck) -> None:
        results = [TickerResult.from_proto(r) for r in ack.results]
        for result in results:
            if not result.ok and result.status is not TickerStatus.NOT_SUBSCRIBED:
                self.rejected[result.ticker] = result
                self._forget(result.ticker)
        if ack.action == pb.SUBSCRIPTION_ACTION_SUBSCRIBE:
            # The server's normalised names replace what was asked for.
            accepted = [r.ticker for r in results if r.ok]
            asked = {r.ticker.strip().upper() for r in results}
            self._wanted = {
                **{t: None for t in self._wanted if t.strip().upper() not in asked},
                **dict.fromkeys(accepted),
            }
        if ack.request_id == "initial":
            self.results = results
            if self._strict and any(not r.ok for r in results):
                self._fail(SubscriptionError(results))
        future = self._acks.get(ack.request_id)
        if future is not None and not future.done():
            future.set_result(results)

    def _forget(self, ticker: str) -> None:
        self._wanted.pop(ticker, None)
        self._pending.pop(ticker, None)
        self._last_sequence.pop(ticker, None)

    def _fail(self, error: BaseException) -> None:
        if self._error is None:
            self._error = error
        self._closed = True
        self._readable.set()
        self._set_state(StateChange(ConnectionState.CLOSED, reason=str(error)))
        if self._call is not None:
            self._call.cancel()

    def _set_state(self, change: StateChange) -> None:
        if change.state is self.state and change.state is not ConnectionState.RECONNECTING:
            return
        self.state = change.state
        callback = self._on_state or self._client.on_state
        if callback is not None:
            try:
                callback(change)
            except Exception:
                log.exception("state callback failed")


def _raise_if_rejected(results: list[TickerResult]) -> None:
    if any(not r.ok for r in results):
        raise SubscriptionError(results)
