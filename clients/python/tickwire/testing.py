"""tickwire.testing: a real tickwire server inside your test's event loop.

```python
from tickwire import Client
from tickwire.testing import serve_in_process

async def test_my_dashboard_shows_a_price() -> None:
    async with serve_in_process({"AAPL": 190.0}) as server:
        async with Client(server) as client:
            prices = client.subscribe("AAPL")
            assert (await anext(prices)).price == 190.0
            server.push({"AAPL": 191.0})
            assert (await anext(prices)).price == 191.0
```

With pytest and pytest-asyncio, `pytest_plugins = ["tickwire.testing"]` in a
`conftest.py` enables the `tickwire_server` fixture (a scripted server with
a few default prices).
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import AsyncIterator, Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from tickwire_server.app import TickwireServer
from tickwire_server.config import Settings
from tickwire_server.domain import MarketState, Quote, SourceState
from tickwire_server.sources.scripted import ScriptedSource

__all__ = ["DEFAULT_PRICES", "InProcessServer", "serve_in_process"]

DEFAULT_PRICES: Mapping[str, float] = {"AAPL": 190.0, "MSFT": 420.0, "NVDA": 120.0}


class _IsolatedSettings(Settings):
    """Settings from the arguments only: a test's server ignores TICKWIRE_* and .env."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


class InProcessServer:
    """A running in-process server: dial `target`; drive prices with `push`."""

    def __init__(self, server: TickwireServer) -> None:
        self.server = server

    @property
    def target(self) -> str:
        """The address to dial: "127.0.0.1:PORT" or "unix:/path"."""
        return self.server.target

    @property
    def scripted(self) -> ScriptedSource:
        """The scripted source (raises TypeError when serving the simulator)."""
        source = self.server.source
        if not isinstance(source, ScriptedSource):
            raise TypeError("this server runs the simulator; scripted control needs prices=")
        return source

    def push(self, prices: Mapping[str, float] | Iterable[Quote]) -> None:
        """Publish exact prices now, e.g. `push({"AAPL": 191.25})`."""
        self.scripted.push(prices)

    def set_status(
        self,
        state: SourceState = SourceState.HEALTHY,
        market: MarketState | None = None,
        message: str = "",
    ) -> None:
        """Change the source's reported health and market state."""
        self.scripted.set_status(state, market, message)

    def reject(self, *tickers: str, reason: str = "unknown upstream") -> None:
        """Make the source report `tickers` as unknown to their subscribers."""
        self.scripted.reject(tickers, reason)

    async def stop(self) -> None:
        """Stop the server (open streams end with UNAVAILABLE)."""
        await self.server.stop()


@contextlib.asynccontextmanager
async def serve_in_process(
    prices: Mapping[str, float] | None = None,
    *,
    simulator: bool = False,
    seed: int = 0,
    interval: float = 0.05,
    strict: bool = False,
    unix_socket: bool = False,
    **settings: Any,
) -> AsyncIterator[InProcessServer]:
    """Start a tickwire server in this event loop; stop it on exit.

    Args:
        prices: serve a scripted source seeded with these prices; nothing
            moves until `push` (the default is `DEFAULT_PRICES`).
        simulator: serve the GBM simulator instead (seeded with `seed`,
            stepping every `interval` seconds); `prices` keys become its tickers.
        strict: with a scripted source, tickers outside `prices` are UNKNOWN_TICKER.
        unix_socket: listen on a unix socket in a temporary folder instead of
            127.0.0.1 on a free port.
        settings: any other `tickwire_server.config.Settings` field, e.g.
            `max_tickers_per_stream=5` or `heartbeat_interval=0.1`.
    """
    seeds = dict(DEFAULT_PRICES if prices is None else prices)
    with tempfile.TemporaryDirectory(prefix="tickwire-") as folder:
        options: dict[str, Any] = {"port": 0, "release_grace": 0.0, "shutdown_grace": 0.5}
        if unix_socket:
            options["unix_socket"] = Path(folder) / "tickwire.sock"
        if simulator:
            options.update(tickers=list(seeds), seed=seed, interval=interval)
        options.update(settings)
        config = _IsolatedSettings(**options)
        source = None if simulator else ScriptedSource(seeds, strict=strict)
        async with TickwireServer(config, source=source) as server:
            yield InProcessServer(server)


try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - the fixture needs pytest-asyncio
    pass
else:

    @pytest_asyncio.fixture
    async def tickwire_server() -> AsyncIterator[InProcessServer]:
        """A scripted tickwire server with `DEFAULT_PRICES`, stopped after the test."""
        async with serve_in_process() as server:
            yield server
