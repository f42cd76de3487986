"""Tests of StreamSession: per-ticker statuses, limits, normalisation and release."""

from __future__ import annotations

import asyncio

import pytest
from fakes.scripted import ScriptedSource

from tickwire.v1 import market_data_pb2 as pb
from tickwire_server import symbols
from tickwire_server.cache import PriceCache
from tickwire_server.domain import TickerResult, TickerStatus
from tickwire_server.hub import Hub
from tickwire_server.session import StreamSession
from tickwire_server.subscriber import Subscriber

TIMEOUT = 2.0
OK = TickerStatus.OK


async def _session(
    *,
    max_tickers: int = 100,
    universe: dict[str, float] | None = None,
    strict: bool = False,
) -> tuple[StreamSession, ScriptedSource, Hub]:
    source = ScriptedSource(universe, strict=strict)
    hub = Hub(source, PriceCache(), release_grace=0.0)
    await source.start(hub)
    return StreamSession(hub, Subscriber(), source, max_tickers=max_tickers), source, hub


def _statuses(results: list[TickerResult]) -> list[tuple[str, TickerStatus]]:
    return [(r.ticker, r.status) for r in results]


async def test_subscribe_accepts_valid_tickers() -> None:
    session, source, hub = await _session()
    results = session.subscribe(["AAPL", "BRK.B"])
    assert _statuses(results) == [("AAPL", OK), ("BRK.B", OK)]
    assert all(r.message == "" for r in results)
    assert session.tickers == {"AAPL", "BRK.B"}
    assert source.requested == [("add", "AAPL"), ("add", "BRK.B")]
    assert hub.subscriber_count("AAPL") == 1


async def test_session_attaches_its_subscriber_to_the_hub() -> None:
    session, _, hub = await _session()
    assert hub.subscriber_count() == 1
    assert session.tickers is session.subscriber.tickers


async def test_subscribe_normalises_tickers() -> None:
    session, source, _ = await _session()
    results = session.subscribe(["  aapl ", "brk.b", "Bf-b\t"])
    assert _statuses(results) == [("AAPL", OK), ("BRK.B", OK), ("BF-B", OK)]
    assert session.tickers == {"AAPL", "BRK.B", "BF-B"}
    assert [t for _, t in source.requested] == ["AAPL", "BRK.B", "BF-B"]


@pytest.mark.parametrize("raw", ["AAPL$", ".X", "", "ABCDEFGHIJK", "a b", "aapl$"])
async def test_malformed_ticker_is_invalid_symbol_with_the_ticker_as_sent(raw: str) -> None:
    session, source, _ = await _session()
    [result] = session.subscribe([raw])
    assert result.status is TickerStatus.INVALID_SYMBOL
    assert result.ticker == raw
    assert result.message == symbols.invalid_reason(raw)
    assert session.tickers == set()
    assert source.requested == []


async def test_ticker_the_source_does_not_serve_is_unknown() -> None:
    session, source, _ = await _session(universe={"AAPL": 190.0}, strict=True)
    results = session.subscribe(["zzzz", "AAPL"])
    assert _statuses(results) == [("ZZZZ", TickerStatus.UNKNOWN_TICKER), ("AAPL", OK)]
    assert "ZZZZ" in results[0].message
    assert "synthetic" in results[0].message
    assert session.tickers == {"AAPL"}
    assert ("add", "ZZZZ") not in source.requested


async def test_tickers_past_the_limit_are_refused_in_request_order() -> None:
    session, _, _ = await _session(max_tickers=3)
    results = session.subscribe(["E", "D", "C", "B", "A"])
    assert _statuses(results) == [
        ("E", OK),
        ("D", OK),
        ("C", OK),
        ("B", TickerStatus.LIMIT_EXCEEDED),
        ("A", TickerStatus.LIMIT_EXCEEDED),
    ]
    assert "3" in results[3].message
    assert session.tickers == {"E", "D", "C"}


async def test_limit_counts_tickers_held_from_earlier_requests() -> None:
    session, _, _ = await _session(max_tickers=2)
    session.subscribe(["AAPL"])
    results = session.subscribe(["MSFT", "V"])
    assert _statuses(results) == [("MSFT", OK), ("V", TickerStatus.LIMIT_EXCEEDED)]

    session.unsubscribe(["AAPL"])
    assert _statuses(session.subscribe(["V"])) == [("V", OK)]
    assert session.tickers == {"MSFT", "V"}


