"""Tests of Hub and LoopSink: ref-counted upstream, snapshots, fan-out, status and shutdown."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable

import numpy as np
import pytest
from fakes.scripted import ScriptedSource

from tickwire.v1 import market_data_pb2 as pb
from tickwire_server import codec
from tickwire_server.cache import PriceCache
from tickwire_server.domain import MarketState, PriceBlock, Quote, SourceState, SourceStatus
from tickwire_server.errors import EndReason, StreamEnded
from tickwire_server.hub import Hub, LoopSink
from tickwire_server.subscriber import Subscriber

TIMEOUT = 2.0
GRACE = 0.05


class SignallingSource(ScriptedSource):
    """ScriptedSource that also lets a test await the hub's remove_ticker calls."""

    def __init__(self, universe: dict[str, float] | None = None) -> None:
        super().__init__(universe)
        self._removed: dict[str, asyncio.Event] = {}

    def remove_ticker(self, ticker: str) -> bool:
        stopped = super().remove_ticker(ticker)
        self.removed(ticker).set()
        return stopped

    def removed(self, ticker: str) -> asyncio.Event:
        return self._removed.setdefault(ticker, asyncio.Event())

    async def wait_removed(self, ticker: str) -> None:
        async with asyncio.timeout(TIMEOUT):
            await self.removed(ticker).wait()


class RecordingSubscriber(Subscriber):
    """A Subscriber that remembers every offer: the element object and the thread."""

    def __init__(self) -> None:
        super().__init__()
        self.offered: list[tuple[str, bytes, int]] = []

    def offer(self, ticker: str, element: bytes) -> None:
        self.offered.append((ticker, element, threading.get_ident()))
        super().offer(ticker, element)


async def _hub(
    grace: float = GRACE, universe: dict[str, float] | None = None
) -> tuple[SignallingSource, Hub, PriceCache]:
    source = SignallingSource(universe)
    cache = PriceCache()
    hub = Hub(source, cache, release_grace=grace)
    await source.start(hub)
    return source, hub, cache


def _attach(hub: Hub, *tickers: str) -> RecordingSubscriber:
    sub = RecordingSubscriber()
    hub.attach(sub)
    hub.add(sub, tickers)
    return sub


def _parse(frame: bytes) -> pb.SubscribeResponse:
    response = pb.SubscribeResponse()
    response.ParseFromString(frame)
    return response


async def _frames(sub: Subscriber, max_wait: float | None = 0.0) -> list[pb.SubscribeResponse]:
    async with asyncio.timeout(TIMEOUT):
        return [_parse(f) for f in await sub.next_frames(max_wait)]


def _updates(responses: list[pb.SubscribeResponse]) -> list[pb.PriceUpdate]:
    return [u for r in responses if r.WhichOneof("response") == "prices" for u in r.prices.updates]


# Ref-counted upstream ----------------------------------------------------------------


@pytest.mark.parametrize("grace", [GRACE, 0.0])
async def test_first_subscriber_requests_the_ticker_once(grace: float) -> None:
    source, hub, cache = await _hub(grace)
    _attach(hub, "AAPL")
    assert source.requested == [("add", "AAPL")]
    _attach(hub, "AAPL")
    _attach(hub, "AAPL", "MSFT")
    assert source.requested == [("add", "AAPL"), ("add", "MSFT")]
    assert hub.subscriber_count("AAPL") == 3
    assert hub.subscriber_count("MSFT") == 1
    assert hub.subscriber_count() == 3
    assert hub.upstream_tickers() == {"AAPL", "MSFT"}


async def test_adding_a_held_ticker_again_changes_nothing() -> None:
    source, hub, cache = await _hub()
    sub = _attach(hub, "AAPL")
    hub.add(sub, ["AAPL", "AAPL"])
    assert source.requested == [("add", "AAPL")]
    assert hub.subscriber_count("AAPL") == 1


