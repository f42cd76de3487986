"""A fake Massive REST API on 127.0.0.1: the real paths, JSON keys and auth, with faults on demand.

Speaks plain HTTP/1.1 with keep-alive on an asyncio server (port 0). Serves
`GET /v2/snapshot/locale/us/markets/stocks/tickers?tickers=A,B`,
`GET /v1/marketstatus/now` and the minute aggregates of
`GET /v2/aggs/ticker/T/range/1/minute/FROM/TO` (ms), a page of at most
`aggs_page_size` bars at a time with a `next_url` whose cursor carries the
whole query (the package re-sends none of it), and checks `Authorization: Bearer <key>`, and logs
every request with its arrival time so tests can see backoff and the ticker
set. Faults: queue replies (401, 429 with Retry-After, 500, malformed bodies,
slow answers, dropped connections) for the next requests of a path, or set a
standing `outage` for every request. `max_url_bytes` answers a longer request
target with 414, as the front ends of real APIs do.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from urllib.parse import parse_qsl, urlsplit

FAKE_KEY = "sk-test-4f1d9c0e"  # the key the fakes accept by default; distinctive, so a
# test can prove it is never printed
SNAPSHOT_PATH = "/v2/snapshot/locale/us/markets/stocks/tickers"
STATUS_PATH = "/v1/marketstatus/now"
# GET /v2/aggs/ticker/{T}/range/{multiplier}/{timespan}/{from}/{to}: replies queue by prefix.
AGGS_PATH = "/v2/aggs/ticker/"
_REASONS = {
    200: "OK",
    401: "Unauthorized",
    404: "Not Found",
    414: "URI Too Long",
    429: "Too Many Requests",
}


@dataclass
class Reply:
    """How the fake answers one request; `body=None` means the normal answer."""

    status: int = 200
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (a slow upstream)
    drop: bool = False  # close the connection without answering

    @classmethod
    def error(cls, status: int, message: str, *, retry_after: str | None = None) -> Reply:
        """An error answer shaped like Massive's: {"status": "ERROR", "error": ...}."""
        body = {"status": "ERROR", "request_id": "fake-req", "error": message}
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        return cls(status, json.dumps(body).encode(), headers)


@dataclass(frozen=True)
class Request:
    """One request the fake received, and what it answered (0 when dropped)."""

    at: float  # event-loop time of arrival
    path: str
    params: dict[str, str]
    authorization: str
    status: int

    @property
    def tickers(self) -> list[str]:
        return [t for t in self.params.get("tickers", "").split(",") if t]


@dataclass
class _Ticker:
    price: float | None
    t: int  # last trade SIP time, ns
    volume: float = 1_000_000.0


