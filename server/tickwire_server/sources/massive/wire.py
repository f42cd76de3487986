"""Massive's wire format in one place: JSON keys, channels, and their mapping to domain types.

REST answers are decoded by the `massive` package's models (`TickerSnapshot`,
`Agg`, `LastTrade`, `MarketStatus`); WebSocket frames are read raw (a JSON
array of events) so that one malformed record is skipped and counted instead
of breaking the connection. Nothing here does I/O.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from tickwire_server.candles.bars import Bar
from tickwire_server.domain import MarketState, Quote

MARKET = "stocks"  # the package's market type: the string, not SnapshotMarketType

# REST: GET /v2/snapshot/locale/us/markets/stocks/tickers?tickers=A,B -> {"tickers": [...]}.
SNAPSHOT_LIST_KEY = "tickers"
# Tickers named in one snapshot call. Massive documents no limit, but every name goes
# into the URL: 200 tickers of up to 10 characters, joined by "%2C", make a query of
# about 2.6 KB, well within the 8 KB request line that common front ends accept (a
# longer one is refused with HTTP 414). A larger set takes several calls.
SNAPSHOT_MAX_TICKERS = 200
# Quote bar field -> `Agg` attribute of the snapshot's day bar (JSON o h l c v vw n).
DAY_BAR_FIELDS: Mapping[str, str] = {
    "open": "open",
    "high": "high",
    "low": "low",
    "close": "close",
    "volume": "volume",
    "vwap": "vwap",
    "transactions": "transactions",
}

# REST: GET /v2/aggs/ticker/T/range/1/minute/FROM/TO -> {"results": [Agg...], "next_url"}.
AGGS_LIST_KEY = "results"
AGGS_NEXT_KEY = "next_url"
# `limit` counts the base aggregates a call may scan: 50,000 at most, about a month of
# minutes with extended hours (16 hours x 60 x 22 sessions = 21,120), so a month per call.
AGGS_LIMIT = 50_000
AGGS_CHUNK_DAYS = 30

# REST: GET /v1/marketstatus/now -> {"market": ...}.
MARKET_STATES: Mapping[str, MarketState] = {
    "open": MarketState.OPEN,
    "closed": MarketState.CLOSED,
    "extended-hours": MarketState.EXTENDED_HOURS,
}

# WebSocket: every frame is a JSON array of events keyed by "ev".
EVENT_KEY = "ev"
SYMBOL_KEY = "sym"
STATUS_EVENT = "status"
STATUS_KEY = "status"
MESSAGE_KEY = "message"
OK_STATUSES = frozenset({"connected", "auth_success", "success"})
AGGREGATE_CHANNEL = "A"  # per-second aggregates: sym o h l c v av vw a z op s e (s/e in ms)
TRADE_CHANNEL = "T"  # trades: sym p s x i c t q z (t in ms)
# Quote bar field -> JSON key of a per-second aggregate event.
AGGREGATE_FIELDS: Mapping[str, str] = {
    "open": "o",
    "high": "h",
    "low": "l",
    "close": "c",
    "volume": "v",
    "vwap": "vw",
}
AGGREGATE_PRICE, AGGREGATE_TIME_MS = "c", "e"
TRADE_PRICE, TRADE_TIME_MS, TRADE_SIZE = "p", "t", "s"

_NS_PER_MS = 1_000_000


def channels(tickers: Iterable[str], *, trades: bool) -> list[str]:
    """WebSocket subscription params for `tickers`: "A.AAPL" (and "T.AAPL" with trades)."""
    kinds = (AGGREGATE_CHANNEL, TRADE_CHANNEL) if trades else (AGGREGATE_CHANNEL,)
    return [f"{kind}.{ticker}" for ticker in tickers for kind in kinds]


def ws_endpoint(url: str) -> tuple[str, bool]:
    """(feed, secure) for `massive.WebSocketClient` from a ws[s]:// base URL.

    The client dials `ws[s]://{feed}/{market}`, so the feed is host[:port][/path].
    """
    parts = urlsplit(url)
    return parts.netloc + parts.path.rstrip("/"), parts.scheme == "wss"


def number(value: object) -> float | None:
    """`value` as a finite float, or None when it is missing or not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    result = float(value)
    return result if math.isfinite(result) else None


