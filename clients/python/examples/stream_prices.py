"""Print live prices until Ctrl+C: `python stream_prices.py [TARGET] [--count N]`."""

from __future__ import annotations

import argparse
import asyncio

from tickwire import Client, ConnectionState, StateChange


def show_state(change: StateChange) -> None:
    if change.state is not ConnectionState.CONNECTED:
        print(f"-- {change.state.value} {change.reason}".rstrip())


async def main(target: str, tickers: list[str], count: int | None) -> None:
    async with Client(target, on_state=show_state) as client:
        prices = client.subscribe(*tickers)
        async for n, update in aenumerate(prices):
            arrow = {1: "▲", 2: "▼"}.get(update.direction, "▶")
            print(f"{update.ticker:6} {update.price:10.2f} {arrow} {update.change_percent:+.3f}%")
            if count is not None and n + 1 >= count:
                break
        print(f"gaps seen: {prices.stats.gaps}, conflated: {prices.stats.conflated}")


async def aenumerate(iterator):  # type: ignore[no-untyped-def]
    n = 0
    async for item in iterator:
        yield n, item
        n += 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("target", nargs="?", default="127.0.0.1:50051")
    parser.add_argument("--tickers", default="AAPL,NVDA,MSFT")
    parser.add_argument("--count", type=int)
    args = parser.parse_args()
    try:
        asyncio.run(main(args.target, args.tickers.split(","), args.count))
    except KeyboardInterrupt:
        pass
