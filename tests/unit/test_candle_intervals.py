"""Candle intervals: the table from the contract, epoch alignment, and XNYS sessions."""

from __future__ import annotations

import datetime as dt

import pytest

from tickwire.v1 import candles_pb2 as cpb
from tickwire_server.candles.intervals import (
    BY_NAME,
    INTERVALS,
    NS,
    UnknownInterval,
    interval,
    span,
    xnys,
)


def ns(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).timestamp()) * NS


def utc(t_ns: int) -> str:
    return dt.datetime.fromtimestamp(t_ns / NS, dt.UTC).strftime("%Y-%m-%d %H:%M")


def test_every_contract_interval_is_in_the_table_with_its_limits() -> None:
    names = [i.name for i in INTERVALS]
    assert names == [
        "5s", "10s", "30s", "1m", "2m", "3m", "5m", "10m", "15m", "30m",
        "1h", "2h", "4h", "1d", "1w", "1mo",
    ]  # fmt: skip
    assert len(INTERVALS) == len(cpb.CandleInterval.values()) - 1  # all but UNSPECIFIED
    five = interval("5s")
    assert (five.number, five.seconds, five.max_limit) == (cpb.CANDLE_INTERVAL_5_SEC, 5, 2500)
    assert five.max_range_ns == 200 * 60 * NS  # 200 minutes
    assert interval(cpb.CANDLE_INTERVAL_1_MONTH).max_limit == 120
    assert interval("1d").seconds == 0 and interval("1d").calendar


def test_an_unknown_interval_names_the_allowed_ones() -> None:
    with pytest.raises(UnknownInterval, match=r"'7m'.*5s, 10s, .* 1mo"):
        interval("7m")
    with pytest.raises(UnknownInterval):
        interval(99)


def test_sub_day_bars_align_to_the_epoch_and_2h_4h_to_midnight_utc() -> None:
    t = ns("2026-12-02T15:47:13+00:00")
    assert [utc(s) for s, _ in (span(BY_NAME[n], t, None) or (0, 0) for n in ("1m", "15m"))] == [
        "2026-12-02 15:47",
        "2026-12-02 15:45",
    ]
    start, end = span(BY_NAME["4h"], t, None) or (0, 0)
    assert (utc(start), utc(end)) == ("2026-12-02 12:00", "2026-12-02 16:00")
    start, _ = span(BY_NAME["2h"], t, None) or (0, 0)
    assert utc(start) == "2026-12-02 14:00"
    assert span(BY_NAME["1d"], t, None) is None  # no sessions: no day bar


@pytest.fixture(scope="module")
def sessions():
    return xnys()


def test_a_day_bar_is_the_session_from_open_to_close(sessions) -> None:
    day = BY_NAME["1d"]
    open_, close = ns("2026-12-02T14:30:00+00:00"), ns("2026-12-02T21:00:00+00:00")
    assert span(day, open_, sessions) == (open_, close)  # the open is in it
    assert span(day, close - 1, sessions) == (open_, close)
    assert span(day, close, sessions) is None  # the close is not: after hours
    assert span(day, open_ - 1, sessions) is None  # nor is the pre-market


def test_a_half_day_closes_early_and_a_holiday_has_no_bar(sessions) -> None:
    day = BY_NAME["1d"]
    black_friday = span(day, ns("2026-11-27T15:00:00+00:00"), sessions)
    assert black_friday is not None and utc(black_friday[1]) == "2026-11-27 18:00"
    assert span(day, ns("2026-11-27T18:30:00+00:00"), sessions) is None
    assert span(day, ns("2026-11-26T16:00:00+00:00"), sessions) is None  # Thanksgiving
    week = span(BY_NAME["1w"], ns("2026-11-24T15:00:00+00:00"), sessions)
    assert week is not None
    assert (utc(week[0]), utc(week[1])) == ("2026-11-23 14:30", "2026-11-27 18:00")


@pytest.mark.parametrize(
    ("day", "opens"),
    [
        ("2026-03-06", "2026-03-06 14:30"),  # the Friday before clocks go forward: EST
        ("2026-03-09", "2026-03-09 13:30"),  # the Monday after: EDT, an hour earlier in UTC
        ("2026-10-30", "2026-10-30 13:30"),  # the Friday before they go back
        ("2026-11-02", "2026-11-02 14:30"),  # the Monday after
    ],
)
def test_sessions_follow_new_york_across_the_dst_switch(sessions, day: str, opens: str) -> None:
    where = span(BY_NAME["1d"], ns(f"{day}T16:00:00+00:00"), sessions)
    assert where is not None and utc(where[0]) == opens
    assert where[1] - where[0] == 390 * 60 * NS


def test_a_month_bar_runs_from_its_first_session_to_its_last(sessions) -> None:
    where = span(BY_NAME["1mo"], ns("2026-12-15T15:00:00+00:00"), sessions)
    assert where is not None
    assert (utc(where[0]), utc(where[1])) == ("2026-12-01 14:30", "2026-12-31 21:00")
    between = sessions.sessions_between(
        ns("2026-11-25T00:00:00+00:00"), ns("2026-12-01T00:00:00+00:00")
    )
    assert [utc(o)[:10] for o, _ in between] == ["2026-11-25", "2026-11-27", "2026-11-30"]


async def test_a_server_loads_the_calendar_in_a_child_once_then_from_its_cache(
    tmp_path, monkeypatch, sessions
) -> None:
    from tickwire_server.candles.intervals import Sessions

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    loaded = await Sessions.load_apart()
    (cached,) = (tmp_path / "tickwire").glob("sessions-XNYS-*.json")
    assert (loaded.opens, loaded.closes, loaded.dates) == (
        sessions.opens,
        sessions.closes,
        sessions.dates,
    )
    cached.write_text(cached.read_text().replace(str(loaded.opens[0]), str(loaded.opens[0] + 1), 1))
    again = await Sessions.load_apart()  # read back from the cache: no child this time
    assert again.opens[0] == loaded.opens[0] + 1
