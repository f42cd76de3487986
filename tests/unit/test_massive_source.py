"""Tests of MassiveSource's policy: start-up key check, publish filter, stale marking, states."""

from __future__ import annotations

import asyncio
import itertools
import socket
import string
import time
from collections.abc import AsyncIterator, Callable, Sequence

import pytest
from fakes import FakeMassiveRest
from pydantic import SecretStr

from tickwire_server.domain import MarketState, Quote, SourceState, SourceStatus
from tickwire_server.errors import AuthError, CircuitOpen, RateLimited, Unavailable
from tickwire_server.sources.base import PriceSource
from tickwire_server.sources.massive import MassiveOptions, MassiveSource, wire
from tickwire_server.sources.massive import source as source_module
from tickwire_server.sources.massive.feed import Part

WAIT = 5.0
T = 1_795_000_000_000_000_000


class RecordingSink:
    """A PriceSink that keeps everything it is told and wakes waiters."""

    def __init__(self) -> None:
        self.published: list[Quote] = []
        self.statuses: list[SourceStatus] = []
        self.rejected: list[list[str]] = []
        self.stale: list[list[str]] = []
        self._changed = asyncio.Event()

    def publish(self, quotes: Sequence[Quote]) -> None:
        self.published.extend(quotes)
        self._changed.set()

    def set_status(self, status: SourceStatus) -> None:
        self.statuses.append(status)

    def reject(self, tickers: Sequence[str], reason: str) -> None:
        self.rejected.append(list(tickers))

    def mark_stale(self, tickers: Sequence[str]) -> None:
        self.stale.append(list(tickers))

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        async with asyncio.timeout(WAIT):
            while not condition():
                self._changed.clear()
                await self._changed.wait()


def _leftover_tasks() -> list[asyncio.Task[object]]:
    """Tasks still running other than this test and the fake server's connection handlers."""
    return [
        t
        for t in asyncio.all_tasks()
        if t is not asyncio.current_task()
        and not t.get_coro().__qualname__.startswith("FakeMassiveRest.")  # type: ignore[union-attr]
    ]


def _options(url: str, **changes: object) -> MassiveOptions:
    values: dict[str, object] = {
        "api_key": SecretStr("sk-test-4f1d9c0e"),
        "rest_url": url,
        "tickers": ("AAPL", "MSFT"),
        "poll_interval": 3600.0,  # one poll at start, then the test drives the outlet
        "status_interval": 3600.0,
        "breaker_threshold": 3,
        "backoff_base": 0.05,
        "backoff_max": 0.1,
    }
    return MassiveOptions(**{**values, **changes})  # type: ignore[arg-type]


@pytest.fixture
async def rest() -> AsyncIterator[FakeMassiveRest]:
    async with FakeMassiveRest() as fake:
        fake.set_price("AAPL", 190.0, t=T)
        fake.set_price("MSFT", 410.0, t=T)
        yield fake


@pytest.fixture
async def started(rest: FakeMassiveRest) -> AsyncIterator[tuple[MassiveSource, RecordingSink]]:
    source, sink = MassiveSource(_options(rest.url)), RecordingSink()
    await source.start(sink)
    await sink.wait_until(lambda: len(sink.published) == 2)
    yield source, sink
    await source.stop()


def test_massive_source_satisfies_the_price_source_protocol() -> None:
    source: PriceSource = MassiveSource(_options("http://127.0.0.1:9"))
    assert source.name == "massive"
    assert source.status().state is SourceState.STARTING


async def test_a_rejected_key_fails_start_and_leaves_nothing_running(
    rest: FakeMassiveRest,
) -> None:
    source = MassiveSource(_options(rest.url, api_key=SecretStr("sk-wrong")))
    with pytest.raises(AuthError, match=r"rejected the API key \(HTTP 401: Unknown API Key\)"):
        async with asyncio.timeout(WAIT):
            await source.start(RecordingSink())
    assert len(rest.requests) == 1
    assert _leftover_tasks() == []


async def test_an_unreachable_upstream_at_start_is_degraded_not_fatal() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    source, sink = MassiveSource(_options(url, timeout=0.2)), RecordingSink()
    async with asyncio.timeout(WAIT):
        await source.start(sink)
        status = source.status()
        await source.stop()
    assert status.state is SourceState.DEGRADED
    assert status.message.startswith("market status: cannot reach Massive at")


async def test_start_reports_the_market_and_the_first_prices(
    started: tuple[MassiveSource, RecordingSink],
) -> None:
    source, sink = started
    assert source.status().market is MarketState.OPEN
    assert [(q.ticker, q.price) for q in sink.published] == [("AAPL", 190.0), ("MSFT", 410.0)]
    assert [m.ticker for m in source.tickers()] == ["AAPL", "MSFT"]
    assert source.tickers()[0].seed_price == 190.0


async def test_only_newer_or_changed_quotes_of_wanted_tickers_are_published(
    started: tuple[MassiveSource, RecordingSink],
) -> None:
    source, sink = started
    sink.published.clear()
    source.offer(
        [
            Quote("AAPL", 190.0, T),  # the same trade again
            Quote("AAPL", 189.0, T - 1),  # older
            Quote("AAPL", 190.5, T),  # same time, another price
            Quote("MSFT", 411.0, T + 1),  # newer
            Quote("TSLA", 250.0, T + 1),  # nobody wants it
        ]
    )
    assert [(q.ticker, q.price) for q in sink.published] == [("AAPL", 190.5), ("MSFT", 411.0)]


