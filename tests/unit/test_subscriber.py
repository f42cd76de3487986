"""Tests of Subscriber: conflation, adaptive batching, frame splitting, controls and ending."""

from __future__ import annotations

import asyncio

import pytest

from tickwire.v1 import market_data_pb2 as pb
from tickwire_server import codec
from tickwire_server.codec import CachedPrice
from tickwire_server.domain import TickerResult, TickerStatus
from tickwire_server.errors import EndReason, StreamEnded
from tickwire_server.subscriber import Subscriber

TIMEOUT = 2.0


def _element(ticker: str, sequence: int = 1, price: float = 100.0) -> bytes:
    return codec.update_element(pb.PriceUpdate(ticker=ticker, price=price, sequence=sequence))


def _parse(frame: bytes) -> pb.SubscribeResponse:
    response = pb.SubscribeResponse()
    response.ParseFromString(frame)
    return response


def _prices(frame: bytes) -> pb.PriceBatch:
    response = _parse(frame)
    assert response.WhichOneof("response") == "prices"
    return response.prices


async def _next(sub: Subscriber, max_wait: float | None = 0.0) -> list[bytes]:
    async with asyncio.timeout(TIMEOUT):
        return await sub.next_frames(max_wait)


def _ack(request_id: str) -> bytes:
    return codec.ack_frame(
        pb.SUBSCRIPTION_ACTION_SUBSCRIBE,
        [TickerResult("AAPL", TickerStatus.OK)],
        ["AAPL"],
        request_id=request_id,
    )


# Sending at once and batching ---------------------------------------------------


async def test_idle_subscriber_gets_a_price_at_once() -> None:
    sub = Subscriber()
    sub.offer("AAPL", _element("AAPL", 1, 190.0))
    frames = await _next(sub, None)
    assert len(frames) == 1
    batch = _prices(frames[0])
    assert [(u.ticker, u.sequence, u.price) for u in batch.updates] == [("AAPL", 1, 190.0)]
    assert batch.conflated == 0
    assert sub.pending == 0


async def test_waiting_send_loop_wakes_on_offer() -> None:
    sub = Subscriber()
    waiter = asyncio.create_task(sub.next_frames(None))
    await asyncio.sleep(0)  # yield once: the task runs up to its wait
    assert not waiter.done()
    sub.offer("MSFT", _element("MSFT"))
    async with asyncio.timeout(TIMEOUT):
        frames = await waiter
    assert [u.ticker for u in _prices(frames[0]).updates] == ["MSFT"]


async def test_everything_pending_is_drained_into_one_frame() -> None:
    sub = Subscriber()
    tickers = [f"T{i:03d}" for i in range(200)]
    for t in tickers:
        sub.offer(t, _element(t))
    assert sub.pending == 200
    frames = await _next(sub)
    assert len(frames) == 1
    assert [u.ticker for u in _prices(frames[0]).updates] == tickers
    assert sub.pending == 0


async def test_next_frames_returns_nothing_when_the_wait_runs_out() -> None:
    sub = Subscriber()
    assert await _next(sub, 0.01) == []
    assert await _next(sub, 0) == []


# Conflation ---------------------------------------------------------------------


async def test_slow_subscriber_is_conflated() -> None:
    sub = Subscriber()
    for seq in range(1, 6):
        sub.offer("AAPL", _element("AAPL", seq, 100.0 + seq))
    sub.offer("MSFT", _element("MSFT", 1))
    sub.offer("MSFT", _element("MSFT", 2))
    assert sub.pending == 2
    assert sub.conflated_total == 5

    [frame] = await _next(sub)
    batch = _prices(frame)
    latest = {u.ticker: (u.sequence, u.price) for u in batch.updates}
    assert latest == {"AAPL": (5, 105.0), "MSFT": (2, 100.0)}
    assert len(batch.updates) == 2
    assert batch.conflated == 5


