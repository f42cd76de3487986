"""Auth: what access control costs, `--auth jwt` against `--auth none` in the same run.

- Fan-out: 50 subscribers x 500 tickers, the source flat out, each stream
  opened with its own HS256 token; none and jwt in alternating rounds
  (three in a full run), the ratio of the medians reported with every round's.
- Opening: 10,000 streams (2,000 quick) of 10 tickers at 1 Hz, every one
  with its own token, opened at once; how many connected and the open rate
  (streams per second from starting the clients to every first message),
  none against jwt, also in alternating rounds: single runs of this burst
  varied from 9 to 17 s on the same code here.
The token check runs once per call, never per update, so fan-out should
stay within noise; opening pays one signature check per stream.
"""

from __future__ import annotations

import secrets
import statistics
from typing import Any

from bench.load import Load, Outcome, run_load
from bench.scenarios import paired

OPEN_TICKERS = 1000
PER_STREAM = 10


def _env(mode: str, secret: str) -> dict[str, str]:
    return {"BENCH_JWT_SECRET": secret} if mode == "jwt" else {}


def _opening(mode: str, secret: str, count: int) -> Outcome:
    env = _env(mode, secret)
    load = Load(
        design="tickwire",
        tickers=OPEN_TICKERS,
        hz=1.0,
        streams=count,
        per_stream=PER_STREAM,
        seconds=2.0,
        client_procs=2,
        streams_per_channel=100,
        settle=1.0,
        connect_timeout=180.0,
        server_env=env,
        client_env=env,
    )
    return run_load(load)


def run(quick: bool) -> dict[str, Any]:
    secret = secrets.token_urlsafe(32)
    rounds = 1 if quick else 3
    out = paired.compare(("none", "jwt"), ({}, _env("jwt", secret)), quick)
    count = 2000 if quick else 10_000
    opened: dict[str, list[Outcome]] = {"none": [], "jwt": []}
    open_ratios: list[float] = []
    for _ in range(rounds):
        for mode in opened:
            opened[mode].append(_opening(mode, secret, count))
        jwt_rate, none_rate = (_rate(opened[m][-1]) for m in ("jwt", "none"))
        open_ratios.append(round(jwt_rate / max(1e-9, none_rate), 3))
    rate = {m: statistics.median(_rate(o) for o in runs) for m, runs in opened.items()}
    return {
        **out,
        "streams_asked": count,
        "streams_connected_none": min(o.connected for o in opened["none"]),
        "streams_connected_jwt": min(o.connected for o in opened["jwt"]),
        "open_rate_none_per_s": round(rate["none"]),
        "open_rate_jwt_per_s": round(rate["jwt"]),
        "open_rate_ratio": round(statistics.median(open_ratios), 3),
        "open_rate_ratio_rounds": open_ratios,
        "statuses_jwt": opened["jwt"][-1].statuses,
    }


def _rate(outcome: Outcome) -> float:
    return outcome.connected / max(1e-9, outcome.connect_seconds)