async def test_last_subscriber_leaving_releases_the_ticker_after_the_grace() -> None:
    source, hub, cache = await _hub(GRACE)
    a = _attach(hub, "AAPL")
    b = _attach(hub, "AAPL")

    hub.remove(a, ["AAPL"])
    hub.remove(b, ["AAPL"])
    # Nobody holds it, but it stays upstream during the grace.
    assert hub.subscriber_count("AAPL") == 0
    assert source.requested == [("add", "AAPL")]
    assert hub.upstream_tickers() == {"AAPL"}

    await source.wait_removed("AAPL")
    assert source.requested == [("add", "AAPL"), ("remove", "AAPL")]
    assert hub.upstream_tickers() == set()


async def test_one_of_two_subscribers_leaving_keeps_the_ticker() -> None:
    source, hub, cache = await _hub(0.0)
    a = _attach(hub, "AAPL")
    _attach(hub, "AAPL")
    hub.remove(a, ["AAPL"])
    assert source.requested == [("add", "AAPL")]
    assert hub.subscriber_count("AAPL") == 1


async def test_zero_grace_releases_at_once() -> None:
    source, hub, cache = await _hub(0.0)
    sub = _attach(hub, "AAPL")
    hub.remove(sub, ["AAPL"])
    assert source.requested == [("add", "AAPL"), ("remove", "AAPL")]
    assert hub.upstream_tickers() == set()


async def test_resubscribe_within_the_grace_cancels_the_release() -> None:
    source, hub, cache = await _hub(GRACE)
    sub = _attach(hub, "AAPL")
    hub.remove(sub, ["AAPL"])
    hub.add(sub, ["AAPL"])  # same loop turn: well within the grace

    # A second ticker released later than AAPL would have been works as the clock:
    # when its release fires, AAPL's (scheduled earlier) would have fired too.
    clock = _attach(hub, "CLOCK")
    hub.remove(clock, ["CLOCK"])
    await source.wait_removed("CLOCK")

    assert ("remove", "AAPL") not in source.requested
    assert source.requested.count(("add", "AAPL")) == 1
    assert hub.upstream_tickers() == {"AAPL"}


async def test_resubscribe_after_the_release_requests_the_ticker_again() -> None:
    source, hub, cache = await _hub(GRACE)
    sub = _attach(hub, "AAPL")
    hub.remove(sub, ["AAPL"])
    await source.wait_removed("AAPL")
    hub.add(sub, ["AAPL"])
    assert source.requested == [("add", "AAPL"), ("remove", "AAPL"), ("add", "AAPL")]


async def test_remove_ignores_tickers_the_subscriber_does_not_hold() -> None:
    source, hub, cache = await _hub(0.0)
    a = _attach(hub, "AAPL")
    b = _attach(hub)
    hub.remove(b, ["AAPL", "ZZZZ"])
    assert hub.subscriber_count("AAPL") == 1
    assert a.tickers == {"AAPL"}
    assert source.requested == [("add", "AAPL")]


async def test_detach_releases_everything_the_subscriber_held() -> None:
    source, hub, cache = await _hub(0.0)
    a = _attach(hub, "AAPL", "MSFT")
    b = _attach(hub, "MSFT")
    source.push({"AAPL": 190.0})

    hub.detach(a)
    assert a.tickers == set()
    assert a.pending == 0
    assert hub.subscriber_count() == 1
    assert hub.subscriber_count("AAPL") == 0
    assert ("remove", "AAPL") in source.requested
    assert ("remove", "MSFT") not in source.requested

    hub.detach(b)
    assert ("remove", "MSFT") in source.requested
    assert hub.subscriber_count() == 0
    assert hub.upstream_tickers() == set()


async def test_detached_subscriber_gets_no_more_output() -> None:
    source, hub, cache = await _hub(0.0)
    sub = _attach(hub, "AAPL")
    hub.detach(sub)
    source.push({"AAPL": 190.0})
    source.set_status(SourceState.DEGRADED, message="slow")
    assert await _frames(sub, 0.01) == []


# Snapshots and fan-out -----------------------------------------------------------------