async def test_conflated_count_resets_per_batch_but_total_accumulates() -> None:
    sub = Subscriber()
    sub.offer("AAPL", _element("AAPL", 1))
    sub.offer("AAPL", _element("AAPL", 2))
    [first] = await _next(sub)
    assert _prices(first).conflated == 1

    sub.offer("AAPL", _element("AAPL", 3))
    [second] = await _next(sub)
    assert _prices(second).conflated == 0
    assert sub.conflated_total == 1

    for seq in (4, 5, 6):
        sub.offer("AAPL", _element("AAPL", seq))
    [third] = await _next(sub)
    assert _prices(third).conflated == 2
    assert [u.sequence for u in _prices(third).updates] == [6]
    assert sub.conflated_total == 3


def test_the_subscriber_owns_its_ticker_set() -> None:
    sub = Subscriber()
    assert sub.add_ticker("AAPL") and sub.add_ticker("MSFT")
    assert not sub.add_ticker("AAPL")  # already there
    assert sub.tickers == {"AAPL", "MSFT"}
    assert sub.remove_ticker("AAPL")
    assert not sub.remove_ticker("AAPL") and not sub.remove_ticker("NEVER-ADDED")
    assert sub.tickers == {"MSFT"}


async def test_removing_a_ticker_drops_its_pending_price_only() -> None:
    sub = Subscriber()
    for ticker in ("AAPL", "MSFT"):
        sub.add_ticker(ticker)
        sub.offer(ticker, _element(ticker))
    sub.remove_ticker("AAPL")
    sub.remove_ticker("NEVER-OFFERED")
    assert sub.pending == 1
    [frame] = await _next(sub)
    assert [u.ticker for u in _prices(frame).updates] == ["MSFT"]


async def test_removing_every_ticker_leaves_nothing_to_send() -> None:
    sub = Subscriber()
    sub.add_ticker("AAPL")
    sub.offer("AAPL", _element("AAPL"))
    sub.remove_ticker("AAPL")
    assert sub.pending == 0
    assert await _next(sub, 0.01) == []


# Frame splitting -----------------------------------------------------------------


def _uniform_elements(n: int) -> list[tuple[str, bytes]]:
    """`n` elements of identical length (same-length tickers, same fields)."""
    out = [(f"T{i:03d}", _element(f"T{i:03d}", 1, 100.0 + i)) for i in range(n)]
    assert len({len(e) for _, e in out}) == 1
    return out


@pytest.mark.parametrize("per_frame", [1.5, 3.0, 4.0, 7.25])
async def test_frames_split_over_the_cap_lose_no_update(per_frame: float) -> None:
    elements = _uniform_elements(40)
    cap = int(len(elements[0][1]) * per_frame)
    sub = Subscriber(max_frame_bytes=cap)
    for ticker, element in elements:
        sub.offer(ticker, element)
    sub.offer("T000", elements[0][1])  # one conflated update
    sub.offer("T001", elements[1][1])  # and another

    frames = await _next(sub)
    assert len(frames) > 1
    batches = [_prices(f) for f in frames]
    delivered = [u.ticker for b in batches for u in b.updates]
    assert sorted(delivered) == [t for t, _ in elements]  # each exactly once
    assert sum(b.conflated for b in batches) == 2
    assert sub.conflated_total == 2
    assert sub.pending == 0


@pytest.mark.parametrize("per_frame", [1.5, 3.0, 4.0, 7.25])
async def test_each_split_frame_fits_the_cap(per_frame: float) -> None:
    elements = _uniform_elements(40)
    cap = int(len(elements[0][1]) * per_frame)
    sub = Subscriber(max_frame_bytes=cap)
    for ticker, element in elements:
        sub.offer(ticker, element)
    sub.offer("T000", elements[0][1])

    frames = await _next(sub)
    assert len(frames) > 1
    assert [len(f) for f in frames if len(f) > cap] == []


async def test_a_batch_just_under_the_cap_is_one_frame_that_fits() -> None:
    elements = _uniform_elements(10)
    payload = sum(len(e) for _, e in elements)
    cap = payload + 8  # room for the frame's tag, length and conflated count
    sub = Subscriber(max_frame_bytes=cap)
    for ticker, element in elements:
        sub.offer(ticker, element)
    sub.offer("T000", elements[0][1])
    [frame] = await _next(sub)
    assert len(frame) <= cap
    assert len(_prices(frame).updates) == 10


