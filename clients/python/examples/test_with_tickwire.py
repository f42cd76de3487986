"""How to test your own code against a real, hermetic tickwire server.

Run: `pytest clients/python/examples/test_with_tickwire.py`. Installing
`tickwire-server[testing]` brings pytest-asyncio and registers the
`tickwire_server` fixture; no `pytest_plugins` line is needed.
"""

from __future__ import annotations

import asyncio

from tickwire import Client
from tickwire_server.testing import InProcessServer, serve_in_process


async def portfolio_value(client: Client, holdings: dict[str, int]) -> float:
    """The code under test: values holdings at the latest prices."""
    prices = await client.snapshot(*holdings, strict=True)
    return sum(prices[t].price * qty for t, qty in holdings.items())


async def test_portfolio_is_valued_at_the_latest_prices() -> None:
    async with serve_in_process({"AAPL": 200.0, "MSFT": 400.0}) as server:
        async with Client(server) as client:
            assert await portfolio_value(client, {"AAPL": 2, "MSFT": 1}) == 800.0
            server.push({"AAPL": 210.0})
            assert await portfolio_value(client, {"AAPL": 2, "MSFT": 1}) == 820.0


async def test_a_pushed_tick_reaches_a_subscriber(tickwire_server: InProcessServer) -> None:
    async with Client(tickwire_server) as client:
        prices = client.subscribe("NVDA")
        assert (await asyncio.wait_for(anext(prices), 5)).price == 120.0  # the snapshot
        tickwire_server.push({"NVDA": 125.0})
        assert (await asyncio.wait_for(anext(prices), 5)).price == 125.0