async def test_subscribe_queues_the_cached_price_as_a_snapshot() -> None:
    source, hub, cache = await _hub(universe={"AAPL": 190.0})
    sub = _attach(hub, "AAPL", "MSFT")  # MSFT has no price yet
    [update] = _updates(await _frames(sub))
    assert (update.ticker, update.price) == ("AAPL", 190.0)
    assert update.state == pb.DATA_STATE_SNAPSHOT
    cached = cache.get("AAPL")
    assert cached is not None
    assert cached.update.state == pb.DATA_STATE_LIVE

    source.push({"AAPL": 191.0, "MSFT": 400.0})
    live = {u.ticker: u for u in _updates(await _frames(sub))}
    assert set(live) == {"AAPL", "MSFT"}
    assert all(u.state == pb.DATA_STATE_LIVE for u in live.values())
    assert live["AAPL"].sequence == update.sequence + 1


async def test_publish_reaches_only_subscribers_of_the_ticker() -> None:
    source, hub, cache = await _hub()
    only_aapl = _attach(hub, "AAPL")
    only_msft = _attach(hub, "MSFT")
    both = _attach(hub, "AAPL", "MSFT")
    nothing = _attach(hub)

    source.push({"AAPL": 190.0, "MSFT": 400.0, "V": 280.0})

    assert [u.ticker for u in _updates(await _frames(only_aapl))] == ["AAPL"]
    assert [u.ticker for u in _updates(await _frames(only_msft))] == ["MSFT"]
    assert sorted(u.ticker for u in _updates(await _frames(both))) == ["AAPL", "MSFT"]
    assert await _frames(nothing, 0.01) == []
    assert cache.get("V") is not None  # cached even with no subscriber


async def test_an_update_is_encoded_once_for_all_subscribers() -> None:
    source, hub, cache = await _hub()
    subs = [_attach(hub, "AAPL") for _ in range(3)]
    source.push({"AAPL": 190.0})
    cached = cache.get("AAPL")
    assert cached is not None
    elements = [sub.offered[-1][1] for sub in subs]
    assert all(element is cached.element for element in elements)


async def test_snapshot_is_encoded_once_for_all_subscribers() -> None:
    _, hub, cache = await _hub(universe={"AAPL": 190.0})
    subs = [_attach(hub, "AAPL") for _ in range(3)]
    first = subs[0].offered[0][1]
    assert all(sub.offered[0][1] is first for sub in subs)


async def test_publish_skips_rejected_prices_and_delivers_the_rest() -> None:
    source, hub, cache = await _hub()
    sub = _attach(hub, "AAPL", "MSFT")
    now = time.time_ns()
    source.push([Quote("AAPL", float("nan"), now), Quote("MSFT", 400.0, now)])
    assert [u.ticker for u in _updates(await _frames(sub))] == ["MSFT"]
    assert cache.rejected == 1


# Status ------------------------------------------------------------------------------


async def test_status_change_is_pushed_to_every_stream_and_listener() -> None:
    source, hub, cache = await _hub()
    heard: list[SourceStatus] = []
    hub.on_status(heard.append)
    subs = [_attach(hub, "AAPL"), _attach(hub)]
    assert hub.status.state is SourceState.HEALTHY

    source.set_status(SourceState.DEGRADED, MarketState.CLOSED, "late data")

    assert [(s.state, s.market, s.message) for s in heard] == [
        (SourceState.DEGRADED, MarketState.CLOSED, "late data")
    ]
    assert hub.status is heard[0]
    for sub in subs:
        [response] = await _frames(sub)
        assert response.WhichOneof("response") == "market_status"
        status = response.market_status
        assert status.source == "synthetic"
        assert status.source_state == pb.SOURCE_STATE_DEGRADED
        assert status.market == pb.MARKET_STATE_CLOSED
        assert status.message == "late data"


async def test_unchanged_status_is_not_pushed_again() -> None:
    source, hub, cache = await _hub()
    heard: list[SourceStatus] = []
    hub.on_status(heard.append)
    sub = _attach(hub)

    source.set_status(SourceState.HEALTHY)  # what the hub already has, said later
    assert heard == []
    assert await _frames(sub, 0.01) == []

    source.set_status(SourceState.HEALTHY, MarketState.EXTENDED_HOURS)
    source.set_status(SourceState.HEALTHY, MarketState.EXTENDED_HOURS)
    assert len(heard) == 1
    assert len(await _frames(sub)) == 1


