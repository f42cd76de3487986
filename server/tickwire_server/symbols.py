"""Ticker symbols: normalisation (trim, upper-case), validation and a request's distinct symbols."""

from __future__ import annotations

import re
from collections.abc import Iterable

from tickwire_server.domain import TickerResult, TickerStatus

MAX_SYMBOL_LENGTH = 10
_ASCII_SPACE = " \t\n\r\f\v"  # only these are trimmed: a no-break space is not ASCII
MAX_ECHO = 32  # characters of a rejected ticker echoed back, so no answer grows with it
_SYMBOL = re.compile(rf"[A-Z0-9][A-Z0-9.\-]{{0,{MAX_SYMBOL_LENGTH - 1}}}")


def normalize(raw: str) -> str:
    """Return `raw` trimmed and upper-cased ("  brk.b " -> "BRK.B").

    Only ASCII is trimmed and upper-cased: Unicode case mapping would turn
    "ß" into "SS" and "ſpy" into "SPY", a different, valid symbol. Anything
    else is returned trimmed of ASCII spaces, and fails `is_valid`.
    """
    symbol = raw.strip(_ASCII_SPACE)
    return symbol.upper() if symbol.isascii() else symbol


def is_valid(symbol: str) -> bool:
    """True for a normalised symbol of letters, digits, '.' and '-', 1 to 10 long.

    It must start with a letter or digit, so "BRK.B" and "BF-B" pass and
    ".X", "" and "AAPL$" do not.
    """
    return _SYMBOL.fullmatch(symbol) is not None


def invalid_reason(raw: str) -> str:
    """A human-readable reason why `raw` is not a valid symbol."""
    symbol = normalize(raw)
    if not symbol:
        return "empty symbol"
    if not symbol.isascii():
        return "symbols are ASCII: letters, digits, '.' and '-'"
    if len(symbol) > MAX_SYMBOL_LENGTH:
        return f"symbol longer than {MAX_SYMBOL_LENGTH} characters"
    return "symbols use letters, digits, '.' and '-', starting with a letter or digit"


def distinct(raw_tickers: Iterable[str]) -> list[tuple[str, TickerResult | None]]:
    """(symbol, None) for each distinct well-formed symbol of a request, in order.

    A malformed one comes as (symbol, its INVALID_SYMBOL result, naming the
    ticker as sent); a repeat of a symbol already seen is dropped.
    """
    seen: set[str] = set()
    out: list[tuple[str, TickerResult | None]] = []
    for raw in raw_tickers:
        symbol = normalize(raw)
        if symbol in seen:
            continue
        seen.add(symbol)
        invalid = None
        if not is_valid(symbol):
            invalid = TickerResult(echo(raw), TickerStatus.INVALID_SYMBOL, invalid_reason(raw))
        out.append((symbol, invalid))
    return out


def echo(raw: str) -> str:
    """`raw` as an answer repeats it: cut to `MAX_ECHO` characters, an ellipsis marking the cut."""
    return raw if len(raw) <= MAX_ECHO else raw[: MAX_ECHO - 1] + "…"
