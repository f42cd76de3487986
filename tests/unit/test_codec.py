"""Tests of the protobuf codec: pre-encoded frames parse back to the messages built normally."""

from __future__ import annotations

import itertools
import time
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from google.protobuf.internal import encoder
from hypothesis import given
from hypothesis import strategies as st

from tickwire.v1 import market_data_pb2 as pb
from tickwire_server import codec
from tickwire_server.codec import CachedPrice
from tickwire_server.codec.columns import TickerFields, encode_block
from tickwire_server.codec.elements import ENUM_NUMBERS, TAGS, contract_mismatches
from tickwire_server.domain import (
    FloatArray,
    MarketState,
    PriceBlock,
    Quote,
    SourceState,
    SourceStatus,
    TickerMeta,
    TickerResult,
    TickerStatus,
)

NOW_SLACK_NS = 60 * 1_000_000_000  # "near now": generous, only catches wrong units or epochs
T_BLOCK = 1_700_000_000_123_456_789
BAR_FIELDS = ("open", "high", "low", "close", "volume", "vwap", "transactions")


def build_update(quote: Quote, previous: pb.PriceUpdate | None) -> pb.PriceUpdate:
    """The live PriceUpdate for `quote`, built with the generated classes: the reference.

    Change fields are against `previous`; what `Encoder.live_element` writes
    by hand must be this message's serialisation, byte for byte.
    """
    price = quote.price
    prev_price = previous.price if previous is not None else price
    change = price - prev_price
    if change > 0:
        direction = pb.DIRECTION_UP
    elif change < 0:
        direction = pb.DIRECTION_DOWN
    else:
        direction = pb.DIRECTION_FLAT
    update = pb.PriceUpdate(
        ticker=quote.ticker,
        price=price,
        previous_price=prev_price,
        change=change,
        change_percent=(change / prev_price * 100.0) if prev_price else 0.0,
        direction=direction,
        sequence=(previous.sequence + 1) if previous is not None else 1,
        state=pb.DATA_STATE_LIVE,
    )
    update.timestamp.seconds, update.timestamp.nanos = divmod(quote.timestamp_ns, 1_000_000_000)
    for name in BAR_FIELDS:
        value = getattr(quote, name)
        if value is not None:
            setattr(update, name, value)
    return update


def _update(ticker: str, price: float, sequence: int, **extra: Any) -> pb.PriceUpdate:
    return pb.PriceUpdate(
        ticker=ticker,
        price=price,
        previous_price=price - 1.0,
        change=1.0,
        change_percent=100.0 / (price - 1.0),
        direction=pb.DIRECTION_UP,
        timestamp=codec.timestamp(1_700_000_000_123_456_789 + sequence),
        sequence=sequence,
        state=pb.DATA_STATE_LIVE,
        **extra,
    )


def _parse(frame: bytes) -> pb.SubscribeResponse:
    response = pb.SubscribeResponse()
    response.ParseFromString(frame)
    return response


def _assert_near_now(ts: object) -> None:
    assert isinstance(ts, type(codec.timestamp(0)))
    assert abs(ts.ToNanoseconds() - time.time_ns()) < NOW_SLACK_NS


# varint ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", [0, 1, 127, 128, 255, 300, 16_383, 16_384, 2**21, 2**32, 2**63, 2**64 - 1]
)
def test_varint_matches_the_protobuf_library(value: int) -> None:
    assert codec.varint(value) == encoder._VarintBytes(value)  # type: ignore[attr-defined]


@pytest.mark.parametrize("value", [0, 1, 127, 128, 300, 2**32, 2**63])
def test_varint_matches_a_serialised_uint64_field(value: int) -> None:
    # PriceBatch.conflated is field 2, a uint64: tag 0x10, then the varint.
    serialised = pb.PriceBatch(conflated=value).SerializeToString()
    expected = serialised if value else b"\x10\x00"  # proto3 omits a zero
    assert b"\x10" + codec.varint(value) == expected


# prices frames -----------------------------------------------------------------


def test_update_element_is_one_batch_element() -> None:
    update = _update("AAPL", 190.5, 3)
    batch = pb.PriceBatch()
    batch.ParseFromString(codec.update_element(update))
    assert list(batch.updates) == [update]


