"""What crosses the bus: batches joined from encoded elements and cut back, byte for byte."""

from __future__ import annotations

import zlib

import pytest

from tickwire.v1 import market_data_pb2 as pb
from tickwire_server.bus import wire
from tickwire_server.cache import PriceCache
from tickwire_server.candles.bars import Bar
from tickwire_server.candles.intervals import BY_NAME, NS
from tickwire_server.domain import Quote


def test_a_price_batch_comes_back_as_the_same_elements_and_numbers() -> None:
    cache = PriceCache()
    cache.apply([Quote("AAPL", 190.0, NS)])
    sent = cache.apply([Quote("AAPL", 190.5, 2 * NS), Quote("BRK.B", 2.5, 2 * NS, size=3.0)])
    data = wire.batch(sent)
    assert data == pb.PriceBatch(updates=[e.update for e in sent]).SerializeToString()
    got = wire.entries(data)
    assert [e.element for e in got] == [e.element for e in sent]
    assert [(e.ticker, e.sequence, e.price) for e in got] == [("AAPL", 2, 190.5), ("BRK.B", 1, 2.5)]
    assert wire.entries(b"") == []


def test_candle_frames_cross_as_one_response_and_come_back_unchanged() -> None:
    one = BY_NAME["1m"]
    bars = [
        Bar.stored(t, one, 60 * NS, 120 * NS, (1.0, 2.0, 0.5, 1.5), 100.0, 1.2, 3)
        for t in ("AAPL", "MSFT")
    ]
    frames = [b.frame() for b in bars]
    got = wire.candle_frames(wire.candle_batch(frames))
    assert [frame for _, frame in got] == frames
    assert [candle.ticker for candle, _ in got] == ["AAPL", "MSFT"]


def test_bytes_of_another_message_are_refused() -> None:
    with pytest.raises(ValueError, match="unexpected field tag"):
        wire.entries(pb.PriceBatch(conflated=3).SerializeToString())
    with pytest.raises(ValueError, match="not a candle frame"):
        wire.candle_batch([pb.SubscribeResponse(prices=pb.PriceBatch()).SerializeToString()])


def test_shards_agree_across_processes_and_name_subject_tokens() -> None:
    assert wire.Shards(0).of("BRK.B") == "BRK_B"  # one token, whatever the ticker
    assert wire.Shards(1).of("AAPL") == "all"
    assert wire.Shards(16).of("AAPL") == str(zlib.crc32(b"AAPL") % 16)  # the same in every process
    buckets = {wire.Shards(16).of(f"T{i:04d}") for i in range(500)}
    assert buckets == {str(n) for n in range(16)}
