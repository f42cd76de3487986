"""Tests of the protobuf codec: pre-encoded frames parse back to the messages built normally."""

from __future__ import annotations

import time
from typing import Any

import pytest
from google.protobuf.internal import encoder

from tickwire.v1 import market_data_pb2 as pb
from tickwire_server import wire
from tickwire_server.cache import CachedPrice
from tickwire_server.domain import (
    MarketState,
    SourceState,
    SourceStatus,
    TickerMeta,
    TickerResult,
    TickerStatus,
)

NOW_SLACK_NS = 60 * 1_000_000_000  # "near now": generous, only catches wrong units or epochs


def _update(ticker: str, price: float, sequence: int, **extra: Any) -> pb.PriceUpdate:
    return pb.PriceUpdate(
        ticker=ticker,
        price=price,
        previous_price=price - 1.0,
        change=1.0,
        change_percent=100.0 / (price - 1.0),
        direction=pb.DIRECTION_UP,
        timestamp=wire.timestamp(1_700_000_000_123_456_789 + sequence),
        sequence=sequence,
        state=pb.DATA_STATE_LIVE,
        **extra,
    )


def _parse(frame: bytes) -> pb.SubscribeResponse:
    response = pb.SubscribeResponse()
    response.ParseFromString(frame)
    return response


def _assert_near_now(ts: object) -> None:
    assert isinstance(ts, type(wire.timestamp(0)))
    assert abs(ts.ToNanoseconds() - time.time_ns()) < NOW_SLACK_NS


# varint ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", [0, 1, 127, 128, 255, 300, 16_383, 16_384, 2**21, 2**32, 2**63, 2**64 - 1]
)
def test_varint_matches_the_protobuf_library(value: int) -> None:
    assert wire.varint(value) == encoder._VarintBytes(value)  # type: ignore[attr-defined]


@pytest.mark.parametrize("value", [0, 1, 127, 128, 300, 2**32, 2**63])
def test_varint_matches_a_serialised_uint64_field(value: int) -> None:
    # PriceBatch.conflated is field 2, a uint64: tag 0x10, then the varint.
    serialised = pb.PriceBatch(conflated=value).SerializeToString()
    expected = serialised if value else b"\x10\x00"  # proto3 omits a zero
    assert b"\x10" + wire.varint(value) == expected


# prices frames -----------------------------------------------------------------


def test_update_element_is_one_batch_element() -> None:
    update = _update("AAPL", 190.5, 3)
    batch = pb.PriceBatch()
    batch.ParseFromString(wire.update_element(update))
    assert list(batch.updates) == [update]


def test_prices_frame_equals_the_normally_built_response() -> None:
    updates = [
        _update("AAPL", 190.5, 1),
        _update("BRK.B", 410.25, 7, open=400.0, high=411.0, low=399.5, volume=1e6),
        _update("V", 280.0, 2, transactions=12_345),
    ]
    frame = wire.prices_frame([wire.update_element(u) for u in updates], conflated=5)

    expected = pb.SubscribeResponse(prices=pb.PriceBatch(updates=updates, conflated=5))
    parsed = _parse(frame)
    assert parsed.WhichOneof("response") == "prices"
    assert parsed == expected
    assert frame == expected.SerializeToString()


def test_prices_frame_without_conflation_omits_the_field() -> None:
    updates = [_update("MSFT", 420.0, 1), _update("TSLA", 250.0, 9)]
    frame = wire.prices_frame([wire.update_element(u) for u in updates], conflated=0)

    expected = pb.SubscribeResponse(prices=pb.PriceBatch(updates=updates))
    assert _parse(frame) == expected
    assert _parse(frame).prices.conflated == 0
    assert frame == expected.SerializeToString()


def test_prices_frame_default_conflated_is_zero() -> None:
    updates = [_update("NFLX", 600.0, 4)]
    frame = wire.prices_frame(wire.update_element(u) for u in updates)
    assert _parse(frame) == pb.SubscribeResponse(prices=pb.PriceBatch(updates=updates))


def test_empty_prices_frame_is_an_empty_batch() -> None:
    parsed = _parse(wire.prices_frame([]))
    assert parsed.WhichOneof("response") == "prices"
    assert list(parsed.prices.updates) == []