def test_prices_frame_equals_the_normally_built_response() -> None:
    updates = [
        _update("AAPL", 190.5, 1),
        _update("BRK.B", 410.25, 7, open=400.0, high=411.0, low=399.5, volume=1e6),
        _update("V", 280.0, 2, transactions=12_345),
    ]
    frame = codec.prices_frame([codec.update_element(u) for u in updates], conflated=5)

    expected = pb.SubscribeResponse(prices=pb.PriceBatch(updates=updates, conflated=5))
    parsed = _parse(frame)
    assert parsed.WhichOneof("response") == "prices"
    assert parsed == expected
    assert frame == expected.SerializeToString()


def test_prices_frame_without_conflation_omits_the_field() -> None:
    updates = [_update("MSFT", 420.0, 1), _update("TSLA", 250.0, 9)]
    frame = codec.prices_frame([codec.update_element(u) for u in updates], conflated=0)

    expected = pb.SubscribeResponse(prices=pb.PriceBatch(updates=updates))
    assert _parse(frame) == expected
    assert _parse(frame).prices.conflated == 0
    assert frame == expected.SerializeToString()


def test_prices_frame_default_conflated_is_zero() -> None:
    updates = [_update("NFLX", 600.0, 4)]
    frame = codec.prices_frame(codec.update_element(u) for u in updates)
    assert _parse(frame) == pb.SubscribeResponse(prices=pb.PriceBatch(updates=updates))


def test_empty_prices_frame_is_an_empty_batch() -> None:
    parsed = _parse(codec.prices_frame([]))
    assert parsed.WhichOneof("response") == "prices"
    assert list(parsed.prices.updates) == []