class FakeMassiveRest:
    """The fake server. `async with FakeMassiveRest() as rest:` then point `rest.url` at it."""

    def __init__(self, api_key: str = FAKE_KEY) -> None:
        self.api_key = api_key
        self.market = "open"  # "open", "closed" or "extended-hours"
        self.tickers: dict[str, _Ticker] = {}
        self.extra_records: list[object] = []  # appended as-is to every snapshot's list
        self.outage: Reply | None = None  # answers every request (any path) while set
        self.max_url_bytes: int | None = None  # longer request targets get 414
        # ticker -> minute aggregates {"t": start ms, "o", "h", "l", "c", "v", "vw", "n"}
        self.aggs: dict[str, list[dict[str, float]]] = {}
        self.aggs_page_size = 5000
        self.requests: list[Request] = []
        self._queued: dict[str, deque[Reply]] = {
            SNAPSHOT_PATH: deque(),
            STATUS_PATH: deque(),
            AGGS_PATH: deque(),
        }
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Condition()
        self.url = ""

    async def __aenter__(self) -> FakeMassiveRest:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()

    # Controls --------------------------------------------------------------------

    def set_price(self, ticker: str, price: float, *, t: int | None = None) -> None:
        """Make `ticker` known with a last trade at `price` (now, unless `t` in ns)."""
        self.tickers[ticker] = _Ticker(price, time.time_ns() if t is None else t)

    def set_no_trade(self, ticker: str) -> None:
        """Make `ticker` known but without a last trade (as before the first trade)."""
        self.tickers[ticker] = _Ticker(None, time.time_ns())

    def queue(self, path: str, *replies: Reply) -> None:
        """Answer the next requests of `path` with `replies`, in order."""
        self._queued[path].extend(replies)

    def snapshot_requests(self) -> list[Request]:
        return [r for r in self.requests if r.path == SNAPSHOT_PATH]

    def aggs_requests(self) -> list[Request]:
        return [r for r in self.requests if r.path.startswith(AGGS_PATH)]

    def add_minutes(self, ticker: str, start_ms: int, closes: list[float]) -> None:
        """Minute aggregates of `ticker` from `start_ms`, one a minute, closing at `closes`."""
        bars = self.aggs.setdefault(ticker, [])
        for i, close in enumerate(closes):
            bars.append(
                {"t": start_ms + i * 60_000, "o": close - 0.5, "h": close + 1.0,
                 "l": close - 1.0, "c": close, "v": 1000.0 + i, "vw": close - 0.1, "n": 10}
            )  # fmt: skip
        bars.sort(key=lambda b: b["t"])

    async def wait_for(
        self, predicate: Callable[[list[Request]], bool], wait: float = 5.0
    ) -> list[Request]:
        """Wait until `predicate(requests)` holds; return the requests so far."""
        async with asyncio.timeout(wait), self._changed:
            await self._changed.wait_for(lambda: predicate(self.requests))
        return list(self.requests)

    async def next_snapshot(self, wait: float = 5.0, **match: object) -> Request:
        """The first snapshot request after now (answered with `status`, if given)."""
        seen = len(self.requests)

        def found(requests: list[Request]) -> bool:
            return any(_matches(r, match) for r in requests[seen:] if r.path == SNAPSHOT_PATH)

        requests = await self.wait_for(found, wait)
        return next(r for r in requests[seen:] if r.path == SNAPSHOT_PATH and _matches(r, match))

    # HTTP ------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                if not await self._answer(head.decode("latin-1"), writer):
                    return
        except asyncio.CancelledError:
            return  # stopped by __aexit__; ending quietly keeps asyncio 3.11's callback happy
        finally:
            self._handlers.discard(task)
            writer.close()

    async def _answer(self, head: str, writer: asyncio.StreamWriter) -> bool:
        line, *header_lines = head.split("\r\n")
        _, target, _ = line.split(" ", 2)
        headers = {}
        for header in header_lines:
            if ":" in header:
                name, value = header.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        url = urlsplit(target)
        params = dict(parse_qsl(url.query))
        if self.max_url_bytes is not None and len(target) > self.max_url_bytes:
            reply = Reply.error(414, "URI Too Long")
        else:
            reply = self._reply(url.path, params, headers.get("authorization", ""))
        request = Request(
            asyncio.get_running_loop().time(),
            url.path,
            params,
            headers.get("authorization", ""),
            0 if reply.drop else reply.status,
        )
        async with self._changed:
            self.requests.append(request)
            self._changed.notify_all()
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.drop:
            return False
        body = reply.body if reply.body is not None else b""
        out = [f"HTTP/1.1 {reply.status} {_REASONS.get(reply.status, 'Error')}"]
        out += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        out += [f"{k}: {v}" for k, v in reply.headers.items()]
        try:
            writer.write(("\r\n".join(out) + "\r\n\r\n").encode() + body)
            await writer.drain()
        except ConnectionError:
            return False
        return True

    def _reply(self, path: str, params: dict[str, str], authorization: str) -> Reply:
        if authorization != f"Bearer {self.api_key}":
            message = "API Key was not provided" if not authorization else "Unknown API Key"
            return Reply.error(401, message)
        queued = self._queued.get(AGGS_PATH if path.startswith(AGGS_PATH) else path)
        if queued:
            reply = queued.popleft()
        elif self.outage is not None:
            reply = self.outage
        else:
            reply = Reply()
        if reply.body is None and reply.status == 200 and not reply.drop:
            reply = Reply(200, self._body(path, params), reply.headers, reply.delay)
        return reply

    def _body(self, path: str, params: dict[str, str]) -> bytes:
        if path == SNAPSHOT_PATH:
            wanted = [t for t in params.get("tickers", "").split(",") if t] or list(self.tickers)
            records: list[object] = [
                _snapshot_record(t, self.tickers[t]) for t in wanted if t in self.tickers
            ]
            records += self.extra_records
            answer = {"status": "OK", "request_id": "fake-req", "count": len(records)}
            return json.dumps({**answer, "tickers": records}).encode()
        if path == STATUS_PATH:
            return json.dumps(_market_status(self.market)).encode()
        if path.startswith(AGGS_PATH):
            return self._aggs(path, params)
        return json.dumps({"status": "NOT_FOUND", "request_id": "fake-req"}).encode()

    def _aggs(self, path: str, params: dict[str, str]) -> bytes:
        ticker, _, multiplier, timespan, start, end = path.removeprefix(AGGS_PATH).split("/")
        assert (multiplier, timespan) == ("1", "minute"), "the fake serves minute bars"
        lo, hi = int(start), int(end)  # inclusive, as Massive's range is
        found = [b for b in self.aggs.get(ticker, []) if lo <= b["t"] <= hi]
        offset = int(params.get("cursor", "0"))
        size = min(self.aggs_page_size, int(params.get("limit", "5000")))
        page = found[offset : offset + size]
        answer: dict[str, object] = {
            "ticker": ticker, "status": "OK", "request_id": "fake-req", "adjusted": True,
            "queryCount": len(page), "resultsCount": len(page), "results": page,
        }  # fmt: skip
        if offset + size < len(found):
            query = f"cursor={offset + size}&limit={params.get('limit', '5000')}"
            answer["next_url"] = f"{self.url}{path}?{query}"
        return json.dumps(answer).encode()


