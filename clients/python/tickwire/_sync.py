"""SyncClient: a blocking facade for scripts and notebooks, on the same code as Client."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import inspect
import threading
from collections.abc import Awaitable, Coroutine, Generator
from typing import Any, TypeVar

import grpc

from tickwire import _convert
from tickwire._client import Client
from tickwire._errors import ClosedError, RpcError
from tickwire._subscription import Subscription
from tickwire._types import Backoff, StateCallback, Target, target_of
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
    your own, e.g. a `grpc_testing` channel; `close` leaves a channel passed
    in open). `updates` runs the asyncio `Client` on a private event loop
    thread, so it has the same reconnects, watchdog and conflation. The
    options are those of `Client`, with the same defaults. The methods may be
    called from several threads.
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
        channel: grpc.Channel | None = None,
    ) -> None:
        self.target = target_of(target)
        self.timeout = timeout
        # What `updates` runs: an asyncio Client with these very options.
        self._new_client = functools.partial(
            Client,
            self.target,
            token=token,
            tls=tls,
            root_certificates=root_certificates,
            certificate_chain=certificate_chain,
            private_key=private_key,
            timeout=timeout,
            max_message_bytes=max_message_bytes,
            backoff=backoff,
            heartbeat_timeout=heartbeat_timeout,
            max_reconnects=max_reconnects,
            on_state=on_state,
        )
        self._token = token
        self._owns_channel = channel is None
        if channel is None:
            channel = _convert.sync_channel(
                self.target,
                tls=tls,
                root_certificates=root_certificates,
                certificate_chain=certificate_chain,
                private_key=private_key,
                max_message_bytes=max_message_bytes,
            )
        self._channel = channel
        self._stub = rpc.MarketDataStub(channel)
        self._lock = threading.Lock()  # guards _loop, _thread and _closed
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._closed = False
        self._clients: set[Client] = set()  # those of open `updates`; touched on the loop only

    def snapshot(self, *tickers: str, strict: bool = False) -> dict[str, pb.PriceUpdate]:
        """Latest price per ticker; see `Client.snapshot`."""
        request = _convert.snapshot_request(tickers)
        response = self._unary(self._stub.GetSnapshot, request)
        prices = _convert.snapshot_prices(response, strict)
        while response.next_page_token:  # everything was asked for: follow the pages
            request.page_token = response.next_page_token
            response = self._unary(self._stub.GetSnapshot, request)
            prices.update(_convert.snapshot_prices(response, strict))
        return prices

    def tickers(self) -> list[pb.TickerInfo]:
        """The source's universe; see `Client.tickers`."""
        return list(self._unary(self._stub.ListTickers, pb.ListTickersRequest()).tickers)

    def market_status(self) -> pb.MarketStatus:
        """Market state and source health; see `Client.market_status`."""
        status: pb.MarketStatus = self._unary(
            self._stub.GetMarketStatus, pb.GetMarketStatusRequest()
        ).status
        return status

    def updates(self, *tickers: str, strict: bool = False) -> Generator[pb.PriceUpdate, None, None]:
        """Block on live updates of `tickers`; close the iterator to stop.

        `close()` of the client ends the iteration too, from any thread.

        Raises:
            ClosedError: the client is closed (on the first `next`).
        """
        client = self._run(self._open_client())
        try:
            subscription = self._run(_subscribe(client, tickers, strict))
            while True:
                try:
                    update = self._run(subscription.__anext__())
                except (StopAsyncIteration, ClosedError):
                    return
                yield update
        finally:
            with contextlib.suppress(ClosedError):  # else close() closed it
                self._run(self._close_client(client))

    def close(self) -> None:
        """Close the channel, end open `updates` and stop the loop thread. Idempotent.

        A `channel` passed to the constructor stays open: it is the caller's.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            loop, thread = self._loop, self._thread
        if self._owns_channel:
            self._channel.close()
        if loop is None or thread is None:
            return
        # Queued after every coroutine already handed over, none can be left waiting.
        asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _unary(self, method: Any, request: Any) -> Any:
        source = self._token
        token: str | None = None
        if callable(source):
            given = source()
            # An async token function runs on the loop thread.
            token = self._run(_awaited(given)) if inspect.isawaitable(given) else given
        else:
            token = source
        try:
            return method(request, timeout=self.timeout, metadata=_convert.metadata(token))
        except grpc.RpcError as error:
            raise RpcError.from_grpc(error) from None

    def _run(self, coroutine: Coroutine[Any, Any, _T]) -> _T:
        """Run `coroutine` on the loop thread (started on first use) and wait for it."""
        with self._lock:
            if self._closed:
                coroutine.close()
                raise ClosedError("the client is closed")
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                self._thread = threading.Thread(
                    target=self._loop.run_forever, name="tickwire-sync", daemon=True
                )
                self._thread.start()
            future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        try:
            return future.result()
        except concurrent.futures.CancelledError:  # cut short by close()
            raise ClosedError("the client is closed") from None

    async def _open_client(self) -> Client:
        client = self._new_client()
        self._clients.add(client)
        return client

    async def _close_client(self, client: Client) -> None:
        self._clients.discard(client)
        await client.close()

    async def _shutdown(self) -> None:
        """On the loop: close every client, then end whatever still runs."""
        for client in list(self._clients):
            await self._close_client(client)
        current = asyncio.current_task()
        others = [task for task in asyncio.all_tasks() if task is not current]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)


async def _awaited(awaitable: Awaitable[str]) -> str:
    return await awaitable


async def _subscribe(client: Client, tickers: tuple[str, ...], strict: bool) -> Subscription:
    return client.subscribe(*tickers, strict=strict)