@pytest.mark.parametrize("conflated", [1, 127, 128, 300, 2**32, 2**63])
def test_prices_frame_carries_large_conflated_counts(conflated: int) -> None:
    updates = [_update("AAPL", 190.5, 1)]
    frame = wire.prices_frame([wire.update_element(u) for u in updates], conflated)
    expected = pb.SubscribeResponse(prices=pb.PriceBatch(updates=updates, conflated=conflated))
    assert _parse(frame) == expected
    assert frame == expected.SerializeToString()


@pytest.mark.parametrize(("count", "prefix_bytes"), [(1, 1), (5, 2), (500, 3)])
def test_prices_frame_length_prefix_spans_several_varint_bytes(
    count: int, prefix_bytes: int
) -> None:
    # One element is under 128 bytes; batches of 5 and 500 push the batch's
    # length past 127 (2-byte varint) and past 16383 (3-byte varint).
    updates = [_update(f"T{i}", 100.0 + i, i + 1, open=1.0, vwap=2.0) for i in range(count)]
    elements = [wire.update_element(u) for u in updates]
    frame = wire.prices_frame(elements)
    assert len(frame) == 1 + prefix_bytes + sum(map(len, elements))

    expected = pb.SubscribeResponse(prices=pb.PriceBatch(updates=updates))
    assert _parse(frame) == expected
    assert frame == expected.SerializeToString()


# control frames ------------------------------------------------------------------


def test_ack_frame_parses_to_the_ack() -> None:
    results = [
        TickerResult("AAPL", TickerStatus.OK),
        TickerResult("aapl$", TickerStatus.INVALID_SYMBOL, "bad characters"),
        TickerResult("ZZZZ", TickerStatus.UNKNOWN_TICKER, "not served"),
        TickerResult("MSFT", TickerStatus.LIMIT_EXCEEDED, "too many"),
        TickerResult("TSLA", TickerStatus.NOT_SUBSCRIBED),
        TickerResult("NVDA", TickerStatus.NO_DATA),
    ]
    frame = wire.ack_frame(
        pb.SUBSCRIPTION_ACTION_SUBSCRIBE,
        results,
        {"MSFT", "AAPL", "BRK.B"},
        request_id="req-1",
        message="hello",
    )

    expected = pb.SubscribeResponse(
        ack=pb.SubscriptionAck(
            request_id="req-1",
            action=pb.SUBSCRIPTION_ACTION_SUBSCRIBE,
            results=[
                pb.TickerResult(ticker="AAPL", status=pb.TICKER_STATUS_OK),
                pb.TickerResult(
                    ticker="aapl$", status=pb.TICKER_STATUS_INVALID_SYMBOL, message="bad characters"
                ),
                pb.TickerResult(
                    ticker="ZZZZ", status=pb.TICKER_STATUS_UNKNOWN_TICKER, message="not served"
                ),
                pb.TickerResult(
                    ticker="MSFT", status=pb.TICKER_STATUS_LIMIT_EXCEEDED, message="too many"
                ),
                pb.TickerResult(ticker="TSLA", status=pb.TICKER_STATUS_NOT_SUBSCRIBED),
                pb.TickerResult(ticker="NVDA", status=pb.TICKER_STATUS_NO_DATA),
            ],
            tickers=["AAPL", "BRK.B", "MSFT"],
            message="hello",
        )
    )
    parsed = _parse(frame)
    assert parsed.WhichOneof("response") == "ack"
    assert parsed == expected


def test_ack_frame_sorts_the_ticker_set() -> None:
    frame = wire.ack_frame(pb.SUBSCRIPTION_ACTION_UNSUBSCRIBE, [], ["V", "AAPL", "JPM"])
    ack = _parse(frame).ack
    assert ack.action == pb.SUBSCRIPTION_ACTION_UNSUBSCRIBE
    assert list(ack.tickers) == ["AAPL", "JPM", "V"]
    assert ack.request_id == ""


def test_every_ticker_status_has_a_proto_value() -> None:
    assert set(wire.TICKER_STATUSES) == set(TickerStatus)
    names = {pb.TickerStatus.Name(v) for v in wire.TICKER_STATUSES.values()}
    assert names == {f"TICKER_STATUS_{s.name}" for s in TickerStatus}


def test_heartbeat_frame_echoes_the_ping_id_with_the_server_time() -> None:
    parsed = _parse(wire.heartbeat_frame("ping-42"))
    assert parsed.WhichOneof("response") == "heartbeat"
    assert parsed.heartbeat.ping_id == "ping-42"
    _assert_near_now(parsed.heartbeat.server_time)


