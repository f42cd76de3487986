"""The Massive REST boundary: RESTClient calls in threads, behind a breaker, errors translated.

This is the one place where third-party REST errors (urllib3's, the package's)
become tickwire's `UpstreamError`s. The client makes no retries of its own
(`_RaiseOnErrorStatus`): every error status comes back at once with its code
and Retry-After, so backoff happens here, visibly, and honours Retry-After.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self, TypeVar

import massive
import urllib3.exceptions
from massive.exceptions import AuthError as _MassiveAuthError
from massive.exceptions import BadResponse as _MassiveBadResponse
from massive.rest.models import Agg, MarketStatus, TickerSnapshot
from urllib3.connectionpool import ConnectionPool
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from tickwire_server.candles.bars import BACKFILL, Bar
from tickwire_server.candles.intervals import BY_NAME
from tickwire_server.domain import MarketState, Quote
from tickwire_server.errors import (
    AuthError,
    MalformedAnswer,
    RateLimited,
    Unavailable,
    UpstreamError,
)
from tickwire_server.sources.massive import wire
from tickwire_server.sources.massive.breaker import CircuitBreaker, parse_retry_after

log = logging.getLogger(__name__)

T = TypeVar("T")


def quiet_package_loggers() -> None:
    """Drop the stdout handlers the `massive` package adds at import; records go to root."""
    for name in ("RESTClient", "WebSocketClient"):
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            if isinstance(handler, logging.StreamHandler) and handler.stream is sys.stdout:
                logger.removeHandler(handler)


quiet_package_loggers()


class _HttpStatus(Exception):
    """An error status, carried out of urllib3 with what `BadResponse` would lose."""

    def __init__(self, status: int, retry_after: str | None, body: bytes) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.retry_after = retry_after
        self.body = body


class _RaiseOnErrorStatus(Retry):
    """A urllib3 retry policy that never retries and raises `_HttpStatus` for 4xx/5xx."""

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        return status_code >= 400

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> Self:
        if response is not None and response.status >= 400:
            raise _HttpStatus(response.status, response.headers.get("Retry-After"), response.data)
        return super().increment(method, url, response, error, _pool, _stacktrace)


def _detail(body: bytes) -> str:
    text = body.decode("utf-8", "replace").strip()
    try:
        decoded = json.loads(text)
    except ValueError:
        return text[:200]
    if isinstance(decoded, dict):
        for key in ("error", "message", "status"):
            if isinstance(decoded.get(key), str):
                return str(decoded[key])[:200]
    return text[:200]


def translate(exc: BaseException, base_url: str) -> UpstreamError:
    """The tickwire error for an exception raised by a REST call (the boundary)."""
    if isinstance(exc, UpstreamError):
        return exc
    if isinstance(exc, _HttpStatus):
        status, detail = exc.status, _detail(exc.body)
        wait = parse_retry_after(exc.retry_after)
        if status in (401, 403):
            return AuthError(f"Massive rejected the API key (HTTP {status}: {detail})")
        if status == 429:
            return RateLimited("rate limited by Massive (HTTP 429)", retry_after=wait)
        if status >= 500:
            return Unavailable(f"Massive answered HTTP {status}", retry_after=wait)
        return UpstreamError(f"Massive answered HTTP {status}: {detail}", retry_after=wait)
    if isinstance(exc, urllib3.exceptions.MaxRetryError):
        reason = type(exc.reason).__name__ if exc.reason is not None else "no answer"
        return Unavailable(f"cannot reach Massive at {base_url} ({reason})")
    if isinstance(exc, urllib3.exceptions.HTTPError | OSError):
        return Unavailable(f"cannot reach Massive at {base_url} ({type(exc).__name__})")
    if isinstance(exc, _MassiveAuthError):
        return AuthError(f"Massive rejected the API key ({exc})")
    if isinstance(exc, _MassiveBadResponse):
        return UpstreamError(f"unexpected answer from Massive: {_detail(str(exc).encode())}")
    if isinstance(exc, ValueError | TypeError | KeyError | AttributeError):
        return MalformedAnswer(f"malformed answer from Massive ({type(exc).__name__})")
    return Unavailable(f"Massive call failed ({type(exc).__name__})")


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One snapshot answer: quotes, every ticker it named, records skipped.

    `no_price` counts well-formed snapshots without a usable last trade (a
    ticker before its first trade); `malformed` counts records not shaped
    like a snapshot at all.
    """

    quotes: list[Quote]
    returned: frozenset[str]
    no_price: int = 0
    malformed: int = 0

    @classmethod
    def merged(cls, parts: Iterable[Snapshot]) -> Snapshot:
        """One answer from the answers of several calls (disjoint ticker sets)."""
        quotes: list[Quote] = []
        returned: set[str] = set()
        no_price = malformed = 0
        for part in parts:
            quotes += part.quotes
            returned |= part.returned
            no_price += part.no_price
            malformed += part.malformed
        return cls(quotes, frozenset(returned), no_price, malformed)


