"""Settings: one pydantic-settings object from flags, TICKWIRE_ variables and defaults."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from tickwire_server import symbols

DEFAULT_TICKERS = ("AAPL", "GOOGL", "MSFT", "AMZN", "TSLA", "NVDA", "META", "JPM", "V", "NFLX")


class Settings(BaseSettings):
    """Everything the server can be told, built once at start and passed down.

    Precedence: command-line flags, then `TICKWIRE_*` environment variables
    (and a `.env` file), then these defaults.
    """

    model_config = SettingsConfigDict(
        env_prefix="TICKWIRE_",
        env_file=".env",
        extra="ignore",
        cli_prog_name="tickwire-server",
        cli_kebab_case=True,
        cli_avoid_json=True,
        cli_hide_none_type=True,
        cli_exit_on_error=True,
    )

    host: str = Field("127.0.0.1", description="Address to listen on (0.0.0.0 for all)")
    port: int = Field(50051, ge=0, le=65535, description="TCP port; 0 picks a free one")
    unix_socket: Path | None = Field(
        None, description="Listen on this unix socket path instead of host:port"
    )
    source: Literal["simulator"] = Field("simulator", description="Where prices come from")
    tickers: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_TICKERS),
        description="Tickers the source always serves, comma-separated",
    )
    interval: float = Field(0.5, gt=0, le=3600, description="Simulator step, seconds")
    seed: int | None = Field(None, description="Simulator random seed (repeatable prices)")
    max_tickers_per_stream: int = Field(
        1000, ge=1, description="Tickers one stream may hold; more get LIMIT_EXCEEDED"
    )
    max_request_tickers: int = Field(
        10_000, ge=1, description="Tickers one request may name; more is INVALID_ARGUMENT"
    )
    max_lag: float = Field(
        10.0, gt=0, description="Seconds a stream may refuse data before RESOURCE_EXHAUSTED"
    )
    heartbeat_interval: float = Field(5.0, gt=0, description="Seconds between heartbeats")
    release_grace: float = Field(
        5.0, ge=0, description="Seconds a ticker stays upstream after its last subscriber"
    )
    max_message_bytes: int = Field(
        4 * 1024 * 1024, ge=1024, description="Largest request message accepted, bytes"
    )
    shutdown_grace: float = Field(
        2.0, ge=0, description="Seconds open calls get to finish on shutdown"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Logging level"
    )

    @field_validator("tickers", mode="before")
    @classmethod
    def _split_tickers(cls, value: object) -> object:
        if isinstance(value, str):
            return [part for part in value.split(",") if part.strip()]
        return value

    @field_validator("tickers")
    @classmethod
    def _valid_tickers(cls, value: list[str]) -> list[str]:
        out: list[str] = []
        for raw in value:
            symbol = symbols.normalize(raw)
            if not symbols.is_valid(symbol):
                raise ValueError(f"{raw!r}: {symbols.invalid_reason(raw)}")
            if symbol not in out:
                out.append(symbol)
        return out

    @property
    def address(self) -> str:
        """The gRPC address to bind: host:port or unix:path."""
        if self.unix_socket is not None:
            return f"unix:{self.unix_socket}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def load(argv: Sequence[str] | None = None) -> Settings:
    """Settings from the environment, overridden by command-line flags `argv`."""
    if argv is None:
        return Settings()
    return Settings(_cli_parse_args=list(argv))
