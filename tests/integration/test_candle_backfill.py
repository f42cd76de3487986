"""Backfill against the fake Massive REST API: gaps, pages, the fewest calls, 429 and 5xx."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fakes import AGGS_PATH, FakeMassiveRest, Reply

from tickwire_server.candles import History, xnys
from tickwire_server.candles.backfill import Backfill, Pacer, chunks
from tickwire_server.candles.bars import BACKFILL
from tickwire_server.candles.book import CandleBook
from tickwire_server.candles.history import parse_retention
from tickwire_server.candles.intervals import NS
from tickwire_server.candles.sqlite import SqliteStore
from tickwire_server.sources.massive.api import RestApi
from tickwire_server.sources.massive.breaker import CircuitBreaker, RetryDelays
from tickwire_server.sources.massive.wire import AGGS_LIMIT

MINUTE = 60 * NS


def at(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).timestamp()) * NS


NOW = at("2026-12-02T18:00:00+00:00")  # a Wednesday, mid-session
DEC1_OPEN, DEC2_OPEN = at("2026-12-01T14:30:00+00:00"), at("2026-12-02T14:30:00+00:00")


class Clock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


@pytest.fixture
async def rest() -> AsyncIterator[FakeMassiveRest]:
    async with FakeMassiveRest() as fake:
        yield fake


@pytest.fixture
async def history(tmp_path: Path) -> AsyncIterator[History]:
    history = History(
        SqliteStore(tmp_path / "c.db"), CandleBook(xnys()), parse_retention("1m=365d,1h=5y,1d=0")
    )
    await history.start()
    yield history
    await history.stop()


def backfill(
    history: History, rest: FakeMassiveRest, clock: Clock, **options: object
) -> tuple[Backfill, RestApi]:
    breaker = CircuitBreaker(5, RetryDelays(0.05, 0.1, random.Random(1)))
    api = RestApi("sk-test-4f1d9c0e", rest.url, timeout=2.0, breaker=breaker)
    pacer = Pacer(600.0, 50)  # fast for tests; the pacing itself is tested below
    settings = {"days": 2, "pacer": pacer, "clock": clock, "retry_after": 0.05, **options}
    return Backfill(history, api, xnys(), **settings), api  # type: ignore[arg-type]


def session_minutes(start: int, end: int) -> list[int]:
    return list(range(start, end, MINUTE))


async def test_gaps_are_fetched_in_the_fewest_calls_and_never_again(
    rest: FakeMassiveRest, history: History
) -> None:
    minutes = session_minutes(DEC1_OPEN, DEC1_OPEN + 390 * MINUTE)
    minutes += session_minutes(DEC2_OPEN, NOW)
    rest.aggs_page_size = 500
    rest.add_minutes("AAPL", minutes[0] // 1_000_000, [100.0 + i * 0.01 for i in range(390)])
    rest.add_minutes("AAPL", DEC2_OPEN // 1_000_000, [200.0 + i * 0.01 for i in range(210)])
    clock = Clock(NOW)
    filler, api = backfill(history, rest, clock)
    assert await filler.gaps("AAPL", NOW) == [
        (DEC1_OPEN, DEC1_OPEN + 390 * MINUTE),
        (DEC2_OPEN, NOW),
    ]
    progress = await filler.run(["AAPL", "QUIET"])
    calls = rest.aggs_requests()
    # AAPL: one range (the night between is free), 600 minutes in pages of 500: two
    # calls. QUIET has no trades at all: one call, and its minutes count as fetched.
    assert (progress.calls, len(calls)) == (3, 3)
    assert calls[0].path == (
        f"{AGGS_PATH}AAPL/range/1/minute/{DEC1_OPEN // 1_000_000}/{NOW // 1_000_000 - 1}"
    )
    assert calls[0].params["limit"] == str(AGGS_LIMIT) and calls[0].params["sort"] == "asc"
    assert calls[1].params["cursor"] == "500"
    assert progress.bars == 600
    assert history.store is not None
    rows = await history.store.read("AAPL", "1m", 0, 2**62, 10_000)
    assert len(rows) == 600 and all(r.source == BACKFILL for r in rows)
    assert rows[0].start == DEC1_OPEN // NS and rows[-1].close == pytest.approx(202.09)
    days = await history.store.read("AAPL", "1d", 0, 2**62, 100)
    assert [(d.start, d.transactions, d.source) for d in days] == [
        (DEC1_OPEN // NS, 3900, BACKFILL)
    ]
    hours = await history.store.read("AAPL", "1h", 0, 2**62, 100)
    assert hours[0].start == at("2026-12-01T14:00:00+00:00") // NS  # the half hour after 14:30
    assert hours[-1].start == NOW // NS - 3600  # the last closed hour; the book forms the next
    assert await filler.gaps("AAPL", NOW) == [] and await filler.gaps("QUIET", NOW) == []
    again = await filler.run(["AAPL", "QUIET"])
    assert again.calls == 0 and len(rest.aggs_requests()) == 3
    await api.close()


async def test_after_a_drop_only_the_minutes_not_watched_are_fetched_in_one_call(
    rest: FakeMassiveRest, history: History
) -> None:
    clock = Clock(NOW)
    filler, api = backfill(history, rest, clock)
    await filler.run(["AAPL"])
    first = len(rest.aggs_requests())
    # Live and healthy from 18:00 to 18:20, then the feed dropped until 18:45.
    await filler.watched(["AAPL"], NOW, NOW + 20 * MINUTE)
    rest.add_minutes("AAPL", (NOW + 20 * MINUTE) // 1_000_000, [50.0] * 25)
    clock.now = NOW + 45 * MINUTE + 30 * NS
    assert await filler.gaps("AAPL", clock.now) == [(NOW + 20 * MINUTE, NOW + 45 * MINUTE)]
    progress = await filler.run(["AAPL"])
    [call] = rest.aggs_requests()[first:]
    assert progress.calls == 1 and progress.bars == 25
    start, end = (NOW + 20 * MINUTE) // 1_000_000, (NOW + 45 * MINUTE) // 1_000_000 - 1
    assert call.path.endswith(f"/{start}/{end}")
    await api.close()


async def test_a_429_is_waited_out_and_a_5xx_tried_again(
    rest: FakeMassiveRest, history: History
) -> None:
    rest.add_minutes("AAPL", DEC2_OPEN // 1_000_000, [10.0, 11.0])
    rest.queue(
        AGGS_PATH,
        Reply.error(429, "You've exceeded the maximum requests per minute", retry_after="1"),
        Reply.error(502, "bad gateway"),
    )
    filler, api = backfill(history, rest, Clock(NOW), days=1)
    loop = asyncio.get_running_loop()
    began = loop.time()
    progress = await filler.run(["AAPL"])
    calls = rest.aggs_requests()
    assert [c.status for c in calls] == [429, 502, 200]
    assert calls[1].at - calls[0].at >= 0.95, "the Retry-After of 1 s was honoured"
    assert progress.calls == 3 and progress.bars == 2 and progress.failed == 0
    assert loop.time() - began < 5
    await api.close()


async def test_a_range_that_keeps_failing_is_left_for_the_next_run(
    rest: FakeMassiveRest, history: History
) -> None:
    rest.outage = Reply.error(500, "down")
    filler, api = backfill(history, rest, Clock(NOW), days=1, attempts=2)
    progress = await filler.run(["AAPL"])
    assert (progress.calls, progress.failed, progress.bars) == (2, 1, 0)
    assert await filler.gaps("AAPL", NOW) == [(DEC2_OPEN, NOW)]  # not covered: tried again
    rest.outage = None  # two failures leave the breaker closed (it opens at five)
    assert (await filler.run(["AAPL"])).failed == 0
    assert await filler.gaps("AAPL", NOW) == []
    await api.close()


async def test_the_pacer_keeps_to_the_plans_rate() -> None:
    now = [0.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    pacer = Pacer(5.0, 5, clock=lambda: now[0], sleep=sleep)  # the free tier
    for _ in range(7):
        await pacer.wait()
    assert slept == pytest.approx([12.0, 12.0])  # five at once, then one every 12 s


def test_chunks_join_gaps_within_one_calls_reach_and_split_longer_ones() -> None:
    day = 86400 * NS
    assert chunks([(0, 10), (20, 30)]) == [(0, 30)]
    assert chunks([(0, 10), (31 * day, 32 * day)]) == [(0, 10), (31 * day, 32 * day)]
    assert chunks([(0, 65 * day)]) == [(0, 30 * day), (30 * day, 60 * day), (60 * day, 65 * day)]


async def test_a_massive_server_backfills_at_start_and_after_the_feed_drops(
    tmp_path: Path, rest: FakeMassiveRest
) -> None:
    import time

    from fakes import FAKE_KEY, FakeMassiveFeed
    from helpers import eventually, serving

    from tickwire.v1 import market_data_pb2 as pb
    from tickwire_server.config import Settings

    now = time.time_ns()
    sessions = xnys().sessions_between(now - 10 * 86400 * NS, now)
    open_, close = sessions[-1]
    rest.set_price("AAPL", 190.0)
    rest.set_price("MSFT", 410.0)
    rest.add_minutes("AAPL", open_ // 1_000_000, [150.0, 151.0, 152.0])
    async with FakeMassiveFeed() as feed:
        settings = Settings(
            port=0, tickers=["AAPL", "MSFT"], massive_api_key=FAKE_KEY, massive_mode="websocket",
            massive_rest_url=rest.url, massive_ws_url=feed.url, massive_status_interval=0.05,
            massive_timeout=0.5, massive_backoff_base=0.05, massive_backoff_max=0.2,
            history_url=f"sqlite:///{tmp_path / 'c.db'}", backfill_days=1,
            massive_calls_per_minute=600,
        )  # fmt: skip
        async with serving(settings) as (server, channel, stub):
            await eventually(lambda: server.backfiller is not None, wait=30)
            backfiller = server.backfiller
            assert backfiller is not None
            await eventually(lambda: backfiller.runs >= 1, wait=10)
            first = rest.aggs_requests()
            assert sorted(r.path.split("/")[4] for r in first) == ["AAPL", "MSFT"]  # one each
            request = pb.GetMarketStatusRequest()
            assert "backfill" not in (await stub.GetMarketStatus(request)).status.message
            from tickwire.v1 import candles_pb2 as cpb

            bars = await stub.GetCandles(
                cpb.GetCandlesRequest(
                    ticker="AAPL",
                    interval=cpb.CANDLE_INTERVAL_1_MIN,
                    start={"seconds": open_ // NS},
                    end={"seconds": open_ // NS + 600},
                )  # fmt: skip
            )
            assert [(b.close, b.source) for b in bars.candles] == [
                (150.0, cpb.CANDLE_SOURCE_BACKFILL),
                (151.0, cpb.CANDLE_SOURCE_BACKFILL),
                (152.0, cpb.CANDLE_SOURCE_BACKFILL),
            ]
            feed.drop()
            await eventually(lambda: backfiller.runs >= 2, wait=10)
            # Only the minutes of the drop can be missing: at most one call a ticker, none
            # when the drop fell outside the session.
            assert len(rest.aggs_requests()) - len(first) <= 2
            in_session = open_ <= time.time_ns() < close
            if not in_session:
                assert len(rest.aggs_requests()) == len(first)
