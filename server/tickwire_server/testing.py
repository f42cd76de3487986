"""tickwire_server.testing: a real tickwire server inside your test's event loop.

```python
from tickwire import Client
from tickwire_server.testing import serve_in_process

async def test_my_dashboard_shows_a_price() -> None:
    async with serve_in_process({"AAPL": 190.0}) as server:
        async with Client(server) as client:
            prices = client.subscribe("AAPL")
            assert (await anext(prices)).price == 190.0
            server.push({"AAPL": 191.0})
            assert (await anext(prices)).price == 191.0
```

The server runs the synthetic source on a clock that moves only when the
test says (`advance`): nothing changes until the test pushes a price or
steps the clock. `push`, `set_status`, `reject` and `advance` go through
the same controls as ScenarioControl (`controls` has them all: stall, burst,
drop, ...), so a test drives the server as a mobile team's scenario would.

Installing `tickwire-server` registers this module as a pytest plugin, so
with pytest-asyncio (`pip install 'tickwire-server[testing]'`) every test
can take the `tickwire_server` fixture: such a server with
`DEFAULT_PRICES`. `MarketState`, `SourceState` and `Quote` are re-exported
here for driving it.
"""

from __future__ import annotations

import contextlib
import secrets
import tempfile
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from tickwire_server.app import TickwireServer
from tickwire_server.auth import mint
from tickwire_server.config import Settings
from tickwire_server.domain import MarketState, Quote, SourceState
from tickwire_server.scenario import Controls
from tickwire_server.sources.base import PriceSource
from tickwire_server.sources.synthetic import ManualClock, SyntheticSource

__all__ = [
    "DEFAULT_PRICES",
    "InProcessServer",
    "MarketState",
    "Quote",
    "SourceState",
    "serve_in_process",
]

DEFAULT_PRICES: Mapping[str, float] = {"AAPL": 190.0, "MSFT": 420.0, "NVDA": 120.0}

# What an in-process server changes from the defaults: a free port, tickers
# released at once, a short shutdown.
_TEST_DEFAULTS: dict[str, Any] = {
    "port": 0,
    "release_grace": 0.0,
    "shutdown_grace": 0.5,
    "history_url": "none",
}


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
    """A running in-process server: dial `target`; drive it with `push`; mint `token`s."""

    def __init__(self, server: TickwireServer) -> None:
        self.server = server

    def token(
        self, subject: str = "tester", roles: Iterable[str] = ("read",), ttl: float = 300.0
    ) -> str:
        """A token this server accepts (auth `jwt` with an HS256 secret), for `subject`.

        Raises:
            TypeError: the server does not verify tokens with a secret.
        """
        settings = self.server.settings
        secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else ""
        if settings.auth != "jwt" or not secret:
            raise TypeError("this server takes no HS256 tokens: start it with auth='jwt'")
        return mint(
            secret,
            subject,
            roles,
            ttl=ttl,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            roles_claim=settings.jwt_roles_claim,
            algorithm=settings.jwt_algorithms[0],
        )

    @property
    def target(self) -> str:
        """The address to dial: "127.0.0.1:PORT" or "unix:/path"."""
        return self.server.target

    @property
    def source(self) -> PriceSource:
        """The source the server runs."""
        return self.server.source

    @property
    def controls(self) -> Controls:
        """The scenario controls (raises TypeError when serving a source they cannot drive)."""
        controls = self.server.controls
        if controls is None:
            raise TypeError(
                f"this server runs the {self.server.source.name} source; its controls need "
                "the synthetic one (serve_in_process(prices) serves it)"
            )
        return controls

    def push(self, prices: Mapping[str, float] | Iterable[Quote]) -> dict[str, int]:
        """Publish exact prices now, in one batch; each ticker's sequence number.

        `prices` is `{"AAPL": 191.25, ...}` or ready-made `Quote`s (bar fields
        left out are derived).

        Raises:
            BadInput: a price that is not finite and positive, or an unknown ticker.
        """
        controls = self.controls
        if isinstance(prices, Mapping):
            now = controls.source.clock.now_ns()
            quotes = [Quote(t, p, now) for t, p in prices.items()]
        else:
            quotes = list(prices)
        sequences = controls.push_quotes(quotes)
        return {q.ticker.strip().upper(): s for q, s in zip(quotes, sequences, strict=True)}

    def set_status(
        self,
        state: SourceState = SourceState.HEALTHY,
        market: MarketState | None = None,
        message: str = "",
    ) -> None:
        """Change the source's health (HEALTHY, DEGRADED, ERROR) and market state."""
        self.controls.set_health(state, message, market)

    def reject(self, *tickers: str, reason: str = "unknown upstream") -> None:
        """Make the source report `tickers` as unknown to their subscribers."""
        self.controls.reject(tickers, reason)

    def advance(self, seconds: float) -> None:
        """Move the source's clock: every tick it passes is published (at 1 a second)."""
        self.controls.advance_clock(seconds)

    async def stop(self) -> None:
        """Stop the server (open streams end with UNAVAILABLE)."""
        await self.server.stop()