class RestApi:
    """The Massive REST calls tickwire makes, each run in a thread.

    Every call passes the shared circuit breaker first and reports its outcome
    to it. `close()` waits for calls still running in threads (each bounded by
    `timeout`), so nothing outlives the source.
    """

    def __init__(
        self, api_key: str, base_url: str, *, timeout: float, breaker: CircuitBreaker
    ) -> None:
        self.base_url = base_url
        self.breaker = breaker
        self._timeout = timeout
        self._client = massive.RESTClient(
            api_key=api_key,
            base=base_url,
            retries=0,
            connect_timeout=timeout,
            read_timeout=timeout,
            pagination=False,
            connection_pool_kw={"retries": _RaiseOnErrorStatus(total=0, redirect=False)},
        )
        self._running: set[asyncio.Task[Any]] = set()

    async def snapshot(self, tickers: Sequence[str]) -> Snapshot:
        """The all-tickers snapshot of exactly `tickers`, merged from calls of a bounded size.

        Every ticker goes into the URL, so a large set is asked for in calls of
        at most `wire.SNAPSHOT_MAX_TICKERS` tickers, one after another (each
        through the breaker). No tickers, no call.

        Raises:
            UpstreamError: a call failed (translated); the answers before it are dropped.
        """
        size = wire.SNAPSHOT_MAX_TICKERS
        chunks = [list(tickers[i : i + size]) for i in range(0, len(tickers), size)]
        return Snapshot.merged([await self._call(self._fetch_snapshot, c) for c in chunks])

    async def market_status(self) -> MarketState:
        """The current market state from /v1/marketstatus/now."""
        return await self._call(self._fetch_market_status)

    async def minute_bars(
        self, ticker: str, start_ms: int, end_ms: int, cursor: str | None = None
    ) -> tuple[list[Bar], str | None]:
        """One page of Massive's minute aggregates of `ticker` in [start_ms, end_ms].

        Returns the bars (the vendor's: source BACKFILL) and the cursor of the
        next page, or None after the last. Each page is one call through the
        breaker, so the caller paces pages against the plan's rate.

        Raises:
            UpstreamError: the call failed (translated).
        """
        return await self._call(self._fetch_minute_bars, ticker, start_ms, end_ms, cursor)

    async def close(self) -> None:
        """Wait for calls still running in threads, then close the connection pools."""
        if self._running:
            await asyncio.wait(self._running, timeout=2 * self._timeout + 1.0)
        for client in (self._client, getattr(self._client, "vx", None)):
            pool = getattr(client, "client", None)
            if pool is not None:
                pool.clear()

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        self.breaker.check()
        task = asyncio.ensure_future(asyncio.to_thread(fn, *args))
        self._running.add(task)
        task.add_done_callback(_forget(self._running))
        try:
            result = await asyncio.shield(task)
        except asyncio.CancelledError:
            self.breaker.abandon()
            raise
        except Exception as exc:
            error = translate(exc, self.base_url)
            self.breaker.record_failure(error.retry_after, str(error))
            raise error from exc
        self.breaker.record_success()
        return result

    # In a worker thread -----------------------------------------------------------

    def _fetch_snapshot(self, tickers: list[str]) -> Snapshot:
        response = self._client.get_snapshot_all(wire.MARKET, tickers=tickers, raw=True)
        decoded = json.loads(response.data)
        records = decoded.get(wire.SNAPSHOT_LIST_KEY) if isinstance(decoded, dict) else None
        if not isinstance(records, list):
            raise MalformedAnswer(f"malformed snapshot: no {wire.SNAPSHOT_LIST_KEY!r} list")
        quotes: list[Quote] = []
        returned: set[str] = set()
        no_price = malformed = 0
        for record in records:
            try:
                snapshot = TickerSnapshot.from_dict(record)
            except (AttributeError, TypeError, ValueError):
                malformed += 1
                continue
            if not isinstance(snapshot.ticker, str) or not snapshot.ticker:
                malformed += 1
                continue
            returned.add(snapshot.ticker)
            quote = wire.snapshot_quote(snapshot)
            if quote is None:
                no_price += 1
            else:
                quotes.append(quote)
        return Snapshot(quotes, frozenset(returned), no_price, malformed)

    def _fetch_minute_bars(
        self, ticker: str, start_ms: int, end_ms: int, cursor: str | None
    ) -> tuple[list[Bar], str | None]:
        if cursor is None:
            response = self._client.list_aggs(
                ticker, 1, "minute", start_ms, end_ms, adjusted=True, sort="asc",
                limit=wire.AGGS_LIMIT, raw=True,
            )  # fmt: skip
        else:
            # The next page, as the package's own paginator asks for it: next_url's
            # path and query, nothing re-sent (RESTClient._get is what it calls).
            response = self._client._get(path=cursor, params={}, raw=True)
        decoded = json.loads(response.data)
        if not isinstance(decoded, dict):
            raise MalformedAnswer("malformed aggregates: not an object")
        one = BY_NAME["1m"]
        bars = []
        for record in decoded.get(wire.AGGS_LIST_KEY) or []:
            agg = Agg.from_dict(record) if isinstance(record, dict) else None
            bar = wire.agg_bar(ticker, agg, one) if agg is not None else None
            if bar is not None:
                bar.source = BACKFILL
                bars.append(bar)
        return bars, wire.next_page(decoded)

    def _fetch_market_status(self) -> MarketState:
        response = self._client.get_market_status(raw=True)
        decoded = json.loads(response.data)
        if not isinstance(decoded, dict):
            raise MalformedAnswer("malformed market status: not an object")
        state = wire.market_state(MarketStatus.from_dict(decoded))
        if state is None:
            raise MalformedAnswer(f"unknown market status {decoded.get('market')!r}")
        return state


def _forget(tasks: set[asyncio.Task[Any]]) -> Callable[[asyncio.Task[Any]], None]:
    def done(task: asyncio.Task[Any]) -> None:
        tasks.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: a call whose caller left is not an error

    return done
