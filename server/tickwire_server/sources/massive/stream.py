"""WebSocket mode: per-second aggregates (and trades) of the wanted tickers, kept connected."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import massive
import websockets.exceptions
from massive.exceptions import AuthError as _MassiveAuthError

from tickwire_server.errors import AuthError, MalformedAnswer, Unavailable, UpstreamError
from tickwire_server.sources.massive import wire
from tickwire_server.sources.massive.breaker import RetryDelays
from tickwire_server.sources.massive.feed import Outlet, Part

log = logging.getLogger(__name__)


class _SocketLog(logging.LoggerAdapter[logging.Logger]):
    """The logger handed to `websockets`: its DEBUG frame dumps dropped, the key redacted.

    At DEBUG websockets logs every frame, the auth frame `{"action":"auth",
    "params":KEY}` included, cut to 75 characters (a long key would leak in
    part, past any redaction): DEBUG never gets through. What does (INFO and
    above) is formatted here and has the key replaced, to be sure.
    """

    def __init__(self, logger: logging.Logger, secret: str) -> None:
        super().__init__(logger, {})
        self._secret = secret

    def isEnabledFor(self, level: int) -> bool:
        return level > logging.DEBUG and self.logger.isEnabledFor(level)

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        if not self.isEnabledFor(level):
            return
        try:
            text = str(msg) % args if args else str(msg)
        except (TypeError, ValueError):  # as logging would: show it rather than fail
            text = f"{msg} {args!r}"
        if self._secret:
            text = text.replace(self._secret, "***")
        self.logger.log(level, "%s", text, **kwargs)


class StreamFeed:
    """One `massive.WebSocketClient` connection at a time, with tickwire's own reconnect loop.

    The package's reconnect is immediate and its connect can hang, so each
    connection gets a fresh client with `max_reconnects=0` and the current
    subscriptions (resubscription after a reconnect comes for free), and this
    loop reconnects with exponential backoff and jitter. Until the first
    frame (the subscription acks) the connect is bounded by `connect_timeout`;
    after it, a watchdog ends a connection that stays silent for
    `idle_timeout` while the market is open (a closed market is quiet).

    Consecutive failures (reported, and the backoff step) count from 1 again
    after a session that authenticated and had its subscription acked (or
    delivered quotes): a closed market sends nothing, and its
    dropped-then-resubscribed sessions are each one failure, not a growing
    outage. A session the watchdog ended before any quote still counts on
    (connected but silent while the market is open is no recovery).
    """

    def __init__(
        self,
        *,
        api_key: str,
        url: str,
        outlet: Outlet,
        trades: bool,
        connect_timeout: float,
        idle_timeout: float,
        backoff: RetryDelays,
        on_connected: Callable[[], None],
    ) -> None:
        self._api_key = api_key
        self._url = url
        self._feed, self._secure = wire.ws_endpoint(url)
        self._outlet = outlet
        self._trades = trades
        self._connect_timeout = connect_timeout
        self._idle_timeout = idle_timeout
        self._backoff = backoff
        self._on_connected = on_connected
        self._client: massive.WebSocketClient | None = None
        self._deadline: asyncio.Timeout | None = None
        self._established = False
        self._delivered = False
        self._recovered = False  # the last session subscribed: the failure count restarts
        self._watchdog = True
        self._socket_log = _SocketLog(logging.getLogger(f"{__name__}.socket"), api_key)
        self._wanted_changed = asyncio.Event()

    def add(self, ticker: str) -> None:
        """Subscribe `ticker`'s channels on the open connection (if any)."""
        if self._client is not None:
            self._client.subscribe(*wire.channels([ticker], trades=self._trades))
        self._wanted_changed.set()

    def remove(self, ticker: str) -> None:
        """Unsubscribe `ticker`'s channels on the open connection (if any)."""
        if self._client is not None:
            self._client.unsubscribe(*wire.channels([ticker], trades=self._trades))

    def arm_watchdog(self, armed: bool) -> None:
        """Whether silence counts as a dead feed (True while the market is open)."""
        self._watchdog = armed
        if self._established:
            self._rearm()

    async def run(self) -> None:
        """Stay connected until cancelled; every lost connection is reported, then retried."""
        failures = 0
        while True:
            while not self._outlet.wanted():
                self._wanted_changed.clear()
                await self._wanted_changed.wait()
            error: UpstreamError
            try:
                await self._session()
                error = Unavailable("Massive closed the feed")
            except UpstreamError as exc:
                error = exc
            if not self._outlet.wanted():
                continue  # nothing is wanted: the connection was not needed anyway
            failures = 1 if self._recovered else failures + 1
            delay = max(self._backoff.delay(failures - 1), error.retry_after or 0.0)
            self._outlet.failed(Part.PRICES, error, delay, failures)
            await asyncio.sleep(delay)

    async def _session(self) -> None:
        """One connection, from connect to its end.

        Raises:
            UpstreamError: how the connection ended (the one translation boundary).
        """
        client = massive.WebSocketClient(
            api_key=self._api_key,
            feed=self._feed,
            market=wire.MARKET,
            secure=self._secure,
            raw=True,
            max_reconnects=0,
            subscriptions=wire.channels(self._outlet.wanted(), trades=self._trades),
        )
        self._client, self._established, self._delivered = client, False, False
        self._recovered = False
        try:
            async with asyncio.timeout(self._connect_timeout) as deadline:
                self._deadline = deadline
                await client.connect(
                    self._on_frame,
                    close_timeout=min(self._connect_timeout, 1),
                    logger=self._socket_log,  # passed on to websockets' connect
                )
        except TimeoutError as exc:
            if self._deadline is None or not self._deadline.expired():
                raise Unavailable(f"the Massive feed timed out ({exc!r})") from exc
            if self._established:
                self._recovered = self._delivered  # silent while open: no recovery
                raise Unavailable(
                    f"the Massive feed was silent for {self._idle_timeout:g} s"
                ) from None
            raise Unavailable(
                f"no answer from {self._url} within {self._connect_timeout:g} s"
            ) from None
        except Exception as exc:
            raise self._translate(exc) from exc
        finally:
            self._client, self._deadline, self._established = None, None, False
            if client.websocket is not None:
                with contextlib.suppress(Exception):
                    await client.close()

    def _translate(self, exc: Exception) -> UpstreamError:
        if isinstance(exc, UpstreamError):
            return exc
        if isinstance(exc, _MassiveAuthError):
            return AuthError(f"Massive rejected the API key on the WebSocket feed ({exc})")
        if isinstance(exc, websockets.exceptions.ConnectionClosed):
            code = exc.rcvd.code if exc.rcvd is not None else 1006
            return Unavailable(f"the Massive feed dropped the connection (code {code})")
        if isinstance(exc, websockets.exceptions.WebSocketException | OSError):
            return Unavailable(f"cannot connect to {self._url} ({type(exc).__name__})")
        if isinstance(exc, ValueError | KeyError | IndexError | TypeError):
            return MalformedAnswer(f"malformed frame from the Massive feed ({type(exc).__name__})")
        log.exception("Massive feed failed unexpectedly")
        return Unavailable(f"the Massive feed failed ({type(exc).__name__})")

    async def _on_frame(self, raw: str | bytes) -> None:
        """The package's processor: awaited inline, so it only parses and hands over."""
        frame = wire.parse_frame(raw)
        if not self._established:
            self._established = True
            log.info("Massive feed connected to %s", self._url)
            self._outlet.succeeded(Part.PRICES)
            self._on_connected()
        if frame.quotes or any(status in wire.OK_STATUSES for status, _ in frame.statuses):
            self._recovered = True  # subscribed (acked) after the auth, or delivering
        for status, message in frame.statuses:
            if status not in wire.OK_STATUSES:
                log.warning("Massive feed status %s: %s", status, message)
        if frame.skipped:
            log.warning("Massive feed: skipped %d malformed record(s)", frame.skipped)
            self._outlet.count_skipped(frame.skipped)
        if frame.quotes:
            self._delivered = True
            self._outlet.offer(frame.quotes)
        self._rearm()

    def _rearm(self) -> None:
        if self._deadline is not None:
            loop = asyncio.get_running_loop()
            when = loop.time() + self._idle_timeout if self._watchdog else None
            self._deadline.reschedule(when)