@contextlib.asynccontextmanager
async def serve_in_process(
    prices: Mapping[str, float] | None = None,
    *,
    simulator: bool = False,
    source: PriceSource | None = None,
    settings: Settings | None = None,
    seed: int = 0,
    interval: float = 0.05,
    strict: bool = False,
    unix_socket: bool | Path = False,
    **overrides: Any,
) -> AsyncIterator[InProcessServer]:
    """Start a tickwire server in this event loop; stop it on exit.

    The source is the first that applies: `source`; the simulator when
    `simulator`; a synthetic source of `prices`; the source `settings` name,
    when they are given without prices; a synthetic source of `DEFAULT_PRICES`.

    Args:
        prices: serve a synthetic source starting from exactly these prices,
            on a clock of its own: nothing moves until `push` or `advance`
            (which ticks every ticker once a second of it, seeded by `seed`).
        simulator: serve the GBM simulator instead (seeded with `seed`,
            stepping every `interval` seconds); `prices` keys become its tickers.
        source: serve this `PriceSource` (any object with the protocol's methods).
        settings: start from these settings instead of the test defaults
            (port 0, no release grace); `overrides` still apply on top.
        strict: tickers outside `prices` are UNKNOWN_TICKER (otherwise any
            valid symbol is served, with no price until pushed).
        unix_socket: listen on a unix socket instead of 127.0.0.1 on a free
            port: True for one in a temporary folder, or a path (a server
            restarted on the same path keeps its address).
        overrides: any other `Settings` field, e.g. `max_tickers_per_stream=5`
            or `heartbeat_interval=0.1`. Neither TICKWIRE_* variables nor a
            `.env` file reach a test's server. With `auth="jwt"` and no key,
            the server gets a random HS256 secret and `server.token()` mints
            tokens it accepts.
    """
    with tempfile.TemporaryDirectory(prefix="tickwire-") as folder:
        options: dict[str, Any] = (
            settings.model_dump(exclude_unset=True)
            if settings is not None
            else dict(_TEST_DEFAULTS)
        )
        if unix_socket:
            path = Path(folder) / "tickwire.sock" if unix_socket is True else unix_socket
            options["unix_socket"] = path
        seeds = dict(DEFAULT_PRICES if prices is None else prices)
        if simulator:
            options.update(source="simulator", tickers=list(seeds), seed=seed, interval=interval)
        options.update(overrides)
        # No candle history unless asked for: a test leaves nothing in its working directory.
        options.setdefault("history_url", "none")
        keys = ("jwt_secret", "jwt_public_key", "jwt_jwks_url")
        if options.get("auth") == "jwt" and not any(options.get(k) for k in keys):
            options["jwt_secret"] = secrets.token_urlsafe(32)
        config = _IsolatedSettings(**options)
        if source is None and not simulator and (prices is not None or settings is None):
            source = SyntheticSource(
                prices=seeds,
                seed=seed,
                open_universe=not strict,
                quiet_joins=True,
                clock=ManualClock(time.time_ns()),
            )
        async with TickwireServer(config, source=source) as server:
            yield InProcessServer(server)


try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - the fixture needs pytest-asyncio
    pass
else:

    @pytest_asyncio.fixture
    async def tickwire_server() -> AsyncIterator[InProcessServer]:
        """A tickwire server of `DEFAULT_PRICES` (see the module), stopped after the test."""
        async with serve_in_process() as server:
            yield server
