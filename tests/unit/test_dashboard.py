"""Tests of the dashboard of `tickwire watch`: rows, moves, refused tickers, status line."""

from __future__ import annotations

from rich.console import Console

from tickwire import ConnectionState, StateChange, TickerResult, TickerStatus
from tickwire._dashboard import Dashboard, sparkline
from tickwire.v1 import market_data_pb2 as pb


def _text(dashboard: Dashboard) -> str:
    console = Console(record=True, width=120, color_system=None)
    console.print(dashboard.render())
    return console.export_text()


def _update(ticker: str, price: float, **fields: object) -> pb.PriceUpdate:
    return pb.PriceUpdate(ticker=ticker, price=price, state=pb.DATA_STATE_LIVE, **fields)  # type: ignore[arg-type]


def test_dashboard_renders_prices_changes_arrows_sparklines_and_status() -> None:
    dashboard = Dashboard(["AAPL", "NVDA", "TSLA"], target="127.0.0.1:50051", move_threshold=1.0)
    dashboard.on_state(StateChange(ConnectionState.CONNECTED))
    dashboard.apply(_update("AAPL", 190.0, open=190.0, direction=pb.DIRECTION_FLAT))
    for price in (191.0, 192.0, 193.5):
        dashboard.apply(_update("AAPL", price, open=190.0, direction=pb.DIRECTION_UP))
    dashboard.apply(_update("NVDA", 125.0, direction=pb.DIRECTION_FLAT))
    dashboard.apply(_update("NVDA", 120.0, direction=pb.DIRECTION_DOWN, change_percent=-4.0))

    text = _text(dashboard)

    aapl = next(line for line in text.splitlines() if "AAPL" in line)
    assert "193.50" in aapl and "+3.50" in aapl and "+1.84%" in aapl and "▲" in aapl
    assert sparkline([190.0, 191.0, 192.0, 193.5]) in aapl
    nvda = next(line for line in text.splitlines() if "NVDA" in line and "%" in line)
    assert "-5.00" in nvda and "-4.00%" in nvda and "▼" in nvda
    assert "TSLA" in text and "waiting" in text
    assert "NVDA ▼ -4.00% to 120.00" in text  # a notable move, logged
    assert "connected" in text and "gaps 0" in text


def test_sparkline_scales_between_low_and_high() -> None:
    assert sparkline([1.0, 2.0, 3.0]) == "▁▅█"
    assert sparkline([5.0, 5.0]) == "▅▅"
    assert sparkline([]) == ""


def test_a_refused_ticker_shows_its_status_and_reason_in_its_row_and_the_log() -> None:
    dashboard = Dashboard(["AAPL", "zzzzzzzzzzzz", "QQQQ"])
    dashboard.apply(_update("AAPL", 190.0))
    refused = {
        "zzzzzzzzzzzz": TickerResult(
            "zzzzzzzzzzzz", TickerStatus.INVALID_SYMBOL, "symbol longer than 10 characters"
        ),
        "QQQQ": TickerResult("QQQQ", TickerStatus.UNKNOWN_TICKER, "not served"),
    }
    dashboard.set_refused(refused)
    dashboard.set_refused(refused)  # polled again: logged once
    lines = _text(dashboard).splitlines()
    row = next(line for line in lines if "ZZZZZZZZZZZZ" in line and "│" in line)
    assert "invalid symbol" in row and "symbol longer than 10 characters" in row
    assert "waiting" not in row
    qqqq = next(line for line in lines if "QQQQ" in line and "│" in line)
    assert "unknown ticker" in qqqq and "not served" in qqqq
    logged = [line for line in lines if "invalid symbol: symbol longer" in line]
    assert len(logged) == 1
    assert any("QQQQ unknown ticker: not served" in line for line in lines)


def test_a_ticker_refused_on_a_limit_then_accepted_shows_prices_again() -> None:
    dashboard = Dashboard(["NVDA"])
    dashboard.set_refused({"NVDA": TickerResult("NVDA", TickerStatus.LIMIT_EXCEEDED, "at most 1")})
    assert "limit exceeded" in _text(dashboard)
    dashboard.set_refused({})
    dashboard.apply(_update("NVDA", 120.0))
    row = next(line for line in _text(dashboard).splitlines() if "NVDA" in line and "│" in line)
    assert "120.00" in row and "limit exceeded" not in row


def test_a_long_reason_is_clipped_in_its_row_so_the_prices_stay_readable() -> None:
    dashboard = Dashboard(["AAPL", "BAD$"])
    dashboard.apply(_update("AAPL", 190.0))
    reason = "symbols use letters, digits, '.' and '-', starting with a letter or digit"
    dashboard.set_refused({"BAD$": TickerResult("BAD$", TickerStatus.INVALID_SYMBOL, reason)})
    console = Console(record=True, width=110, color_system=None)
    console.print(dashboard.render())
    lines = console.export_text().splitlines()
    assert "190.00" in next(line for line in lines if "AAPL" in line and "│" in line)
    row = next(line for line in lines if "BAD$" in line and "│" in line)
    assert "invalid symbol" in row and "…" in row
    assert any(reason in line for line in lines)  # whole in the event log
