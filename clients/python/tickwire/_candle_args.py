"""The arguments of `tickwire candles` (argparse only: parsing needs no extra)."""

from __future__ import annotations

import argparse
import datetime as dt
import re
from typing import Any

from tickwire._candles import INTERVALS, interval_info

_SPAN = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d|w)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def span(text: str) -> dt.timedelta:
    """'2h', '30m', '5d', '90s', '1w' as a timedelta (argparse type)."""
    match = _SPAN.match(text.strip().lower())
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is no span: write 90s, 30m, 2h, 5d or 1w")
    return dt.timedelta(seconds=float(match[1]) * _UNITS[match[2]])


def moment(text: str) -> dt.datetime:
    """An ISO 8601 time (argparse type); one without a zone is UTC."""
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r} is no ISO 8601 time: {error}") from None
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)


def interval_name(text: str) -> str:
    """An interval name argparse checks against the contract's list."""
    try:
        return interval_info(text).name
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    names = ", ".join(i.name for i in INTERVALS.values())
    parser = commands.add_parser(
        "candles", parents=[common], help="OHLCV bars of a ticker, stored and forming"
    )
    parser.add_argument("ticker")
    parser.add_argument(
        "--interval", type=interval_name, default="1m", help=f"bar length: {names} (default 1m)"
    )
    parser.add_argument("--last", type=span, default=None, help="how far back: 2h, 30m, 5d")
    parser.add_argument("--start", type=moment, help="from this ISO time (instead of --last)")
    parser.add_argument("--end", type=moment, help="until this ISO time (default now)")
    shape = parser.add_mutually_exclusive_group()
    shape.add_argument("--json", action="store_true", help="one JSON object per bar")
    shape.add_argument("--chart", action="store_true", help="a candle chart in the terminal")
