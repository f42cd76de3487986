"""Tests of what the async and sync clients share: options, metadata, snapshot answers."""

from __future__ import annotations

import pytest

from tickwire import SubscriptionError, TickerStatus
from tickwire._convert import channel_options, metadata, snapshot_prices, snapshot_request
from tickwire.v1 import market_data_pb2 as pb


def test_channel_options_cap_both_directions() -> None:
    options = dict(channel_options(1234))
    assert options["grpc.max_receive_message_length"] == 1234
    assert options["grpc.max_send_message_length"] == 1234


def test_client_keepalive_pings_no_more_often_than_the_server_accepts() -> None:
    from tickwire_server.app import server_options
    from tickwire_server.config import Settings

    client = dict(channel_options(1234))
    server = dict(server_options(Settings()))
    accepted = server["grpc.http2.min_recv_ping_interval_without_data_ms"]
    assert client["grpc.keepalive_time_ms"] >= accepted  # else the server sends GOAWAY


def test_metadata_carries_a_bearer_token_only_when_there_is_one() -> None:
    assert metadata("s3cret") == (("authorization", "Bearer s3cret"),)
    assert metadata(None) == ()
    assert metadata("") == ()


def _answer() -> pb.GetSnapshotResponse:
    return pb.GetSnapshotResponse(
        prices=[pb.PriceUpdate(ticker="AAPL", price=190.0)],
        results=[
            pb.TickerResult(ticker="AAPL", status=pb.TICKER_STATUS_OK),
            pb.TickerResult(ticker="QQQ", status=pb.TICKER_STATUS_NO_DATA, message="no price"),
        ],
    )


def test_snapshot_prices_are_keyed_by_ticker() -> None:
    prices = snapshot_prices(_answer(), strict=False)
    assert {t: u.price for t, u in prices.items()} == {"AAPL": 190.0}


def test_a_strict_snapshot_with_a_missing_price_raises_with_every_result() -> None:
    with pytest.raises(SubscriptionError, match="QQQ: no price") as info:
        snapshot_prices(_answer(), strict=True)
    assert [r.status for r in info.value.results] == [TickerStatus.OK, TickerStatus.NO_DATA]
    assert [r.ticker for r in info.value.rejected] == ["QQQ"]


def test_snapshot_request_names_the_tickers_as_given() -> None:
    assert list(snapshot_request(("aapl", "MSFT")).tickers) == ["aapl", "MSFT"]
