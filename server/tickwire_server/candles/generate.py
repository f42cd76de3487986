"""Made-up history for the simulator and synthetic sources, so a chart has data on a first run.

Minute bars are drawn for every session minute of the lookback, walking
back in time from each ticker's price now, so that history runs into the
live prices. The draw is seeded by the seed and the ticker: the same
server configuration makes the same history. Coarser stored intervals are
rolled up from the minutes. Bars are marked SYNTHETIC: they never replace
a bar the server aggregated or fetched.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Mapping

import numpy as np

from tickwire_server.candles.bars import SYNTHETIC, Bar, roll_up
from tickwire_server.candles.intervals import BY_NAME, NS, Interval, Sessions, span

MINUTE_NS = 60 * NS
ANNUAL_VOLATILITY = 0.30
SESSION_MINUTES = 390
LOT = 100


def session_minutes(sessions: Sessions, start_ns: int, end_ns: int) -> np.ndarray:
    """The start of every regular-session minute in [start_ns, end_ns), in order."""
    out = []
    for open_, close in sessions.sessions_between(start_ns, end_ns):
        lo = max(open_, start_ns - start_ns % MINUTE_NS)
        hi = min(close, end_ns)
        if hi > lo:
            out.append(np.arange(lo, hi, MINUTE_NS, dtype=np.int64))
    return np.concatenate(out) if out else np.empty(0, dtype=np.int64)


def minute_bars(
    ticker: str,
    price_now: float,
    minutes: np.ndarray,
    seed: int,
    volatility: float = ANNUAL_VOLATILITY,
) -> list[Bar]:
    """1m bars for `minutes` (bar starts, in order), ending at `price_now`."""
    n = len(minutes)
    if n == 0 or not (price_now > 0 and math.isfinite(price_now)):
        return []
    rng = np.random.default_rng([seed & 0xFFFFFFFF, zlib.crc32(ticker.encode())])
    sigma = volatility / math.sqrt(252 * SESSION_MINUTES)
    steps = rng.normal(-0.5 * sigma * sigma, sigma, n)
    # closes[i] is the close of minute i; the last close is the price now.
    log_close = math.log(price_now) - np.concatenate(([0.0], np.cumsum(steps[::-1])[:-1]))[::-1]
    closes = np.exp(log_close)
    opens = np.concatenate(([closes[0] * math.exp(-steps[0])], closes[:-1]))
    wiggle = np.abs(rng.normal(0.0, sigma * 0.6, (n, 2)))
    highs = np.maximum(opens, closes) * np.exp(wiggle[:, 0])
    lows = np.minimum(opens, closes) * np.exp(-wiggle[:, 1])
    # Busier near the open and the close (the intraday U), in round lots.
    day_fraction = ((minutes // MINUTE_NS) % 1440) / 1440.0
    shape = 1.0 + 2.0 * np.cos(2 * np.pi * (day_fraction - 0.6)) ** 8
    lots = np.maximum(1.0, np.round(rng.gamma(2.0, 40.0, n) * shape))
    volumes = lots * LOT
    vwaps = (opens + highs + lows + closes) / 4
    trades = np.maximum(1, np.round(lots * 0.6)).astype(np.int64)
    one = BY_NAME["1m"]
    out = []
    for i in range(n):
        start = int(minutes[i])
        out.append(
            Bar.stored(
                ticker,
                one,
                start,
                start + MINUTE_NS,
                (
                    round(float(opens[i]), 4),
                    round(float(highs[i]), 4),
                    round(float(lows[i]), 4),
                    round(float(closes[i]), 4),
                ),
                float(volumes[i]),
                round(float(vwaps[i]), 4),
                int(trades[i]),
                source=SYNTHETIC,
            )
        )
    return out


def history(
    prices: Mapping[str, float],
    sessions: Sessions,
    start_ns: int,
    end_ns: int,
    stored: Iterable[Interval],
    seed: int,
) -> list[Bar]:
    """Generated bars of every stored interval from 1m up, for [start_ns, end_ns).

    The bar holding `end_ns`, if any, is left out of every interval: the
    live prices build it.
    """
    minutes = session_minutes(sessions, start_ns, end_ns - end_ns % MINUTE_NS)
    targets = [iv for iv in stored if iv.seconds == 0 or iv.seconds >= 60]
    out: list[Bar] = []
    for ticker, price in prices.items():
        ones = minute_bars(ticker, price, minutes, seed)
        for iv in targets:
            bars = ones if iv is BY_NAME["1m"] else roll_up(ones, iv, sessions)
            forming = span(iv, end_ns, sessions)
            out.extend(b for b in bars if forming is None or b.start != forming[0])
    return out