async def test_hub_starts_with_the_source_status() -> None:
    source = ScriptedSource()
    cache = PriceCache()
    hub = Hub(source, cache, release_grace=0.0)
    assert hub.status is source.status()


# Rejects -------------------------------------------------------------------------------


async def test_reject_unsubscribes_the_ticker_and_acks_unknown_ticker() -> None:
    source, hub, cache = await _hub(0.0)
    a = _attach(hub, "AAPL", "MSFT")
    b = _attach(hub, "AAPL")
    c = _attach(hub, "MSFT")
    source.push({"AAPL": 190.0})  # pending for a and b

    source.reject(["AAPL"], "not on this exchange")

    assert a.tickers == {"MSFT"}
    assert b.tickers == set()
    assert c.tickers == {"MSFT"}
    assert hub.subscriber_count("AAPL") == 0
    assert cache.get("AAPL") is None
    assert ("remove", "AAPL") in source.requested

    for sub, remaining in ((a, ["MSFT"]), (b, [])):
        responses = await _frames(sub)
        assert _updates(responses) == []  # the pending AAPL price was dropped
        [response] = responses
        assert response.WhichOneof("response") == "ack"
        ack = response.ack
        assert ack.action == pb.SUBSCRIPTION_ACTION_SERVER
        assert [(r.ticker, r.status, r.message) for r in ack.results] == [
            ("AAPL", pb.TICKER_STATUS_UNKNOWN_TICKER, "not on this exchange")
        ]
        assert list(ack.tickers) == remaining
    assert await _frames(c, 0.01) == []


async def test_reject_of_an_unsubscribed_ticker_only_forgets_its_price() -> None:
    source, hub, cache = await _hub(0.0)
    sub = _attach(hub, "MSFT")
    source.push({"AAPL": 190.0})
    source.reject(["AAPL"])
    assert cache.get("AAPL") is None
    assert sub.tickers == {"MSFT"}
    assert await _frames(sub, 0.01) == []


# Shutdown ------------------------------------------------------------------------------


async def test_close_ends_current_and_later_streams_with_shutdown() -> None:
    _, hub, cache = await _hub()
    before = _attach(hub, "AAPL")
    hub.close("going down")
    after = _attach(hub)
    for sub in (before, after):
        with pytest.raises(StreamEnded) as info:
            await _frames(sub, None)
        assert info.value.reason is EndReason.SHUTDOWN
        assert info.value.message == "going down"


async def test_close_cancels_pending_releases() -> None:
    source, hub, cache = await _hub(GRACE)
    sub = _attach(hub, "AAPL")
    hub.remove(sub, ["AAPL"])
    assert hub.upstream_tickers() == {"AAPL"}
    hub.close()
    assert hub.upstream_tickers() == set()
    assert ("remove", "AAPL") not in source.requested


@pytest.mark.parametrize("grace", [0.0, GRACE])
async def test_streams_detaching_after_close_never_reach_the_stopped_source(grace: float) -> None:
    source, hub, cache = await _hub(grace)
    sub = _attach(hub, "ZZZ")
    hub.close()
    hub.detach(sub)  # streams end after the hub closed, as during server.stop
    assert hub.upstream_tickers() == set()
    assert ("remove", "ZZZ") not in source.requested


async def test_a_released_ticker_forgets_its_price_but_a_default_keeps_it() -> None:
    source, hub, cache = await _hub(0.0, universe={"AAPL": 190.0})
    sub = _attach(hub, "AAPL", "ZZZ")
    source.push({"ZZZ": 12.5})
    assert cache.get("ZZZ") is not None

    hub.remove(sub, ["AAPL", "ZZZ"])
    assert ("remove", "ZZZ") in source.requested
    assert cache.get("ZZZ") is None  # not served stale-as-fresh, not kept for ever
    cached = cache.get("AAPL")  # the source still produces its defaults
    assert cached is not None and cached.price == 190.0


