"""SyncClient: a blocking facade for scripts and notebooks, on the same code as Client."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any, TypeVar

import grpc

from tickwire import _convert
from tickwire._client import Client
from tickwire._errors import RpcError
from tickwire._types import HasTarget, target_of
from tickwire.v1 import market_data_pb2 as pb
from tickwire.v1 import market_data_pb2_grpc as rpc

_T = TypeVar("_T")


class SyncClient:
    """Blocking calls to a tickwire server.

    ```python
    with SyncClient("127.0.0.1:50051") as client:
        print(client.snapshot("AAPL")["AAPL"].price)
        for update in client.updates("AAPL", "MSFT"):
            ...
    ```

    Unary calls go over a synchronous gRPC channel (pass `channel` to use
    your own, e.g. a `grpc_testing` channel). `updates` runs the asyncio
    `Client` on a private event loop thread, so it has the same reconnects,
    watchdog and conflation. Options are those of `Client`.
    """

    def __init__(
        self,
        target: str | HasTarget = _convert.DEFAULT_TARGET,
        *,
        channel: grpc.Channel | None = None,
        **options: Any,
    ) -> None:
        self.target = target_of(target)
        self._options = options
        self.timeout: float = options.get("timeout", 10.0)
        self._metadata = _convert.metadata(options.get("token"))
        if channel is None:
            channel_options = _convert.channel_options(
                options.get("max_message_bytes", _convert.DEFAULT_MAX_MESSAGE_BYTES)
            )
            if options.get("tls"):
                credentials = grpc.ssl_channel_credentials(options.get("root_certificates"))
                channel = grpc.secure_channel(self.target, credentials, options=channel_options)
            else:
                channel = grpc.insecure_channel(self.target, options=channel_options)
        self._channel = channel
        self._stub = rpc.MarketDataStub(channel)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def snapshot(self, *tickers: str, strict: bool = False) -> dict[str, pb.PriceUpdate]:
        """Latest price per ticker; see `Client.snapshot`."""
        response = self._unary(self._stub.GetSnapshot, _convert.snapshot_request(tickers))
        return _convert.snapshot_prices(response, strict)

    def tickers(self) -> list[pb.TickerInfo]:
        """The source's universe; see `Client.tickers`."""
        return list(self._unary(self._stub.ListTickers, pb.ListTickersRequest()).tickers)

    def market_status(self) -> pb.MarketStatus:
        """Market state and source health; see `Client.market_status`."""
        status: pb.MarketStatus = self._unary(
            self._stub.GetMarketStatus, pb.GetMarketStatusRequest()
        ).status
        return status

    def updates(self, *tickers: str, strict: bool = False) -> Iterator[pb.PriceUpdate]:
        """Block on live updates of `tickers`; close the iterator to stop."""
        client = self._run(_make_client(self.target, self._options))
        subscription = self._run(_subscribe(client, tickers, strict))
        try:
            while True:
                try:
                    yield self._run(subscription.__anext__())
                except StopAsyncIteration:
                    return
        finally:
            self._run(client.close())

    def close(self) -> None:
        """Close the channel and stop the background loop, if one was started."""
        self._channel.close()
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()
            self._loop = self._thread = None

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _unary(self, method: Any, request: Any) -> Any:
        try:
            return method(request, timeout=self.timeout, metadata=self._metadata)
        except grpc.RpcError as error:
            raise RpcError.from_grpc(error) from None

    def _run(self, coroutine: Any) -> Any:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(
                target=self._loop.run_forever, name="tickwire-sync", daemon=True
            )
            self._thread.start()
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result()


async def _make_client(target: str, options: dict[str, Any]) -> Client:
    return Client(target, **options)


async def _subscribe(client: Client, tickers: tuple[str, ...], strict: bool) -> Any:
    return client.subscribe(*tickers, strict=strict)
