"""Tests of ticker symbols: normalisation, validation and the reasons given for a bad one."""

from __future__ import annotations

import pytest

from tickwire_server import symbols


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("AAPL", "AAPL"),
        ("aapl", "AAPL"),
        ("  brk.b ", "BRK.B"),
        ("\tBf-b\n", "BF-B"),
        ("   ", ""),
        ("", ""),
    ],
)
def test_normalize_trims_and_upper_cases(raw: str, expected: str) -> None:
    assert symbols.normalize(raw) == expected


def test_normalize_keeps_inner_spaces() -> None:
    assert symbols.normalize(" a b ") == "A B"


@pytest.mark.parametrize(
    "symbol",
    ["AAPL", "BRK.B", "BF-B", "A", "V", "1", "9ABC", "ABCDEFGHIJ", "A1.B-2"],
)
def test_well_formed_symbols_are_valid(symbol: str) -> None:
    assert symbols.is_valid(symbol)


@pytest.mark.parametrize(
    "symbol",
    [
        "",
        ".X",
        "-X",
        "AAPL$",
        "A B",
        " AAPL",
        "AAPL ",
        "ABCDEFGHIJK",
        "aapl",
        "BRK/B",
        "AAPL\n",
        "ÄPPL",
    ],
)
def test_malformed_symbols_are_invalid(symbol: str) -> None:
    assert not symbols.is_valid(symbol)


def test_ten_characters_is_the_longest_valid_symbol() -> None:
    assert symbols.MAX_SYMBOL_LENGTH == 10
    assert symbols.is_valid("X" * symbols.MAX_SYMBOL_LENGTH)
    assert not symbols.is_valid("X" * (symbols.MAX_SYMBOL_LENGTH + 1))


def test_valid_after_normalising_a_lower_case_padded_symbol() -> None:
    assert symbols.is_valid(symbols.normalize("  brk.b "))


@pytest.mark.parametrize("raw", ["", "   ", "\t\n"])
def test_invalid_reason_of_empty_symbol(raw: str) -> None:
    assert symbols.invalid_reason(raw) == "empty symbol"


def test_invalid_reason_of_too_long_symbol_names_the_limit() -> None:
    assert symbols.invalid_reason("ABCDEFGHIJK") == "symbol longer than 10 characters"


def test_invalid_reason_counts_length_after_trimming() -> None:
    # Ten characters with padding is not "too long"; the padding is trimmed.
    assert "longer" not in symbols.invalid_reason("  ABCDEFGHIJ  ")


@pytest.mark.parametrize("raw", [".X", "AAPL$", "A B", "-X", "BRK/B"])
def test_invalid_reason_of_bad_characters_names_the_allowed_ones(raw: str) -> None:
    reason = symbols.invalid_reason(raw)
    assert reason == "symbols use letters, digits, '.' and '-', starting with a letter or digit"


@pytest.mark.parametrize("raw", ["ß", "ſpy", "ﬁ", "ı", "aapl\u00a0", "ＡＡＰＬ", "B\u0301"])
def test_non_ascii_is_invalid_and_never_upper_cased_into_another_symbol(raw: str) -> None:
    symbol = symbols.normalize(raw)
    assert not symbols.is_valid(symbol)
    assert symbol not in {"SS", "SPY", "FI", "I", "AAPL"}
    assert "ASCII" in symbols.invalid_reason(raw)
    [(_, result)] = symbols.distinct([raw])
    assert result is not None and result.ticker == raw


def test_a_rejected_ticker_is_echoed_cut_short() -> None:
    huge = "X$" * 50_000
    [(_, result)] = symbols.distinct([huge])
    assert result is not None
    assert len(result.ticker) == symbols.MAX_ECHO and result.ticker.endswith("…")
    assert huge.startswith(result.ticker[:-1])
