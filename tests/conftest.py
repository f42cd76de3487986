"""Fixtures: a real tickwire server on port 0 with a scripted source, and its stub.

The `tickwire_server` fixture comes from tickwire-server's pytest plugin.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import grpc
import pytest
from fakes.scripted import ScriptedSource
from natsserver import NatsServer
from postgres import PostgresServer

from tickwire.v1 import market_data_pb2_grpc as rpc
from tickwire_server.app import TickwireServer
from tickwire_server.config import Settings
from tickwire_server.testing import serve_in_process

SEEDS = {"AAPL": 190.0, "MSFT": 410.0, "NVDA": 120.0}


@pytest.fixture(autouse=True)
def no_massive_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's own MASSIVE_API_KEY (or one in .env) must not switch tests to Massive."""
    monkeypatch.setenv("MASSIVE_API_KEY", "")


@pytest.fixture(autouse=True)
def no_default_history(monkeypatch: pytest.MonkeyPatch) -> None:
    """Servers a test starts by hand keep no candle history in the working tree's data/."""
    monkeypatch.setenv("TICKWIRE_HISTORY_URL", "none")


@pytest.fixture
def settings() -> Settings:
    """Test settings: port 0, quick grace and heartbeats. Override per test."""
    return Settings(
        port=0,
        release_grace=0.05,
        heartbeat_interval=30.0,
        max_lag=2.0,
        shutdown_grace=0.5,
    )


@pytest.fixture
def source() -> ScriptedSource:
    return ScriptedSource(SEEDS)


@pytest.fixture
async def server(settings: Settings, source: ScriptedSource) -> AsyncIterator[TickwireServer]:
    async with serve_in_process(settings=settings, source=source) as running:
        yield running.server


@pytest.fixture
async def channel(server: TickwireServer) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(server.target) as chan:
        yield chan


@pytest.fixture
def stub(channel: grpc.aio.Channel) -> rpc.MarketDataStub:
    return rpc.MarketDataStub(channel)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL for the session (started on first use, stopped at the end)."""
    with PostgresServer() as server:
        yield server


@pytest.fixture
def nats() -> Iterator[NatsServer]:
    """A real NATS server with JetStream on a free loopback port, for one test."""
    with NatsServer() as server:
        yield server
