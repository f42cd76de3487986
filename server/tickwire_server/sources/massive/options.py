"""MassiveOptions: how the Massive source reaches Massive and how hard it tries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pydantic import SecretStr

from tickwire_server.errors import ConfigError

if TYPE_CHECKING:
    from tickwire_server.config import Settings


@dataclass(frozen=True, slots=True)
class MassiveOptions:
    """How to reach Massive and how hard to try; see the `massive_*` settings."""

    api_key: SecretStr
    mode: Literal["rest", "websocket"] = "rest"
    rest_url: str = "https://api.massive.com"
    ws_url: str = "wss://socket.massive.com"
    tickers: tuple[str, ...] = ()
    poll_interval: float = 15.0
    status_interval: float = 60.0
    trades: bool = False
    timeout: float = 10.0
    idle_timeout: float = 60.0
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    breaker_threshold: int = 5

    @classmethod
    def from_settings(cls, settings: Settings) -> MassiveOptions:
        if settings.massive_api_key is None or not settings.massive_api_key.get_secret_value():
            raise ConfigError("the massive source needs an API key: set MASSIVE_API_KEY")
        return cls(
            api_key=settings.massive_api_key,
            mode=settings.massive_mode,
            rest_url=settings.massive_rest_url,
            ws_url=settings.massive_ws_url,
            tickers=tuple(settings.tickers),
            poll_interval=settings.massive_poll_interval,
            status_interval=settings.massive_status_interval,
            trades=settings.massive_trades,
            timeout=settings.massive_timeout,
            idle_timeout=settings.massive_idle_timeout,
            backoff_base=settings.massive_backoff_base,
            backoff_max=settings.massive_backoff_max,
            breaker_threshold=settings.massive_breaker_threshold,
        )
