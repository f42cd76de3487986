"""Tests of the Massive wire tables: snapshots, market status and feed events to domain types."""

from __future__ import annotations

import json
import math

import pytest
from massive.rest.models import MarketStatus, TickerSnapshot

from tickwire_server.domain import MarketState, Quote
from tickwire_server.sources.massive import wire

T_NS = 1_795_000_000_123_456_789  # beyond a float's exact range: must stay an int

# One element of GET /v2/snapshot/locale/us/markets/stocks/tickers, as Massive documents it.
SNAPSHOT = {
    "ticker": "AAPL",
    "todaysChange": 1.5,
    "todaysChangePerc": 0.79,
    "updated": T_NS - 5,
    "day": {"o": 189.0, "h": 192.0, "l": 188.5, "c": 191.0, "v": 5_000_000, "vw": 190.2},
    "lastQuote": {"P": 191.05, "S": 2, "p": 190.95, "s": 3, "t": T_NS},
    "lastTrade": {"c": [14, 41], "i": "4046", "p": 191.0, "s": 100, "t": T_NS, "x": 4},
    "min": {"av": 5_000_000, "t": 1_795_000_000_000, "n": 9, "o": 190.9, "c": 191.0},
    "prevDay": {"o": 187.0, "h": 190.0, "l": 186.0, "c": 189.5, "v": 4e6, "vw": 188.0},
}


def _snapshot(**changes: object) -> TickerSnapshot:
    return TickerSnapshot.from_dict({**SNAPSHOT, **changes})


def test_snapshot_maps_last_trade_price_and_its_exact_ns_time_and_the_day_bar() -> None:
    assert wire.snapshot_quote(_snapshot()) == Quote(
        "AAPL", 191.0, T_NS, open=189.0, high=192.0, low=188.5, close=191.0,
        volume=5_000_000, vwap=190.2,
    )  # fmt: skip


def test_snapshot_day_bar_transactions_are_an_int() -> None:
    quote = wire.snapshot_quote(_snapshot(day={**SNAPSHOT["day"], "n": 42.0}))  # type: ignore[dict-item]
    assert quote is not None and quote.transactions == 42 and isinstance(quote.transactions, int)


@pytest.mark.parametrize(
    "last_trade",
    [None, {"t": T_NS}, {"p": "191.0", "t": T_NS}, {"p": 0, "t": T_NS}, {"p": -1.0}, {"p": True}],
    ids=["missing", "no-price", "string", "zero", "negative", "bool"],
)
def test_snapshot_without_a_usable_price_is_none(last_trade: object) -> None:
    record = {k: v for k, v in SNAPSHOT.items() if k != "lastTrade"}
    if last_trade is not None:
        record["lastTrade"] = last_trade
    assert wire.snapshot_quote(TickerSnapshot.from_dict(record)) is None


def test_snapshot_without_a_ticker_is_none() -> None:
    assert wire.snapshot_quote(_snapshot(ticker=None)) is None


def test_snapshot_time_falls_back_to_updated() -> None:
    quote = wire.snapshot_quote(_snapshot(lastTrade={"p": 191.0}))
    assert quote is not None and quote.timestamp_ns == T_NS - 5


def test_snapshot_with_bad_day_fields_keeps_the_good_ones() -> None:
    quote = wire.snapshot_quote(_snapshot(day={"o": "x", "h": math.nan, "c": 191.0}))
    assert quote is not None
    assert (quote.open, quote.high, quote.close, quote.volume) == (None, None, 191.0, None)


@pytest.mark.parametrize(
    ("market", "state"),
    [
        ("open", MarketState.OPEN),
        ("closed", MarketState.CLOSED),
        ("extended-hours", MarketState.EXTENDED_HOURS),
        ("holiday", None),
        (None, None),
    ],
)
def test_market_status(market: str | None, state: MarketState | None) -> None:
    status = MarketStatus.from_dict({"market": market, "earlyHours": False, "afterHours": False})
    assert wire.market_state(status) is state


