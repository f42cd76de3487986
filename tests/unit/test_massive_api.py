"""Tests of the Massive REST boundary against the fake API: calls, error translation, breaker."""

from __future__ import annotations

import asyncio
import itertools
import random
import socket
import string
import threading
from collections.abc import AsyncIterator

import pytest
from fakes import FAKE_KEY, SNAPSHOT_PATH, STATUS_PATH, FakeMassiveRest, Reply

from tickwire_server.domain import MarketState
from tickwire_server.errors import (
    AuthError,
    CircuitOpen,
    MalformedAnswer,
    RateLimited,
    Unavailable,
    UpstreamError,
)
from tickwire_server.sources.massive import wire
from tickwire_server.sources.massive.api import RestApi
from tickwire_server.sources.massive.breaker import CircuitBreaker, RetryDelays

WAIT = 5.0


@pytest.fixture
async def rest() -> AsyncIterator[FakeMassiveRest]:
    async with FakeMassiveRest() as fake:
        fake.set_price("AAPL", 190.0, t=1_795_000_000_123_456_789)
        fake.set_price("MSFT", 410.0)
        yield fake


def _api(url: str, *, threshold: int = 5, key: str = FAKE_KEY, timeout: float = 0.5) -> RestApi:
    breaker = CircuitBreaker(threshold, RetryDelays(10.0, 10.0, random.Random(1)))
    return RestApi(key, url, timeout=timeout, breaker=breaker)


async def test_snapshot_asks_for_exactly_the_tickers_with_the_bearer_key(
    rest: FakeMassiveRest,
) -> None:
    rest.set_no_trade("NEWCO")
    rest.extra_records = ["junk", {"ticker": "BAD", "lastTrade": "x"}]
    api = _api(rest.url)
    async with asyncio.timeout(WAIT):
        answer = await api.snapshot(["AAPL", "NEWCO", "ZZZZ"])
        await api.close()
    [request] = rest.requests
    assert (request.path, request.tickers) == (SNAPSHOT_PATH, ["AAPL", "NEWCO", "ZZZZ"])
    assert request.authorization == f"Bearer {FAKE_KEY}"
    assert [(q.ticker, q.price, q.timestamp_ns) for q in answer.quotes] == [
        ("AAPL", 190.0, 1_795_000_000_123_456_789)
    ]
    assert answer.returned == {"AAPL", "NEWCO"}
    assert (answer.no_price, answer.malformed) == (1, 2)


def _tickers(count: int) -> list[str]:
    """`count` distinct valid tickers in sorted order: AAA, AAB, ..."""
    letters = itertools.product(string.ascii_uppercase[:10], repeat=3)
    return ["".join(p) for p in itertools.islice(letters, count)]


async def test_a_large_snapshot_is_split_into_calls_within_the_chunk_size_and_merged(
    rest: FakeMassiveRest,
) -> None:
    rest.max_url_bytes = 2048  # one chunk's URL fits, the whole set's does not (HTTP 414)
    tickers = _tickers(2 * wire.SNAPSHOT_MAX_TICKERS + 50)
    for i, ticker in enumerate(tickers):
        rest.set_price(ticker, 10.0 + i)
    rest.set_no_trade(tickers[300])
    rest.extra_records = ["junk"]  # one in every answer
    api = _api(rest.url)
    async with asyncio.timeout(WAIT):
        answer = await api.snapshot(tickers)
        await api.close()
    assert [r.status for r in rest.requests] == [200, 200, 200]
    assert all(len(r.tickers) <= wire.SNAPSHOT_MAX_TICKERS for r in rest.requests)
    assert [t for r in rest.requests for t in r.tickers] == tickers  # each asked once, in order
    assert sorted(q.ticker for q in answer.quotes) == tickers[:300] + tickers[301:]
    assert answer.returned == set(tickers)
    assert (answer.no_price, answer.malformed) == (1, 3)


@pytest.mark.parametrize(
    ("market", "state"),
    [("open", MarketState.OPEN), ("closed", MarketState.CLOSED),
     ("extended-hours", MarketState.EXTENDED_HOURS)],
)  # fmt: skip
async def test_market_status(rest: FakeMassiveRest, market: str, state: MarketState) -> None:
    rest.market = market
    api = _api(rest.url)
    async with asyncio.timeout(WAIT):
        assert await api.market_status() is state
        await api.close()
    assert [r.path for r in rest.requests] == [STATUS_PATH]