async def test_refused_and_held_tickers_do_not_use_up_the_limit() -> None:
    session, _, _ = await _session(max_tickers=2, universe={"AAPL": 1.0, "MSFT": 1.0}, strict=True)
    session.subscribe(["AAPL"])
    results = session.subscribe(["AAPL", "BAD$", "ZZZZ", "MSFT"])
    assert _statuses(results) == [
        ("AAPL", OK),
        ("BAD$", TickerStatus.INVALID_SYMBOL),
        ("ZZZZ", TickerStatus.UNKNOWN_TICKER),
        ("MSFT", OK),
    ]
    assert session.tickers == {"AAPL", "MSFT"}


async def test_already_subscribed_ticker_is_ok_and_not_requested_again() -> None:
    session, source, _ = await _session()
    session.subscribe(["AAPL"])
    [result] = session.subscribe([" aapl"])
    assert (result.ticker, result.status) == ("AAPL", OK)
    assert result.message == "already subscribed"
    assert source.requested == [("add", "AAPL")]


async def test_already_subscribed_is_ok_even_at_the_limit() -> None:
    session, _, _ = await _session(max_tickers=1)
    session.subscribe(["AAPL"])
    assert _statuses(session.subscribe(["AAPL"])) == [("AAPL", OK)]


async def test_duplicates_within_one_request_are_answered_once() -> None:
    session, source, _ = await _session()
    results = session.subscribe(["AAPL", "aapl", " AAPL ", "MSFT", "AAPL", "msft"])
    assert _statuses(results) == [("AAPL", OK), ("MSFT", OK)]
    assert source.requested == [("add", "AAPL"), ("add", "MSFT")]


async def test_duplicate_invalid_tickers_are_answered_once() -> None:
    session, _, _ = await _session()
    results = session.subscribe(["a$", "A$", "a$"])
    assert _statuses(results) == [("a$", TickerStatus.INVALID_SYMBOL)]


async def test_one_bad_ticker_never_fails_the_others() -> None:
    session, _, _ = await _session(max_tickers=3, universe={"AAPL": 1.0, "MSFT": 1.0}, strict=True)
    results = session.subscribe(["AAPL", "", "NOPE", "ABCDEFGHIJK", "msft", "AAPL$"])
    assert _statuses(results) == [
        ("AAPL", OK),
        ("", TickerStatus.INVALID_SYMBOL),
        ("NOPE", TickerStatus.UNKNOWN_TICKER),
        ("ABCDEFGHIJK", TickerStatus.INVALID_SYMBOL),
        ("MSFT", OK),
        ("AAPL$", TickerStatus.INVALID_SYMBOL),
    ]
    assert session.tickers == {"AAPL", "MSFT"}


async def test_subscribe_queues_a_snapshot_of_a_cached_price() -> None:
    session, _, _ = await _session(universe={"AAPL": 190.0})
    session.subscribe(["aapl"])
    async with asyncio.timeout(TIMEOUT):
        [frame] = await session.subscriber.next_frames(0)
    response = pb.SubscribeResponse()
    response.ParseFromString(frame)
    [update] = response.prices.updates
    assert (update.ticker, update.price, update.state) == ("AAPL", 190.0, pb.DATA_STATE_SNAPSHOT)


# Unsubscribe -----------------------------------------------------------------------------


async def test_unsubscribe_removes_held_tickers_and_releases_them() -> None:
    session, source, hub = await _session()
    session.subscribe(["AAPL", "MSFT"])
    results = session.unsubscribe([" aapl "])
    assert _statuses(results) == [("AAPL", OK)]
    assert session.tickers == {"MSFT"}
    assert ("remove", "AAPL") in source.requested
    assert hub.subscriber_count("AAPL") == 0


async def test_unsubscribe_of_a_ticker_not_held_is_not_subscribed() -> None:
    session, source, _ = await _session()
    session.subscribe(["AAPL"])
    results = session.unsubscribe(["MSFT", "AAPL", "BAD$", "aapl"])
    assert _statuses(results) == [
        ("MSFT", TickerStatus.NOT_SUBSCRIBED),
        ("AAPL", OK),
        ("BAD$", TickerStatus.INVALID_SYMBOL),
    ]
    assert results[2].message == symbols.invalid_reason("BAD$")
    assert session.tickers == set()
    assert ("remove", "MSFT") not in source.requested


