"""Client: the asyncio tickwire client — unary calls and self-healing subscriptions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import grpc
from google.protobuf.message import Message

from tickwire import _convert
from tickwire._candles import CandleSubscription, aware, interval_info, windows
from tickwire._errors import ClosedError, RpcError
from tickwire._subscription import Subscription
from tickwire._types import Backoff, StateCallback, StreamOptions, Target, target_of
from tickwire.v1 import candles_pb2 as cpb
from tickwire.v1 import market_data_pb2 as pb
from tickwire.v1 import market_data_pb2_grpc as rpc

_Response = TypeVar("_Response")

if TYPE_CHECKING:
    _Call = grpc.aio.StreamStreamCall[pb.SubscribeRequest, pb.SubscribeResponse]


class Client:
    """An asyncio client of a tickwire server.

    ```python
    async with Client("127.0.0.1:50051") as client:
        async for update in client.subscribe("AAPL", "MSFT"):
            print(update.ticker, update.price)
    ```

    Args:
        target: "host:port" or "unix:/path"; anything with a `target`
            attribute (such as a `tickwire_server.testing` server) works too.
            Several servers of one cluster (its edges) are a list of
            "IP:PORT" or those joined by commas: calls are spread round
            robin, and a stream whose server dies reconnects to another.
        token: a bearer token sent as `authorization` metadata, or a function
            (plain or async) returning a fresh one: it is called for every
            call and every stream (re)opened, so a stream ended UNAUTHENTICATED
            because its token expired reconnects at once with a new one. A
            second UNAUTHENTICATED in a row fails the subscription.
        tls: connect with TLS; `root_certificates` (PEM) overrides the system roots.
        certificate_chain, private_key: PEM client certificate and key, for
            mutual TLS (implies `tls`).
        timeout: seconds for unary calls and for add/remove answers (past
            it they raise `RpcError` DEADLINE_EXCEEDED).
        max_message_bytes: the largest message sent or received.
        backoff: reconnect pacing of subscriptions.
        heartbeat_timeout: a subscription silent this long is treated as dead
            and reconnected. It must exceed twice the server's heartbeat
            interval (5 s by default; a quiet stream hears from the server at
            least that often): a server configured with a longer interval
            needs a longer timeout here, or quiet streams keep reconnecting.
        max_reconnects: give a subscription up after this many failed
            reconnect attempts in a row (None: never). A stream that stays
            up for `backoff.reset_after` seconds starts the count again, so
            a long-lived subscription may reconnect any number of times.
        on_state: called with every `StateChange` of every subscription.

    Attributes:
        target: the address dialled.
        options: the stream options every subscription of this client keeps
            its stream by (frozen: make another client to change them).
    """

    def __init__(
        self,
        target: Target = _convert.DEFAULT_TARGET,
        *,
        token: _convert.TokenSource = None,
        tls: bool = False,
        root_certificates: bytes | None = None,
        certificate_chain: bytes | None = None,
        private_key: bytes | None = None,
        timeout: float = 10.0,
        max_message_bytes: int = _convert.DEFAULT_MAX_MESSAGE_BYTES,
        backoff: Backoff | None = None,
        heartbeat_timeout: float = 20.0,
        max_reconnects: int | None = None,
        on_state: StateCallback | None = None,
    ) -> None:
        self.target = target_of(target)
        self.options = StreamOptions(
            timeout=timeout,
            backoff=backoff or Backoff(),
            heartbeat_timeout=heartbeat_timeout,
            max_reconnects=max_reconnects,
            on_state=on_state,
        )
        self._token = token
        self._channel = _convert.aio_channel(
            self.target,
            tls=tls,
            root_certificates=root_certificates,
            certificate_chain=certificate_chain,
            private_key=private_key,
            max_message_bytes=max_message_bytes,
        )
        self._stub = rpc.MarketDataStub(self._channel)
        self._subscriptions: set[Subscription | CandleSubscription] = set()
        self._closed = False

    def subscribe(
        self, *tickers: str, strict: bool = False, on_state: StateCallback | None = None
    ) -> Subscription:
        """Open a subscription; iterate it for updates, `add`/`remove` to change it.

        With `strict`, a rejected ticker makes iteration (or `add`) raise
        `SubscriptionError`; otherwise rejections are in `results`/`rejected`.
        Must be called inside a running event loop.
        """
        if self._closed:
            raise ClosedError("the client is closed")
        subscription = Subscription(
            self._open_stream,
            self.options,
            tickers,
            strict=strict,
            on_state=on_state,
            on_end=self._forget,
        )
        self._subscriptions.add(subscription)
        return subscription

    def subscribe_candles(
        self,
        *tickers: str,
        interval: int | str = "1m",
        closed_only: bool = False,
        strict: bool = False,
        on_state: StateCallback | None = None,
    ) -> CandleSubscription:
        """Live candles of `interval` ("5s" ... "1mo", or a `CandleInterval`) for `tickers`.

        Iterate it for `Candle`s: the forming bar (unless `closed_only`),
        then every change at most every 250 ms, and each bar when it closes.

        Raises:
            ValueError: `interval` names no interval.
        """
        if self._closed:
            raise ClosedError("the client is closed")
        subscription = CandleSubscription(
            self._open_stream,
            self.options,
            tickers,
            interval_info(interval),
            closed_only=closed_only,
            strict=strict,
            on_state=on_state,
            on_end=self._forget,
        )
        self._subscriptions.add(subscription)
        return subscription

    async def candles(
        self,
        ticker: str,
        interval: int | str,
        start: dt.datetime,
        end: dt.datetime | None = None,
    ) -> list[cpb.Candle]:
        """Every stored bar of `ticker` with start in [start, end) (end: now), oldest first.

        A range wider than one request may span is asked in pieces, and
        every page of each is followed; the forming bar comes last when the
        range holds it.

        Raises:
            ValueError: `interval` names no interval, or end is not after start.
            RpcError: a call failed (INVALID_ARGUMENT names what was wrong).
        """
        info = interval_info(interval)
        start = aware(start)
        end = aware(end) if end is not None else dt.datetime.now(dt.UTC)
        if end <= start:
            raise ValueError(f"end {end.isoformat()} is not after start {start.isoformat()}")
        out: list[cpb.Candle] = []
        for lo, hi in windows(start, end, info.max_range):
            request = cpb.GetCandlesRequest(ticker=ticker, interval=info.number)  # type: ignore[arg-type]
            request.start.FromDatetime(lo)
            request.end.FromDatetime(hi)
            while True:
                response = await self._unary(self._stub.GetCandles, request)
                out.extend(response.candles)
                if not response.next_page_token:
                    break
                request.page_token = response.next_page_token
        return out

    async def snapshot(self, *tickers: str, strict: bool = False) -> dict[str, pb.PriceUpdate]:
        """Latest price per ticker (every cached ticker when none are named).

        Raises:
            SubscriptionError: strict and a ticker had no price.
            RpcError: the call failed.
        """
        request = _convert.snapshot_request(tickers)
        response = await self._unary(self._stub.GetSnapshot, request)
        prices = _convert.snapshot_prices(response, strict)
        while response.next_page_token:  # everything was asked for: follow the pages
            request.page_token = response.next_page_token
            response = await self._unary(self._stub.GetSnapshot, request)
            prices.update(_convert.snapshot_prices(response, strict))
        return prices

    async def tickers(self) -> list[pb.TickerInfo]:
        """The universe the server's source serves, sorted by ticker."""
        response = await self._unary(self._stub.ListTickers, pb.ListTickersRequest())
        return list(response.tickers)

    async def market_status(self) -> pb.MarketStatus:
        """Market state and the source's health."""
        response = await self._unary(self._stub.GetMarketStatus, pb.GetMarketStatusRequest())
        status: pb.MarketStatus = response.status
        return status

    async def close(self) -> None:
        """Close every subscription and the channel. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for subscription in list(self._subscriptions):
            await subscription.close()
        self._subscriptions.clear()
        await self._channel.close(None)

    async def __aenter__(self) -> Client:
        return self

    async def _open_stream(self) -> _Call:
        """A new Subscribe call, carrying the token the source gives now."""
        call: _Call = self._stub.Subscribe(metadata=await _convert.token_metadata(self._token))
        return call

    def _forget(self, subscription: Subscription | CandleSubscription) -> None:
        """Let go of a subscription that closed or failed."""
        self._subscriptions.discard(subscription)

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _unary(
        self, method: Callable[..., Awaitable[_Response]], request: Message
    ) -> _Response:
        if self._closed:
            raise ClosedError("the client is closed")
        try:
            metadata = await _convert.token_metadata(self._token)
            return await method(request, timeout=self.options.timeout, metadata=metadata)
        except grpc.aio.AioRpcError as error:
            raise RpcError.from_grpc(error) from None