async def test_a_batch_whose_elements_exactly_fill_the_cap_still_fits() -> None:
    elements = _uniform_elements(10)
    cap = sum(len(e) for _, e in elements)
    sub = Subscriber(max_frame_bytes=cap)
    for ticker, element in elements:
        sub.offer(ticker, element)
    frames = await _next(sub)
    assert [len(f) for f in frames if len(f) > cap] == []
    assert sorted(u.ticker for f in frames for u in _prices(f).updates) == [t for t, _ in elements]


async def test_an_element_larger_than_the_cap_goes_alone_in_its_frame() -> None:
    elements = _uniform_elements(3)
    sub = Subscriber(max_frame_bytes=len(elements[0][1]) // 2)
    for ticker, element in elements:
        sub.offer(ticker, element)
    frames = await _next(sub)
    assert [[u.ticker for u in _prices(f).updates] for f in frames] == [
        ["T000"],
        ["T001"],
        ["T002"],
    ]


# Control frames -------------------------------------------------------------------


async def test_control_frames_go_first_in_order_then_prices() -> None:
    sub = Subscriber()
    sub.offer("AAPL", _element("AAPL"))
    ack1, beat, ack2 = _ack("r1"), codec.heartbeat_frame("p1"), _ack("r2")
    sub.push(ack1)
    sub.push(beat)
    sub.push(ack2)
    frames = await _next(sub)
    assert frames[:3] == [ack1, beat, ack2]
    assert len(frames) == 4
    assert [u.ticker for u in _prices(frames[3]).updates] == ["AAPL"]


async def test_identical_control_frames_are_never_conflated() -> None:
    sub = Subscriber()
    beat = codec.heartbeat_frame("same")
    for _ in range(3):
        sub.push(beat)
    assert await _next(sub) == [beat, beat, beat]


async def test_control_frame_alone_wakes_the_send_loop() -> None:
    sub = Subscriber()
    waiter = asyncio.create_task(sub.next_frames(None))
    await asyncio.sleep(0)  # yield once: the task runs up to its wait
    assert not waiter.done()
    ack = _ack("r1")
    sub.push(ack)
    async with asyncio.timeout(TIMEOUT):
        assert await waiter == [ack]


async def test_too_many_waiting_controls_end_the_stream_with_overflow() -> None:
    sub = Subscriber(max_controls=3)
    for i in range(3):
        sub.push(_ack(f"r{i}"))
    assert sub.ended is None
    sub.push(_ack("one too many"))
    assert sub.ended is not None
    assert sub.ended.reason is EndReason.OVERFLOW
    assert "3" in sub.ended.message
    with pytest.raises(StreamEnded) as info:
        await _next(sub)
    assert info.value.reason is EndReason.OVERFLOW


async def test_controls_under_the_limit_after_draining_do_not_overflow() -> None:
    sub = Subscriber(max_controls=2)
    for round_ in range(5):
        sub.push(_ack(f"a{round_}"))
        sub.push(_ack(f"b{round_}"))
        assert len(await _next(sub)) == 2
    assert sub.ended is None


# Ending ----------------------------------------------------------------------------


async def test_end_makes_next_frames_raise_and_drops_pending_output() -> None:
    sub = Subscriber()
    sub.offer("AAPL", _element("AAPL"))
    sub.push(_ack("r1"))
    sub.end(StreamEnded(EndReason.LAGGING, "too slow"))
    with pytest.raises(StreamEnded) as info:
        await _next(sub)
    assert info.value.reason is EndReason.LAGGING
    assert info.value.message == "too slow"


async def test_end_wakes_a_waiting_send_loop() -> None:
    sub = Subscriber()
    waiter = asyncio.create_task(sub.next_frames(None))
    await asyncio.sleep(0)  # yield once: the task runs up to its wait
    assert not waiter.done()
    sub.end(StreamEnded(EndReason.SHUTDOWN, "bye"))
    with pytest.raises(StreamEnded) as info:
        async with asyncio.timeout(TIMEOUT):
            await waiter
    assert info.value.reason is EndReason.SHUTDOWN


async def test_first_end_reason_wins() -> None:
    sub = Subscriber()
    first = StreamEnded(EndReason.LAGGING, "too slow")
    sub.end(first)
    sub.end(StreamEnded(EndReason.SHUTDOWN, "bye"))
    assert sub.ended is first
    with pytest.raises(StreamEnded) as info:
        await _next(sub)
    assert info.value is first


async def test_ended_stream_keeps_raising() -> None:
    sub = Subscriber()
    sub.end(StreamEnded(EndReason.BAD_REQUEST, "garbled"))
    for _ in range(2):
        with pytest.raises(StreamEnded):
            await _next(sub, None)


# Whole batches (the hub's wide fan-out) -------------------------------------------


def _shared(*tickers: str, sequence: int = 1) -> codec.SharedBatch:
    entries = {t: CachedPrice.of(pb.PriceUpdate(ticker=t, sequence=sequence)) for t in tickers}
    return codec.SharedBatch(entries, frozenset(entries))


async def test_a_whole_batch_in_an_empty_mailbox_is_sent_as_its_shared_frame() -> None:
    a, b = Subscriber(), Subscriber()
    batch = _shared("AAPL", "MSFT")
    a.offer_all(batch)
    b.offer_all(batch)
    assert a.pending == 2
    (frame_a,), (frame_b,) = await _next(a), await _next(b)
    assert frame_a is frame_b  # assembled once
    assert [u.ticker for u in _prices(frame_a).updates] == ["AAPL", "MSFT"]
    assert _prices(frame_a).conflated == 0


async def test_a_newer_whole_batch_replaces_an_older_one_and_counts_it_conflated() -> None:
    sub = Subscriber()
    sub.offer_all(_shared("AAPL", "MSFT", sequence=1))
    sub.offer_all(_shared("AAPL", "MSFT", sequence=2))
    (frame,) = await _next(sub)
    batch = _prices(frame)
    assert [(u.ticker, u.sequence) for u in batch.updates] == [("AAPL", 2), ("MSFT", 2)]
    assert batch.conflated == 2
    assert sub.conflated_total == 2


async def test_a_whole_batch_merges_into_pending_prices_like_single_offers() -> None:
    sub = Subscriber()
    sub.offer("AAPL", _element("AAPL", 1))
    sub.offer("V", _element("V", 1))
    sub.offer_all(_shared("AAPL", "MSFT", sequence=2))
    assert sub.pending == 3
    (frame,) = await _next(sub)
    batch = _prices(frame)
    assert sorted((u.ticker, u.sequence) for u in batch.updates) == [
        ("AAPL", 2),
        ("MSFT", 2),
        ("V", 1),
    ]
    assert batch.conflated == 1


async def test_single_offers_and_removals_after_a_whole_batch_apply_to_a_copy() -> None:
    batch = _shared("AAPL", "MSFT")
    sub = Subscriber()
    sub.add_ticker("AAPL")
    sub.add_ticker("MSFT")
    sub.offer_all(batch)
    sub.remove_ticker("MSFT")
    sub.offer("AAPL", _element("AAPL", 2))
    assert sorted(batch.elements) == ["AAPL", "MSFT"]  # the shared batch is untouched
    (frame,) = await _next(sub)
    assert [(u.ticker, u.sequence) for u in _prices(frame).updates] == [("AAPL", 2)]
    assert _prices(frame).conflated == 1


async def test_a_shared_frame_over_the_cap_is_split_like_any_other() -> None:
    sub = Subscriber(max_frame_bytes=200)
    sub.offer_all(_shared(*[f"T{i:03d}" for i in range(30)]))
    frames = await _next(sub)
    assert len(frames) > 1 and all(len(f) <= 200 for f in frames)
    assert sum(len(_prices(f).updates) for f in frames) == 30


async def test_answers_waiting_past_a_byte_bound_end_the_stream() -> None:
    sub = Subscriber(max_controls=1000, max_control_bytes=1000)
    sub.push(b"x" * 600)
    assert sub.ended is None
    sub.push(b"x" * 600)  # 1,200 bytes waiting: over the bound, though only two answers
    assert sub.ended is not None and sub.ended.reason is EndReason.OVERFLOW
    assert "1000 bytes" in sub.ended.message


async def test_answers_read_free_the_byte_bound_again() -> None:
    sub = Subscriber(max_controls=1000, max_control_bytes=1000)
    for _ in range(5):  # 3,000 bytes in all, never more than 600 waiting
        sub.push(b"x" * 600)
        assert await _next(sub) == [b"x" * 600]
    assert sub.ended is None