def test_aggregate_event_maps_close_end_time_and_the_one_second_bar() -> None:
    event = {
        "ev": "A", "sym": "MSFT", "v": 400, "av": 3_000_000, "op": 405.0, "vw": 410.1,
        "o": 410.0, "c": 410.5, "h": 410.6, "l": 409.9, "a": 408.0, "z": 50,
        "s": 1_795_000_000_000, "e": 1_795_000_001_000,
    }  # fmt: skip
    assert wire.event_quote(event) == Quote(
        "MSFT", 410.5, 1_795_000_001_000 * 1_000_000, open=410.0, high=410.6, low=409.9,
        close=410.5, volume=400, vwap=410.1, size=400,
    )  # fmt: skip


def test_trade_event_maps_price_ms_time_and_size_without_a_bar() -> None:
    event = {"ev": "T", "sym": "NVDA", "x": 4, "i": "1", "z": 3, "p": 120.25, "s": 100,
             "c": [12], "t": 1_795_000_000_500, "q": 77}  # fmt: skip
    assert wire.event_quote(event) == Quote(
        "NVDA", 120.25, 1_795_000_000_500 * 1_000_000, size=100.0
    )


@pytest.mark.parametrize(
    "event",
    [
        42,
        "A",
        {"ev": "A", "c": 1.0, "e": 1},
        {"ev": "A", "sym": "X", "c": "1.0", "e": 1},
        {"ev": "A", "sym": "X", "c": 1.0},
        {"ev": "T", "sym": "X", "p": None, "t": 1},
        {"ev": "Q", "sym": "X", "bp": 1.0, "ap": 1.1, "t": 1},
        {"sym": "X", "c": 1.0, "e": 1},
    ],
    ids=["number", "string", "no-sym", "string-price", "no-time", "null-price", "quote", "no-ev"],
)
def test_malformed_or_unknown_events_are_none(event: object) -> None:
    assert wire.event_quote(event) is None


def test_parse_frame_keeps_good_events_counts_bad_ones_and_collects_statuses() -> None:
    frame = wire.parse_frame(
        json.dumps(
            [
                {"ev": "status", "status": "success", "message": "subscribed to: A.AAPL"},
                {"ev": "A", "sym": "AAPL", "c": 191.0, "e": 1000},
                {"ev": "A", "sym": "AAPL"},
                7,
            ]
        )
    )
    assert frame.statuses == [("success", "subscribed to: A.AAPL")]
    assert frame.quotes == [Quote("AAPL", 191.0, 1000 * 1_000_000, close=191.0)]
    assert frame.skipped == 2


@pytest.mark.parametrize("raw", ["not json", b"\xff\xfe", "", "[1,"])
def test_a_frame_that_is_not_json_is_one_skipped_record(raw: str | bytes) -> None:
    frame = wire.parse_frame(raw)
    assert (frame.quotes, frame.statuses, frame.skipped) == ([], [], 1)


def test_a_single_event_object_is_read_as_a_frame_of_one() -> None:
    frame = wire.parse_frame('{"ev": "T", "sym": "V", "p": 280.0, "t": 5}')
    assert frame.quotes == [Quote("V", 280.0, 5_000_000)]


def test_channels_are_aggregates_and_trades_when_asked() -> None:
    assert wire.channels(["AAPL", "BRK.B"], trades=False) == ["A.AAPL", "A.BRK.B"]
    assert wire.channels(["AAPL"], trades=True) == ["A.AAPL", "T.AAPL"]


@pytest.mark.parametrize(
    ("url", "endpoint"),
    [
        ("wss://socket.massive.com", ("socket.massive.com", True)),
        ("wss://delayed.massive.com/", ("delayed.massive.com", True)),
        ("ws://127.0.0.1:8765", ("127.0.0.1:8765", False)),
        ("ws://proxy.local:80/massive/", ("proxy.local:80/massive", False)),
    ],
)
def test_ws_endpoint_is_the_feed_and_security_the_client_wants(
    url: str, endpoint: tuple[str, bool]
) -> None:
    assert wire.ws_endpoint(url) == endpoint