# LoopSink --------------------------------------------------------------------------------


def _run_in_thread(fn: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=fn, daemon=True)
    thread.start()
    return thread


async def test_loop_sink_hands_a_batch_from_another_thread_to_the_loop() -> None:
    source = ScriptedSource()
    cache = PriceCache()
    hub = Hub(source, cache, release_grace=0.0)
    sink = LoopSink(hub)
    await source.start(sink)
    sub = _attach(hub, "AAPL", "MSFT")
    loop_thread = threading.get_ident()

    now = time.time_ns()
    thread = _run_in_thread(
        lambda: sink.publish([Quote("AAPL", 190.0, now), Quote("MSFT", 400.0, now)])
    )
    updates = _updates(await _frames(sub, None))  # waits for the hand-over itself
    thread.join(timeout=TIMEOUT)
    assert not thread.is_alive()

    assert sorted((u.ticker, u.price) for u in updates) == [("AAPL", 190.0), ("MSFT", 400.0)]
    assert {ident for _, _, ident in sub.offered} == {loop_thread}
    assert cache.version == 2


async def test_loop_sink_hands_status_and_rejects_from_another_thread() -> None:
    source = ScriptedSource()
    cache = PriceCache()
    hub = Hub(source, cache, release_grace=0.0)
    sink = LoopSink(hub)
    await source.start(sink)
    sub = _attach(hub, "AAPL")
    heard: list[tuple[SourceStatus, int]] = []
    hub.on_status(lambda s: heard.append((s, threading.get_ident())))

    status = SourceStatus("synthetic", MarketState.CLOSED, SourceState.ERROR, "down")

    def report() -> None:
        sink.set_status(status)
        sink.reject(["AAPL"], "gone")

    thread = _run_in_thread(report)
    kinds: list[str | None] = []
    async with asyncio.timeout(TIMEOUT):
        while len(kinds) < 2:  # each turn waits for the next hand-over
            kinds += [_parse(f).WhichOneof("response") for f in await sub.next_frames(None)]
    thread.join(timeout=TIMEOUT)
    assert not thread.is_alive()

    assert kinds == ["market_status", "ack"]  # in the order the thread sent them
    assert heard == [(status, threading.get_ident())]
    assert hub.status is status
    assert sub.tickers == set()


async def test_loop_sink_on_the_loop_thread_delivers_at_once() -> None:
    source = ScriptedSource()
    cache = PriceCache()
    hub = Hub(source, cache, release_grace=0.0)
    sink = LoopSink(hub)
    sub = _attach(hub, "AAPL")
    sink.publish([Quote("AAPL", 190.0, time.time_ns())])
    assert sub.pending == 1
    assert cache.version == 1


def test_loop_sink_drops_batches_after_the_loop_closed() -> None:
    cache = PriceCache()

    async def make() -> tuple[Hub, LoopSink]:
        hub = Hub(ScriptedSource(), cache, release_grace=0.0)
        return hub, LoopSink(hub)

    hub, sink = asyncio.run(make())
    errors: list[BaseException] = []

    def publish() -> None:
        try:
            sink.publish([Quote("AAPL", 190.0, time.time_ns())])
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    thread = _run_in_thread(publish)
    thread.join(timeout=TIMEOUT)
    assert not thread.is_alive()
    assert errors == []
    assert cache.version == 0


# Stale marking -----------------------------------------------------------------------------


async def test_mark_stale_reoffers_the_cached_price_as_stale_to_its_subscribers() -> None:
    source, hub, cache = await _hub(universe={"AAPL": 190.0, "MSFT": 410.0})
    aapl, msft = _attach(hub, "AAPL"), _attach(hub, "MSFT")
    await _frames(aapl)
    await _frames(msft)  # their snapshots
    hub.mark_stale(["AAPL", "NVDA"])
    [update] = _updates(await _frames(aapl))
    assert (update.ticker, update.price, update.sequence) == ("AAPL", 190.0, 1)
    assert update.state == pb.DATA_STATE_STALE
    assert msft.pending == 0
    hub.mark_stale(["AAPL"])  # already stale: not offered again
    assert aapl.pending == 0

    late = _attach(hub, "AAPL")
    assert [u.state for u in _updates(await _frames(late))] == [pb.DATA_STATE_STALE]
    source.push({"AAPL": 191.0})
    [live] = _updates(await _frames(aapl))
    assert (live.state, live.sequence, live.previous_price) == (pb.DATA_STATE_LIVE, 2, 190.0)