@pytest.mark.parametrize(
    ("reply", "error", "text", "retry_after"),
    [
        (Reply.error(401, "Unknown API Key"), AuthError, "(HTTP 401: Unknown API Key)", None),
        (Reply.error(403, "Not entitled"), AuthError, "(HTTP 403: Not entitled)", None),
        (Reply.error(429, "slow down", retry_after="7"), RateLimited, "HTTP 429", 7.0),
        (Reply.error(500, "oops"), Unavailable, "HTTP 500", None),
        (Reply.error(503, "busy", retry_after="2"), Unavailable, "HTTP 503", 2.0),
        (Reply.error(404, "no such path"), UpstreamError, "HTTP 404: no such path", None),
        (Reply(body=b"<html>gateway</html>"), MalformedAnswer, "malformed answer", None),
        (Reply(body=b"[]"), MalformedAnswer, "malformed snapshot", None),
        (Reply(drop=True), Unavailable, "cannot reach Massive", None),
        (Reply(delay=1.0), Unavailable, "ReadTimeoutError", None),
    ],
    ids=["401", "403", "429", "500", "503", "404", "html", "list", "dropped", "slow"],
)
async def test_each_failure_is_translated_once_with_no_hidden_retry(
    rest: FakeMassiveRest,
    reply: Reply,
    error: type[UpstreamError],
    text: str,
    retry_after: float | None,
) -> None:
    rest.queue(SNAPSHOT_PATH, reply)
    api = _api(rest.url, timeout=0.3)
    async with asyncio.timeout(WAIT):
        with pytest.raises(UpstreamError) as info:
            await api.snapshot(["AAPL"])
        await api.close()
    assert type(info.value) is error
    assert text in str(info.value)
    assert info.value.retry_after == retry_after
    assert len(rest.requests) == 1  # the package's own retries are off
    assert FAKE_KEY not in str(info.value)


async def test_an_unreachable_host_is_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    api = _api(url)
    async with asyncio.timeout(WAIT):
        with pytest.raises(Unavailable, match="cannot reach Massive at http://127.0.0.1"):
            await api.market_status()
        await api.close()


async def test_an_open_breaker_refuses_without_a_request(rest: FakeMassiveRest) -> None:
    rest.outage = Reply.error(502, "bad gateway")
    api = _api(rest.url, threshold=2)
    async with asyncio.timeout(WAIT):
        for _ in range(2):
            with pytest.raises(Unavailable):
                await api.snapshot(["AAPL"])
        with pytest.raises(CircuitOpen) as info:
            await api.market_status()
        await api.close()
    assert len(rest.requests) == 2
    assert info.value.retry_after is not None and info.value.retry_after > 4.0


async def test_retry_after_holds_back_the_next_call_to_any_path(rest: FakeMassiveRest) -> None:
    rest.queue(SNAPSHOT_PATH, Reply.error(429, "slow down", retry_after="30"))
    api = _api(rest.url)
    async with asyncio.timeout(WAIT):
        with pytest.raises(RateLimited):
            await api.snapshot(["AAPL"])
        with pytest.raises(RateLimited, match="Retry-After") as info:
            await api.market_status()
        await api.close()
    assert len(rest.requests) == 1
    assert info.value.retry_after is not None and 29.0 < info.value.retry_after <= 30.0


async def test_close_waits_for_a_call_whose_caller_left(rest: FakeMassiveRest) -> None:
    rest.queue(SNAPSHOT_PATH, Reply(delay=0.3))
    api = _api(rest.url)
    threads = threading.active_count()
    call = asyncio.ensure_future(api.snapshot(["AAPL"]))
    await rest.next_snapshot()
    call.cancel()
    async with asyncio.timeout(WAIT):
        await asyncio.wait([call])
        await api.close()  # returns once the thread's request is over
    assert call.cancelled()
    assert not api._running
    assert threading.active_count() <= threads + 1  # an idle executor worker at most
    api.breaker.check()  # the cancelled call did not leave the breaker waiting for it