async def test_unsubscribe_twice_is_not_subscribed_the_second_time() -> None:
    session, _, _ = await _session()
    session.subscribe(["AAPL"])
    session.unsubscribe(["AAPL"])
    assert _statuses(session.unsubscribe(["AAPL"])) == [("AAPL", TickerStatus.NOT_SUBSCRIBED)]


# Close -------------------------------------------------------------------------------------


async def test_close_releases_every_ticker_and_detaches() -> None:
    session, source, hub = await _session()
    session.subscribe(["AAPL", "MSFT"])
    session.close()
    assert session.tickers == set()
    assert hub.subscriber_count() == 0
    assert hub.upstream_tickers() == set()
    assert sorted(t for action, t in source.requested if action == "remove") == ["AAPL", "MSFT"]

    session.close()  # idempotent
    assert source.requested.count(("remove", "AAPL")) == 1


async def test_close_keeps_tickers_other_streams_hold() -> None:
    session, source, hub = await _session()
    other = StreamSession(hub, Subscriber(), source, max_tickers=10)
    session.subscribe(["AAPL", "MSFT"])
    other.subscribe(["MSFT"])
    session.close()
    assert hub.upstream_tickers() == {"MSFT"}
    assert ("remove", "MSFT") not in source.requested


# Limits that protect everyone else -----------------------------------------------------------


async def test_the_universe_cap_refuses_new_upstream_tickers_and_names_the_limit() -> None:
    source = ScriptedSource({})
    hub = Hub(source, PriceCache(), release_grace=60.0, max_universe=3)
    await source.start(hub)
    first = StreamSession(hub, Subscriber(), source, max_tickers=100)
    second = StreamSession(hub, Subscriber(), source, max_tickers=100)
    assert _statuses(first.subscribe(["A", "B"])) == [("A", OK), ("B", OK)]
    first.unsubscribe(["B"])  # in its grace: still upstream, still counted
    results = second.subscribe(["A", "C", "D"])  # A is upstream already: no room needed
    assert _statuses(results) == [("A", OK), ("C", OK), ("D", TickerStatus.LIMIT_EXCEEDED)]
    assert "at most 3 tickers at once" in results[2].message
    assert ("add", "D") not in source.requested


async def test_released_tickers_count_against_the_stream_until_released_upstream() -> None:
    source = ScriptedSource({})
    hub = Hub(source, PriceCache(), release_grace=0.05)
    await source.start(hub)
    session = StreamSession(hub, Subscriber(), source, max_tickers=2)
    session.subscribe(["A", "B"])
    session.unsubscribe(["A", "B"])
    [refused] = session.subscribe(["C"])  # A and B are still upstream for the grace
    assert refused.status is TickerStatus.LIMIT_EXCEEDED
    assert "2 it released are still upstream" in refused.message
    async with asyncio.timeout(TIMEOUT):
        await source.wait_requested("remove", "B")
    assert _statuses(session.subscribe(["C", "D"])) == [("C", OK), ("D", OK)]


async def test_a_resubscribe_within_the_grace_gives_the_slot_back() -> None:
    source = ScriptedSource({})
    hub = Hub(source, PriceCache(), release_grace=60.0)
    await source.start(hub)
    session = StreamSession(hub, Subscriber(), source, max_tickers=1)
    session.subscribe(["A"])
    session.unsubscribe(["A"])
    assert _statuses(session.subscribe(["A"])) == [("A", OK)]  # back from its grace
    assert session.subscriber.releasing == 0


async def test_requests_past_the_bucket_are_rate_limited_whole_and_counted() -> None:
    from tickwire_server.limits import TokenBucket

    source = ScriptedSource({})
    hub = Hub(source, PriceCache(), release_grace=0.0)
    await source.start(hub)
    bucket = TokenBucket(rate=1e-9, burst=2)  # two requests, then none for a long time
    session = StreamSession(hub, Subscriber(), source, max_tickers=10, bucket=bucket)
    session.subscribe(["A"])
    session.unsubscribe(["A"])
    results = session.subscribe(["B", "bad$"])
    assert [r.status for r in results] == [TickerStatus.RATE_LIMITED] * 2
    assert "retry later" in results[0].message
    assert session.tickers == set() and ("add", "B") not in source.requested
    session.unsubscribe(["B"])
    assert session.refused_in_a_row == 2