async def test_loop_sink_hands_stale_marks_from_another_thread() -> None:
    source = ScriptedSource({"AAPL": 190.0})
    cache = PriceCache()
    hub = Hub(source, cache, release_grace=0.0)
    sink = LoopSink(hub)
    await source.start(sink)
    sub = _attach(hub, "AAPL")
    await _frames(sub)
    thread = _run_in_thread(lambda: sink.mark_stale(["AAPL"]))
    updates = _updates(await _frames(sub, None))  # waits for the hand-over itself
    thread.join(timeout=TIMEOUT)
    assert not thread.is_alive()
    assert [(u.ticker, u.state) for u in updates] == [("AAPL", pb.DATA_STATE_STALE)]


# Wide fan-out: a batch bringing every subscriber several updates ------------------


async def test_a_wide_batch_reaches_whole_and_partial_subscribers_alike() -> None:
    source, hub, cache = await _hub()
    tickers = [f"T{i:03d}" for i in range(20)]
    whole = [_attach(hub, *tickers) for _ in range(3)]
    part = _attach(hub, "T001", "T002", "ZZZ")
    source.push({t: 100.0 for t in tickers})
    source.push({t: 101.0 for t in tickers})
    frames = [await _frames(sub) for sub in whole]
    for responses in frames:
        updates = _updates(responses)
        assert sorted(u.ticker for u in updates) == tickers
        assert {u.price for u in updates} == {101.0}
        assert sum(r.prices.conflated for r in responses) == 20
    updates = _updates(await _frames(part))
    assert sorted((u.ticker, u.price) for u in updates) == [("T001", 101.0), ("T002", 101.0)]


async def test_a_wide_batch_wakes_each_connections_streams_together_with_one_frame_a_list() -> None:
    """Streams opened interleaved across connections are offered connection by connection
    (their writes then reach each connection back to back), and streams of one list share
    one encoded frame."""
    source, hub, cache = await _hub()
    tickers = [f"T{i:03d}" for i in range(40)]
    woken: list[str] = []

    class Waking(RecordingSubscriber):
        def offer_all(self, batch: codec.SharedBatch) -> None:
            woken.append(self.connection)
            super().offer_all(batch)

    subs = []
    for n in range(12):
        sub = Waking()
        sub.connection = f"ipv4:127.0.0.1:{5000 + n % 3}"
        hub.attach(sub)
        hub.add(sub, tickers[:20] if n % 2 else tickers[20:])
        subs.append(sub)
    source.push({t: 100.0 for t in tickers})
    runs = [c for i, c in enumerate(woken) if i == 0 or woken[i - 1] != c]
    assert sorted(runs) == sorted(set(woken)) and len(woken) == 12
    frames = [await sub.next_frames(0.0) for sub in subs]
    assert all(len(f) == 1 for f in frames)
    assert frames[0][0] is frames[2][0] and frames[1][0] is frames[3][0]
    assert frames[0][0] != frames[1][0]
    assert sorted(u.ticker for u in _updates([_parse(frames[0][0])])) == tickers[20:]


async def test_a_wide_batch_follows_subscription_changes() -> None:
    source, hub, cache = await _hub()
    tickers = [f"T{i:03d}" for i in range(10)]
    subs = [_attach(hub, *tickers) for _ in range(2)]
    source.push({t: 100.0 for t in tickers})
    for sub in subs:
        await _frames(sub)
    hub.remove(subs[0], ["T000"])
    late = _attach(hub, *tickers)
    await _frames(late)  # its snapshots
    source.push({t: 102.0 for t in tickers})
    assert sorted(u.ticker for u in _updates(await _frames(subs[0]))) == tickers[1:]
    assert sorted(u.ticker for u in _updates(await _frames(subs[1]))) == tickers
    assert sorted(u.ticker for u in _updates(await _frames(late))) == tickers


