"""Run the fake Massive REST API and WebSocket feed by hand, with prices that move.

    PYTHONPATH=tests .venv/bin/python -m fakes [--seconds N]

It prints the variables that point `make run` at it; prices of the default
tickers (and any ticker a server asks for) take a small random step every
half second, on both the snapshot endpoint and the feed's aggregates.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random

from fakes.massive_rest import FAKE_KEY, FakeMassiveRest
from fakes.massive_ws import FakeMassiveFeed

TICKERS = {"AAPL": 190.0, "GOOGL": 170.0, "MSFT": 420.0, "NVDA": 120.0, "TSLA": 250.0}


async def main(seconds: float | None) -> None:
    rng = random.Random(7)
    async with FakeMassiveRest() as rest, FakeMassiveFeed() as feed:
        ws_url = feed.url
        print(f"export MASSIVE_API_KEY={FAKE_KEY}", flush=True)
        print(f"export TICKWIRE_MASSIVE_REST_URL={rest.url}", flush=True)
        print(f"export TICKWIRE_MASSIVE_WS_URL={ws_url}", flush=True)
        prices = dict(TICKERS)
        loop = asyncio.get_running_loop()
        end = None if seconds is None else loop.time() + seconds
        while end is None or loop.time() < end:
            wanted = {c.split(".", 1)[1] for c in feed.subscribed()} - {"*"}
            for ticker in set(prices) | wanted:
                last = prices.get(ticker, rng.uniform(20, 400))
                prices[ticker] = round(last * (1 + rng.gauss(0, 0.001)), 2)
                rest.set_price(ticker, prices[ticker])
                if ticker in wanted:
                    await feed.aggregate(ticker, prices[ticker])
            await asyncio.sleep(0.5)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, help="stop after this long (default: Ctrl+C)")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(parser.parse_args().seconds))