async def test_a_price_failure_marks_published_tickers_stale_once_and_fresh_data_clears_it(
    started: tuple[MassiveSource, RecordingSink],
) -> None:
    source, sink = started
    source.failed(Part.PRICES, Unavailable("HTTP 500"), 0.1, 1)
    source.failed(Part.PRICES, Unavailable("HTTP 500"), 0.2, 2)
    source.failed(Part.MARKET, Unavailable("HTTP 500"), 0.2, 1)
    assert sink.stale == [["AAPL", "MSFT"]]

    sink.published.clear()
    source.offer([Quote("AAPL", 190.0, T)])  # the same trade, now confirmed live again
    assert [(q.ticker, q.price) for q in sink.published] == [("AAPL", 190.0)]
    source.failed(Part.PRICES, Unavailable("HTTP 500"), 0.1, 1)
    assert sink.stale == [["AAPL", "MSFT"], ["AAPL"]]


@pytest.mark.parametrize(
    ("error", "failures", "state"),
    [
        (Unavailable("Massive answered HTTP 500"), 1, SourceState.DEGRADED),
        (RateLimited("rate limited by Massive (HTTP 429)"), 2, SourceState.DEGRADED),
        (Unavailable("Massive answered HTTP 500"), 3, SourceState.ERROR),
        (CircuitOpen("circuit open (last failure: HTTP 500)"), 1, SourceState.ERROR),
        (AuthError("Massive rejected the API key (HTTP 401: Unknown API Key)"), 1,
         SourceState.ERROR),
    ],
)  # fmt: skip
async def test_failures_map_to_states_and_recovery_is_healthy(
    started: tuple[MassiveSource, RecordingSink],
    error: Exception,
    failures: int,
    state: SourceState,
) -> None:
    source, sink = started
    assert isinstance(error, Unavailable | RateLimited | CircuitOpen | AuthError)
    source.failed(Part.PRICES, error, 0.1, failures)
    assert (sink.statuses[-1].state, sink.statuses[-1].message) == (state, f"prices: {error}")
    source.succeeded(Part.PRICES)
    assert (sink.statuses[-1].state, sink.statuses[-1].message) == (SourceState.HEALTHY, "")


async def test_the_worst_part_wins_and_messages_are_joined(
    started: tuple[MassiveSource, RecordingSink],
) -> None:
    source, sink = started
    source.failed(Part.MARKET, Unavailable("HTTP 502"), 0.1, 1)
    source.failed(Part.PRICES, AuthError("bad key"), 0.1, 1)
    status = sink.statuses[-1]
    assert status.state is SourceState.ERROR
    assert status.message == "prices: bad key; market status: HTTP 502"
    count = len(sink.statuses)
    source.failed(Part.PRICES, AuthError("bad key"), 0.2, 2)
    assert len(sink.statuses) == count  # the same thing again is not pushed again


async def test_an_unknown_ticker_is_rejected_dropped_and_forgotten_after_a_while(
    started: tuple[MassiveSource, RecordingSink], monkeypatch: pytest.MonkeyPatch
) -> None:
    source, sink = started
    source.add_ticker("ZZZZ")
    assert source.wanted() == ["AAPL", "MSFT", "ZZZZ"]
    source.reject(["ZZZZ", "MSFT"])
    assert sink.rejected == [["ZZZZ", "MSFT"]]
    assert source.wanted() == ["AAPL"]  # even a default goes when Massive does not know it
    assert not source.knows("ZZZZ") and source.knows("AAPL")
    later = time.monotonic() + source_module.UNKNOWN_FOR + 1
    monkeypatch.setattr(time, "monotonic", lambda: later)
    assert source.knows("ZZZZ")


async def test_a_ticker_set_beyond_one_snapshot_call_is_polled_in_chunks_with_unknowns_found(
    rest: FakeMassiveRest,
) -> None:
    letters = itertools.product(string.ascii_uppercase[:10], repeat=3)
    known = ["".join(p) for p in itertools.islice(letters, 2 * wire.SNAPSHOT_MAX_TICKERS)]
    for ticker in known:
        rest.set_price(ticker, 50.0, t=T)
    source, sink = MassiveSource(_options(rest.url, tickers=(*known, "ZZZZ"))), RecordingSink()
    async with asyncio.timeout(WAIT):
        await source.start(sink)
    try:
        await sink.wait_until(lambda: len(sink.published) >= len(known))
    finally:
        async with asyncio.timeout(WAIT):
            await source.stop()
    assert sorted(q.ticker for q in sink.published) == known  # every ticker's price, once
    requests = rest.snapshot_requests()
    assert len(requests) == 3
    assert all(len(r.tickers) <= wire.SNAPSHOT_MAX_TICKERS for r in requests)
    # ZZZZ comes alone in the last call, whose answer is empty: still unknown, since
    # the poll as a whole returned tickers.
    assert requests[-1].tickers == ["ZZZZ"]
    assert sink.rejected == [["ZZZZ"]]
    assert source.wanted() == known


async def test_remove_keeps_defaults_and_forgets_the_rest(
    started: tuple[MassiveSource, RecordingSink],
) -> None:
    source, _ = started
    source.add_ticker("NVDA")
    source.remove_ticker("NVDA")
    source.remove_ticker("AAPL")
    source.remove_ticker("NEVER")
    assert source.wanted() == ["AAPL", "MSFT"]


async def test_stop_is_idempotent_and_reports_stopped(rest: FakeMassiveRest) -> None:
    source, sink = MassiveSource(_options(rest.url)), RecordingSink()
    await source.start(sink)
    await source.start(sink)  # a no-op
    await source.stop()
    await source.stop()
    assert [s.state for s in sink.statuses][-1] is SourceState.STOPPED
    assert [s.state for s in sink.statuses].count(SourceState.STOPPED) == 1
    assert _leftover_tasks() == []