def integer(value: object) -> int | None:
    """`value` as an int (timestamps: ns do not fit a float exactly), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    return None


def _price(value: object) -> float | None:
    price = number(value)
    return price if price is not None and price > 0.0 else None


def _bar(source: object, fields: Mapping[str, str], get: Any) -> dict[str, Any]:
    bar: dict[str, Any] = {}
    for name, key in fields.items():
        value = number(get(source, key))
        if value is not None:
            bar[name] = value
    if "transactions" in bar:
        bar["transactions"] = int(bar["transactions"])
    return bar


def snapshot_quote(snapshot: Any) -> Quote | None:
    """The quote of one `TickerSnapshot`: last trade price and its ns time, day bar.

    Returns None when the snapshot has no usable ticker or price (skipped and
    counted by the caller).
    """
    ticker = getattr(snapshot, "ticker", None)
    trade = getattr(snapshot, "last_trade", None)
    price = _price(getattr(trade, "price", None))
    if not isinstance(ticker, str) or not ticker or price is None:
        return None
    stamp = integer(getattr(trade, "sip_timestamp", None)) or integer(
        getattr(snapshot, "updated", None)
    )
    timestamp_ns = stamp if stamp else time.time_ns()
    day = getattr(snapshot, "day", None)
    bar = _bar(day, DAY_BAR_FIELDS, getattr) if day is not None else {}
    return Quote(ticker, price, timestamp_ns, **bar)


def market_state(status: Any) -> MarketState | None:
    """The MarketState of a `MarketStatus` model, or None when its `market` is unknown."""
    market = getattr(status, "market", None)
    return MARKET_STATES.get(market) if isinstance(market, str) else None


@dataclass(slots=True)
class Frame:
    """What one WebSocket frame held: price quotes, status events, skipped records."""

    quotes: list[Quote] = field(default_factory=list)
    statuses: list[tuple[str, str]] = field(default_factory=list)
    skipped: int = 0


def parse_frame(raw: str | bytes) -> Frame:
    """Read one raw WebSocket frame; malformed records are counted, never raised."""
    frame = Frame()
    try:
        events = json.loads(raw)
    except ValueError:
        frame.skipped += 1
        return frame
    if not isinstance(events, list):
        events = [events]
    for event in events:
        if isinstance(event, dict) and event.get(EVENT_KEY) == STATUS_EVENT:
            frame.statuses.append((str(event.get(STATUS_KEY, "")), str(event.get(MESSAGE_KEY, ""))))
            continue
        quote = event_quote(event)
        if quote is None:
            frame.skipped += 1
        else:
            frame.quotes.append(quote)
    return frame


def event_quote(event: object) -> Quote | None:
    """The quote of one aggregate or trade event, or None when it is not one or malformed."""
    if not isinstance(event, dict):
        return None
    kind, ticker = event.get(EVENT_KEY), event.get(SYMBOL_KEY)
    if not isinstance(ticker, str) or not ticker:
        return None
    if kind == AGGREGATE_CHANNEL:
        price, stamp = _price(event.get(AGGREGATE_PRICE)), integer(event.get(AGGREGATE_TIME_MS))
        bar = _bar(event, AGGREGATE_FIELDS, dict.get)
        bar["size"] = bar.get("volume")  # what traded in the second: candles add it up
    elif kind == TRADE_CHANNEL:
        price, stamp = _price(event.get(TRADE_PRICE)), integer(event.get(TRADE_TIME_MS))
        bar = {"size": number(event.get(TRADE_SIZE))}
    else:
        return None
    if price is None or stamp is None:
        return None
    return Quote(ticker, price, stamp * _NS_PER_MS, **bar)


def agg_bar(ticker: str, agg: Any, interval: Any) -> Bar | None:
    """The bar of one `Agg` (t: bar start in ms), or None when it is malformed."""
    start = integer(getattr(agg, "timestamp", None))
    o, h, low, c = (_price(getattr(agg, k, None)) for k in ("open", "high", "low", "close"))
    if start is None or o is None or h is None or low is None or c is None:
        return None
    volume = number(getattr(agg, "volume", None)) or 0.0
    vwap = number(getattr(agg, "vwap", None)) or c
    trades = integer(getattr(agg, "transactions", None)) or 0
    start_ns = start * _NS_PER_MS
    return Bar.stored(
        ticker, interval, start_ns, start_ns + interval.ns, (o, h, low, c), volume, vwap, trades
    )


def next_page(decoded: Mapping[str, Any]) -> str | None:
    """The path and query of an answer's next page (its host is not ours to follow)."""
    url = decoded.get(AGGS_NEXT_KEY)
    if not isinstance(url, str) or not url:
        return None
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")
