"""GetCandles: a request checked against its interval's limits, answered a page at a time."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import time
from dataclasses import dataclass

from tickwire.v1 import candles_pb2 as cpb
from tickwire_server import symbols
from tickwire_server.candles.history import History
from tickwire_server.candles.intervals import INTERVALS, NS, Interval, UnknownInterval, interval


class BadCandleRequest(ValueError):
    """A GetCandles request outside what its interval allows; the message lists the allowed."""


@dataclass(frozen=True, slots=True)
class CandleQuery:
    ticker: str
    interval: Interval
    start_ns: int
    end_ns: int
    limit: int
    cursor_ns: int  # the next page starts here
    fingerprint: str


def _allowed() -> str:
    return ", ".join(
        f"{iv.name} (range {_duration(iv.max_range_ns // NS)}, limit {iv.max_limit})"
        for iv in INTERVALS
    )


def _duration(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def parse(request: cpb.GetCandlesRequest, now_ns: int | None = None) -> CandleQuery:
    """Check `request` and resolve its defaults.

    Raises:
        BadCandleRequest: an invalid ticker, an unknown interval, a missing or
            inverted range, a range or limit over the interval's maximum, or a
            page token that is not this request's.
    """
    symbol = symbols.normalize(request.ticker)
    if not symbols.is_valid(symbol):
        shown = symbols.echo(request.ticker)
        raise BadCandleRequest(f"ticker {shown!r}: {symbols.invalid_reason(request.ticker)}")
    try:
        iv = interval(int(request.interval)) if request.interval else None
    except UnknownInterval:
        iv = None
    if iv is None:
        raise BadCandleRequest(f"name an interval: one of {_allowed()}")
    if not request.HasField("start"):
        raise BadCandleRequest("name a start (the range is [start, end); end defaults to now)")
    start = request.start.ToNanoseconds()
    fingerprint = _fingerprint(request, symbol, iv)
    cursor = start
    end = request.end.ToNanoseconds() if request.HasField("end") else None
    if request.page_token:
        cursor, token_end = _read_token(request.page_token, fingerprint)
        end = token_end if end is None else end
    if end is None:
        end = time.time_ns() if now_ns is None else now_ns
    if end <= start:
        raise BadCandleRequest("end must be after start")
    if end - start > iv.max_range_ns:
        raise BadCandleRequest(
            f"a {iv.name} request may span at most {_duration(iv.max_range_ns // NS)}; "
            f"this one spans {_duration((end - start) // NS)}: split it (allowed: {_allowed()})"
        )
    limit = request.limit or iv.max_limit
    if limit > iv.max_limit:
        raise BadCandleRequest(
            f"limit {request.limit} is over the {iv.name} maximum of {iv.max_limit} "
            f"(allowed: {_allowed()})"
        )
    return CandleQuery(symbol, iv, start, end, limit, max(cursor, start), fingerprint)


def _fingerprint(request: cpb.GetCandlesRequest, ticker: str, iv: Interval) -> str:
    parts = [ticker, iv.name, str(request.start.ToNanoseconds())]
    parts.append(str(request.end.ToNanoseconds()) if request.HasField("end") else "")
    parts.append(str(request.limit))
    return hashlib.blake2s("|".join(parts).encode(), digest_size=8).hexdigest()


def _token(cursor_ns: int, end_ns: int, fingerprint: str) -> str:
    raw = json.dumps({"c": cursor_ns, "e": end_ns, "f": fingerprint}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _read_token(token: str, fingerprint: str) -> tuple[int, int]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        cursor, end, found = int(data["c"]), int(data["e"]), str(data["f"])
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise BadCandleRequest(f"page_token {token[:40]!r} is not one this server gave") from exc
    if found != fingerprint:
        raise BadCandleRequest(
            "page_token belongs to another request: send the same ticker, interval, start, "
            "end and limit as the request that returned it"
        )
    return cursor, end


async def answer(history: History, query: CandleQuery) -> cpb.GetCandlesResponse:
    """One page of `query`'s bars, with the token of the next when more remain."""
    bars = await history.read(
        query.ticker, query.interval, query.cursor_ns, query.end_ns, query.limit + 1
    )
    response = cpb.GetCandlesResponse(candles=[b.message() for b in bars[: query.limit]])
    if len(bars) > query.limit:
        response.next_page_token = _token(bars[query.limit].start, query.end_ns, query.fingerprint)
    return response