def test_periodic_heartbeat_has_no_ping_id() -> None:
    parsed = _parse(wire.heartbeat_frame())
    assert parsed.WhichOneof("response") == "heartbeat"
    assert parsed.heartbeat.ping_id == ""
    _assert_near_now(parsed.heartbeat.server_time)


@pytest.mark.parametrize(
    ("market", "state"),
    [
        (MarketState.OPEN, SourceState.HEALTHY),
        (MarketState.CLOSED, SourceState.DEGRADED),
        (MarketState.EXTENDED_HOURS, SourceState.ERROR),
        (MarketState.OPEN, SourceState.STARTING),
        (MarketState.CLOSED, SourceState.STOPPED),
    ],
)
def test_market_status_frame_parses_to_the_status(market: MarketState, state: SourceState) -> None:
    status = SourceStatus("simulator", market, state, "upstream said hi")
    parsed = _parse(wire.market_status_frame(status))
    assert parsed.WhichOneof("response") == "market_status"
    got = parsed.market_status
    assert pb.MarketState.Name(got.market) == f"MARKET_STATE_{market.name}"
    assert pb.SourceState.Name(got.source_state) == f"SOURCE_STATE_{state.name}"
    assert got.source == "simulator"
    assert got.message == "upstream said hi"
    _assert_near_now(got.server_time)


def test_timestamp_splits_nanoseconds() -> None:
    ts = wire.timestamp(1_700_000_000_123_456_789)
    assert (ts.seconds, ts.nanos) == (1_700_000_000, 123_456_789)
    assert wire.timestamp(0).ToNanoseconds() == 0
    assert wire.timestamp(999_999_999).seconds == 0


def test_ticker_info_copies_the_metadata() -> None:
    info = wire.ticker_info(TickerMeta("AAPL", "Apple Inc.", "tech", 190.0, True))
    assert info == pb.TickerInfo(
        ticker="AAPL", name="Apple Inc.", sector="tech", seed_price=190.0, active=True
    )


# The hand-written LIVE element encoder ---------------------------------------------


@pytest.mark.parametrize(
    ("price", "previous", "sequence", "ns", "bars"),
    [
        (101.5, 100.0, 2, 1_700_000_000_123_456_789, {}),
        (99.0, 100.0, 300, 1_700_000_000_000_000_000, {}),
        (100.0, 100.0, 1, 1_700_000_000_000_000_001, {}),
        (5e-9, 5e-9 + 1e-300, 2**40, 0, {}),
        (190.0, 180.0, 7, 1_700_000_000_5, {"open": 1.0, "high": 0.0, "volume": 1e6}),
        (
            190.0,
            190.0,
            16_384,
            -5_000_000_001,
            {"low": 2.0, "close": 3.0, "vwap": 4.0, "transactions": 2**33},
        ),
    ],
)
def test_live_element_is_byte_for_byte_the_built_message(
    price: float, previous: float, sequence: int, ns: int, bars: dict[str, Any]
) -> None:
    from tickwire_server.cache import build_update
    from tickwire_server.domain import Quote

    quote = Quote("BRK.B", price, ns, **bars)
    prior = pb.PriceUpdate(ticker="BRK.B", price=previous, sequence=sequence - 1)
    expected = wire.update_element(build_update(quote, prior))
    assert wire.live_element(quote, previous, sequence) == expected


def test_a_shared_batch_frame_is_the_frame_of_its_elements() -> None:
    updates = [pb.PriceUpdate(ticker=t, price=1.0, sequence=3) for t in ("A", "B", "C")]
    entries = {u.ticker: CachedPrice.of(u) for u in updates}
    batch = wire.SharedBatch(entries, frozenset(entries))
    elements = {u.ticker: wire.update_element(u) for u in updates}
    assert batch.frame() == wire.prices_frame(elements.values())
    assert batch.frame() is batch.frame()
    assert batch.frame(7) == wire.prices_frame(elements.values(), conflated=7)
    assert batch.frame(7) is batch.frame(7)  # streams with the same count share it too
    assert batch.frame(8) == wire.prices_frame(elements.values(), conflated=8)
    assert batch.frame() == wire.prices_frame(elements.values())  # still the plain one