def _matches(request: Request, match: dict[str, object]) -> bool:
    return all(getattr(request, key) == value for key, value in match.items())


def _snapshot_record(ticker: str, state: _Ticker) -> dict[str, object]:
    """One element of the snapshot's "tickers" list, with Massive's keys."""
    if state.price is None:
        zero = {"o": 0, "h": 0, "l": 0, "c": 0, "v": 0, "vw": 0}
        return {"ticker": ticker, "updated": state.t, "day": zero, "prevDay": zero}
    p = state.price
    day = {"o": p * 0.99, "h": p * 1.01, "l": p * 0.98, "c": p, "v": state.volume, "vw": p * 0.995}
    return {
        "ticker": ticker,
        "todaysChange": p * 0.01,
        "todaysChangePerc": 1.0,
        "updated": state.t,
        "day": day,
        "lastQuote": {"P": p + 0.01, "S": 2, "p": p - 0.01, "s": 3, "t": state.t},
        "lastTrade": {"c": [14, 41], "i": "71675577320245", "p": p, "s": 100, "t": state.t, "x": 4},
        "min": {**day, "av": state.volume, "t": state.t // 1_000_000, "n": 12},
        "prevDay": {"o": p * 0.97, "h": p, "l": p * 0.96, "c": p * 0.99, "v": 9e5, "vw": p * 0.98},
    }


def _market_status(market: str) -> dict[str, object]:
    """The /v1/marketstatus/now object."""
    return {
        "afterHours": market == "extended-hours",
        "currencies": {"crypto": "open", "fx": "open"},
        "earlyHours": False,
        "exchanges": {"nasdaq": market, "nyse": market, "otc": market},
        "market": market,
        "serverTime": time.strftime("%Y-%m-%dT%H:%M:%S-05:00"),
    }
