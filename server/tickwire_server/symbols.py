"""Ticker symbols: normalisation (trim, upper-case) and validation."""

from __future__ import annotations

import re

MAX_SYMBOL_LENGTH = 10
_SYMBOL = re.compile(rf"[A-Z0-9][A-Z0-9.\-]{{0,{MAX_SYMBOL_LENGTH - 1}}}")


def normalize(raw: str) -> str:
    """Return `raw` trimmed and upper-cased ("  brk.b " -> "BRK.B")."""
    return raw.strip().upper()


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
    if len(symbol) > MAX_SYMBOL_LENGTH:
        return f"symbol longer than {MAX_SYMBOL_LENGTH} characters"
    return "symbols use letters, digits, '.' and '-', starting with a letter or digit"