async def test_a_batch_replaced_before_any_stream_sends_it_is_never_encoded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    encoded: list[tuple[str, float]] = []
    encode = codec.Encoder.live_element

    def counting(
        encoder: codec.Encoder, quote: Quote, previous_price: float, sequence: int
    ) -> bytes:
        encoded.append((quote.ticker, quote.price))
        return encode(encoder, quote, previous_price, sequence)

    monkeypatch.setattr(codec.Encoder, "live_element", counting)
    source, hub, cache = await _hub()
    tickers = [f"T{i:03d}" for i in range(10)]
    subs = [_attach(hub, *tickers) for _ in range(3)]
    for price in (100.0, 101.0, 102.0):  # nobody reads between these
        source.push({t: price for t in tickers})
    assert encoded == []
    for sub in subs:
        updates = _updates(await _frames(sub))
        assert [(u.price, u.previous_price, u.sequence) for u in updates] == [
            (102.0, 101.0, 3)
        ] * 10  # change fields against the price it replaced, sequence counts all three
    assert sorted(encoded) == [(t, 102.0) for t in tickers]  # once, for all three streams


# Blocks ----------------------------------------------------------------------------------


BLOCK_TICKERS = tuple(f"T{i:02d}" for i in range(12))


def _price_block(step: int) -> PriceBlock:
    prices = np.array([100.0 + i + step * 0.25 * (-1) ** i for i in range(len(BLOCK_TICKERS))])
    return PriceBlock(BLOCK_TICKERS, prices, 1_700_000_000_000_000_000 + step)


async def _block_streams(hub: Hub) -> list[Subscriber]:
    """Streams of the whole list, of part of it and of one ticker of it."""
    wide = [_attach(hub, *BLOCK_TICKERS) for _ in range(6)]
    return [*wide, _attach(hub, *BLOCK_TICKERS[:5]), _attach(hub, "T03")]


async def test_a_block_reaches_every_stream_as_its_quotes_would() -> None:
    """Wide and narrow, whole list or a share: the same updates, byte for byte, as quotes."""
    got: dict[str, list[list[pb.PriceUpdate]]] = {}
    for kind in ("block", "quotes"):
        _, hub, _ = await _hub(universe={t: 1.0 for t in BLOCK_TICKERS})
        heard: list[list[codec.CachedPrice]] = []
        hub.on_prices(heard.append)
        subs = await _block_streams(hub)
        for sub in subs:
            await _frames(sub)  # the snapshots
        for step in range(3):
            block = _price_block(step)
            hub.publish(block if kind == "block" else list(block))
        got[kind] = [_updates(await _frames(sub)) for sub in subs]
        got[kind].append([e.update for batch in heard for e in batch])
    assert got["block"] == got["quotes"]
    wide, share, one = got["block"][0], got["block"][6], got["block"][7]
    assert [u.ticker for u in wide] == list(BLOCK_TICKERS)
    # The source's opening prices were 1, so the latest of three blocks is 4.
    assert [u.sequence for u in wide] == [4] * len(BLOCK_TICKERS)
    assert sorted(u.ticker for u in share) == list(BLOCK_TICKERS[:5])
    assert [(u.ticker, u.sequence) for u in one] == [("T03", 4)]


async def test_a_block_with_a_bad_price_delivers_the_rest() -> None:
    _, hub, cache = await _hub(universe={t: 1.0 for t in BLOCK_TICKERS})
    sub = _attach(hub, *BLOCK_TICKERS)
    await _frames(sub)  # the snapshots
    prices = _price_block(0).prices.copy()
    prices[4] = math.nan
    hub.publish(PriceBlock(BLOCK_TICKERS, prices, 1_700_000_000_000_000_000))
    tickers = [u.ticker for u in _updates(await _frames(sub))]
    assert tickers == [t for t in BLOCK_TICKERS if t != "T04"]
    assert cache.rejected == 1
