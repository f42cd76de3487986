"""Fixtures of the Massive suites: the fake REST API and feed, and settings pointed at them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from fakes import FAKE_KEY, FakeMassiveFeed, FakeMassiveRest

from tickwire_server.config import Settings


@pytest.fixture
async def rest() -> AsyncIterator[FakeMassiveRest]:
    """The fake REST API, knowing AAPL, MSFT and NVDA."""
    async with FakeMassiveRest() as fake:
        fake.set_price("AAPL", 190.0)
        fake.set_price("MSFT", 410.0)
        fake.set_price("NVDA", 120.0)
        yield fake


@pytest.fixture
async def feed() -> AsyncIterator[FakeMassiveFeed]:
    async with FakeMassiveFeed() as fake:
        yield fake


@pytest.fixture
def massive_settings(rest: FakeMassiveRest, feed: FakeMassiveFeed) -> Callable[..., Settings]:
    """Settings for the Massive source on the fakes: defaults AAPL and MSFT, quick cadences."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "port": 0,
            "release_grace": 0.05,
            "heartbeat_interval": 30.0,
            "shutdown_grace": 0.5,
            "tickers": ["AAPL", "MSFT"],
            "massive_api_key": FAKE_KEY,
            "massive_rest_url": rest.url,
            "massive_ws_url": feed.url,
            "massive_poll_interval": 0.05,
            "massive_status_interval": 0.05,
            "massive_timeout": 0.5,
            "massive_idle_timeout": 30.0,
            "massive_backoff_base": 0.05,
            "massive_backoff_max": 0.4,
            "massive_breaker_threshold": 3,
        }
        return Settings(**{**values, **overrides})

    return make