@pytest.mark.parametrize("conflated", [1, 127, 128, 300, 2**32, 2**63])
def test_prices_frame_carries_large_conflated_counts(conflated: int) -> None:
    updates = [_update("AAPL", 190.5, 1)]
    frame = codec.prices_frame([codec.update_element(u) for u in updates], conflated)
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
    elements = [codec.update_element(u) for u in updates]
    frame = codec.prices_frame(elements)
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
    frame = codec.ack_frame(
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
    frame = codec.ack_frame(pb.SUBSCRIPTION_ACTION_UNSUBSCRIBE, [], ["V", "AAPL", "JPM"])
    ack = _parse(frame).ack
    assert ack.action == pb.SUBSCRIPTION_ACTION_UNSUBSCRIBE
    assert list(ack.tickers) == ["AAPL", "JPM", "V"]
    assert ack.request_id == ""


def test_every_ticker_status_has_a_proto_value() -> None:
    assert set(codec.TICKER_STATUSES) == set(TickerStatus)
    names = {pb.TickerStatus.Name(v) for v in codec.TICKER_STATUSES.values()}
    assert names == {f"TICKER_STATUS_{s.name}" for s in TickerStatus}


def test_heartbeat_frame_echoes_the_ping_id_with_the_server_time() -> None:
    parsed = _parse(codec.heartbeat_frame("ping-42"))
    assert parsed.WhichOneof("response") == "heartbeat"
    assert parsed.heartbeat.ping_id == "ping-42"
    _assert_near_now(parsed.heartbeat.server_time)


def test_periodic_heartbeat_has_no_ping_id() -> None:
    parsed = _parse(codec.heartbeat_frame())
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
    parsed = _parse(codec.market_status_frame(status))
    assert parsed.WhichOneof("response") == "market_status"
    got = parsed.market_status
    assert pb.MarketState.Name(got.market) == f"MARKET_STATE_{market.name}"
    assert pb.SourceState.Name(got.source_state) == f"SOURCE_STATE_{state.name}"
    assert got.source == "simulator"
    assert got.message == "upstream said hi"
    _assert_near_now(got.server_time)


def test_timestamp_splits_nanoseconds() -> None:
    ts = codec.timestamp(1_700_000_000_123_456_789)
    assert (ts.seconds, ts.nanos) == (1_700_000_000, 123_456_789)
    assert codec.timestamp(0).ToNanoseconds() == 0
    assert codec.timestamp(999_999_999).seconds == 0


def test_ticker_info_copies_the_metadata() -> None:
    info = codec.ticker_info(TickerMeta("AAPL", "Apple Inc.", "tech", 190.0, True))
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
    quote = Quote("BRK.B", price, ns, **bars)
    prior = pb.PriceUpdate(ticker="BRK.B", price=previous, sequence=sequence - 1)
    expected = codec.update_element(build_update(quote, prior))
    assert codec.Encoder().live_element(quote, previous, sequence) == expected


def test_a_shared_batch_frame_is_the_frame_of_its_elements() -> None:
    updates = [pb.PriceUpdate(ticker=t, price=1.0, sequence=3) for t in ("A", "B", "C")]
    entries = {u.ticker: CachedPrice.of(u) for u in updates}
    batch = codec.SharedBatch(entries, frozenset(entries))
    elements = {u.ticker: codec.update_element(u) for u in updates}
    assert batch.frame() == codec.prices_frame(elements.values())
    assert batch.frame() is batch.frame()
    assert batch.frame(7) == codec.prices_frame(elements.values(), conflated=7)
    assert batch.frame(7) is batch.frame(7)  # streams with the same count share it too
    assert batch.frame(8) == codec.prices_frame(elements.values(), conflated=8)
    assert batch.frame() == codec.prices_frame(elements.values())  # still the plain one


# The contract and the hand-written encoder ---------------------------------------------------


def test_the_codec_tags_and_enum_numbers_match_the_generated_descriptors() -> None:
    assert contract_mismatches() == []
    fields = pb.PriceUpdate.DESCRIPTOR.fields_by_name
    assert {name for message, name in TAGS if message == "tickwire.v1.PriceUpdate"} == set(fields)


def test_a_moved_field_or_enum_value_is_reported() -> None:
    tags = dict(TAGS)
    tags["tickwire.v1.PriceUpdate", "price"] = 0x19  # field 3's tag, not field 2's
    tags["tickwire.v1.PriceUpdate", "bid"] = 0x88
    enums = {**ENUM_NUMBERS, ("tickwire.v1.Direction", "DIRECTION_UP"): 2}
    problems = contract_mismatches(tags, enums)
    assert len(problems) == 3
    assert any("PriceUpdate.price" in p and "0x19" in p and "0x11" in p for p in problems)
    assert any("PriceUpdate.bid is not in the contract" in p for p in problems)
    assert any("DIRECTION_UP" in p for p in problems)


_finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
_positive = st.floats(min_value=1e-12, max_value=1e12, allow_nan=False)
_symbols = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-", min_size=1, max_size=200)


@st.composite
def _quotes(draw: st.DrawFn) -> tuple[Quote, float, int]:
    bars = {name: draw(st.none() | _finite) for name in BAR_FIELDS[:-1]}
    transactions = draw(st.none() | st.integers(min_value=0, max_value=2**64 - 1))
    quote = Quote(
        draw(_symbols),
        draw(_positive),
        draw(st.integers(min_value=-(2**62), max_value=2**62)),
        transactions=transactions,
        **bars,
    )
    return quote, draw(_positive), draw(st.integers(min_value=1, max_value=2**64 - 1))


@given(_quotes())
def test_live_element_is_the_generated_encoding_for_any_quote(
    case: tuple[Quote, float, int],
) -> None:
    quote, previous, sequence = case
    prior = pb.PriceUpdate(ticker=quote.ticker, price=previous, sequence=sequence - 1)
    expected = codec.update_element(build_update(quote, prior))
    encoder_ = codec.Encoder()
    assert encoder_.live_element(quote, previous, sequence) == expected
    assert encoder_.live_element(quote, previous, sequence) == expected  # from its memos too


@given(st.lists(_quotes(), max_size=40), st.integers(min_value=0, max_value=2**64 - 1))
def test_frames_are_the_generated_encoding_of_the_batch(
    cases: list[tuple[Quote, float, int]], conflated: int
) -> None:
    encoder_ = codec.Encoder(max_symbols=4)  # memos overflow and start over on the way
    elements = [encoder_.live_element(q, p, n) for q, p, n in cases]
    updates = [
        build_update(q, pb.PriceUpdate(ticker=q.ticker, price=p, sequence=n - 1))
        for q, p, n in cases
    ]
    expected = pb.SubscribeResponse(
        prices=pb.PriceBatch(updates=updates, conflated=conflated)
    ).SerializeToString()
    assert codec.prices_frame(elements, conflated) == expected
    entries = {str(i): CachedPrice.of(u) for i, u in enumerate(updates)}
    assert codec.SharedBatch(entries, frozenset(entries)).frame(conflated) == expected


@given(
    st.lists(st.binary(min_size=0, max_size=300), min_size=1, max_size=30),
    st.integers(min_value=0, max_value=2**64 - 1),
    st.integers(min_value=64, max_value=2_000),
)
def test_split_frames_keep_every_element_in_order_within_the_limit(
    sizes: list[bytes], conflated: int, max_bytes: int
) -> None:
    updates = [
        pb.PriceUpdate(ticker="T" * (1 + len(b) % 150), sequence=i + 1) for i, b in enumerate(sizes)
    ]
    elements = [codec.update_element(u) for u in updates]
    frames = codec.prices_frames(elements, conflated, max_bytes)
    batches = [pb.SubscribeResponse.FromString(f).prices for f in frames]
    assert [u for b in batches for u in b.updates] == updates
    assert [b.conflated for b in batches] == [conflated] + [0] * (len(batches) - 1)
    for frame, batch in zip(frames, batches, strict=True):
        # Over the limit only as a lone element too large for any frame.
        assert len(frame) <= max_bytes or len(batch.updates) == 1
    if len(codec.prices_frame(elements, conflated)) <= max_bytes:
        assert len(frames) == 1


# Blocks: a ticker list's rows encoded together ------------------------------------------------


@st.composite
def _blocks(draw: st.DrawFn) -> tuple[PriceBlock, FloatArray, npt.NDArray[np.uint64]]:
    """A block (distinct symbols, some columns), the prices it moved from and its sequences."""
    n = draw(st.integers(min_value=0, max_value=30))
    tickers = tuple(draw(st.lists(_symbols, min_size=n, max_size=n, unique=True)))
    prices = draw(st.lists(_positive, min_size=n, max_size=n))
    # Some rows do not move (a change of zero leaves its fields out) and some barely do.
    previous = [draw(st.sampled_from([p, p * (1 + 1e-16), draw(_positive)])) for p in prices]
    columns: dict[str, Any] = {}
    for name in BAR_FIELDS[:-1]:
        if draw(st.booleans()):
            columns[name] = draw(st.lists(_finite, min_size=n, max_size=n))
    if draw(st.booleans()):
        columns["transactions"] = draw(
            st.lists(st.integers(min_value=0, max_value=2**63 - 1), min_size=n, max_size=n)
        )
    ts = draw(st.integers(min_value=-(2**62), max_value=2**62))
    sequence = draw(st.lists(st.integers(min_value=1, max_value=2**64 - 1), min_size=n, max_size=n))
    block = PriceBlock(tickers, np.array(prices, np.float64), ts, **columns)
    return block, np.array(previous, np.float64), np.array(sequence, np.uint64)


@given(_blocks())
def test_a_block_encodes_each_row_as_the_generated_encoder_does(
    case: tuple[PriceBlock, FloatArray, npt.NDArray[np.uint64]],
) -> None:
    block, previous, sequence = case
    data, ends = encode_block(TickerFields(block.tickers), block, previous, sequence)
    expected = [
        codec.update_element(
            build_update(q, pb.PriceUpdate(ticker=q.ticker, price=p, sequence=n - 1))
        )
        for q, p, n in zip(block, previous.tolist(), sequence.tolist(), strict=True)
    ]
    assert data == b"".join(expected)
    assert ends.tolist() == list(itertools.accumulate(map(len, expected)))


def test_a_column_batch_frames_and_elements_are_its_rows() -> None:
    tickers = ("AAPL", "V", "BRK.B")
    block = PriceBlock(tickers, np.array([191.0, 280.0, 410.0]), T_BLOCK)
    previous = np.array([190.0, 280.0, 400.0])
    sequence = np.array([2, 130, 20_000], np.uint64)
    batch = codec.ColumnBatch(TickerFields(tickers), block, previous, sequence)
    encoder_ = codec.Encoder()
    elements = {
        q.ticker: encoder_.live_element(q, p, n)
        for q, p, n in zip(block, previous.tolist(), sequence.tolist(), strict=True)
    }
    assert batch.frame(3) == codec.prices_frame(elements.values(), conflated=3)
    assert batch.elements == elements
    assert batch.share(frozenset({"V"})).frame() == codec.prices_frame([elements["V"]])
    entries = batch.cached_prices(encoder_)
    assert [(e.ticker, e.sequence, e.element) for e in entries] == [
        (t, n, elements[t]) for t, n in zip(tickers, sequence.tolist(), strict=True)
    ]


def test_a_block_is_a_sequence_of_its_quotes() -> None:
    block = PriceBlock(
        ("A", "B"),
        np.array([1.5, 2.5]),
        T_BLOCK,
        high=[2.0, 3.0],
        transactions=[7, 8],
        sizes=[100.0, 0.0],
    )
    assert list(block) == [
        Quote("A", 1.5, T_BLOCK, high=2.0, transactions=7, size=100.0),
        Quote("B", 2.5, T_BLOCK, high=3.0, transactions=8, size=0.0),
    ]
    assert block[-1].ticker == "B"
    assert block[:1] == [block[0]]
    with pytest.raises(ValueError, match="low has shape"):
        PriceBlock(("A", "B"), np.array([1.5, 2.5]), T_BLOCK, low=[1.0])
