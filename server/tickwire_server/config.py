"""Settings: one pydantic-settings object from flags, TICKWIRE_ variables and defaults."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    CliSettingsSource,
    CliSuppress,
    NoDecode,
    SettingsConfigDict,
)

from tickwire_server import symbols

DEFAULT_TICKERS = ("AAPL", "GOOGL", "MSFT", "AMZN", "TSLA", "NVDA", "META", "JPM", "V", "NFLX")


class Settings(BaseSettings):
    """Everything the server can be told, built once at start and passed down.

    Precedence: command-line flags, then `TICKWIRE_*` environment variables
    (and a `.env` file), then these defaults. The Massive API key is read from
    `MASSIVE_API_KEY` only (never a flag, never printed); when it is set and no
    source is named, the source is Massive.
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
    source: Literal["simulator", "massive"] = Field(
        "simulator",
        description="Where prices come from (massive when MASSIVE_API_KEY is set and no "
        "source is named)",
    )
    tickers: Annotated[list[str], NoDecode] = Field(
        list(
            DEFAULT_TICKERS
        ),  # a value, not a factory, so that --help shows it; copied per instance
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
    massive_api_key: CliSuppress[SecretStr | None] = Field(
        None,
        validation_alias=AliasChoices("MASSIVE_API_KEY", "massive_api_key"),
        description="Massive API key (environment only: MASSIVE_API_KEY)",
    )
    massive_mode: Literal["rest", "websocket"] = Field(
        "rest", description="Massive feed: rest (snapshot polling, free tier) or websocket"
    )
    massive_rest_url: str = Field(
        "https://api.massive.com", description="Massive REST base URL (http or https)"
    )
    massive_ws_url: str = Field(
        "wss://socket.massive.com", description="Massive WebSocket base URL (ws or wss)"
    )
    massive_poll_interval: float = Field(
        15.0, gt=0, description="Seconds between REST snapshot polls (free tier: 15)"
    )
    massive_status_interval: float = Field(
        60.0, gt=0, description="Seconds between market status polls"
    )
    massive_trades: bool = Field(
        False, description="WebSocket mode: also stream trades (T.), not only aggregates (A.)"
    )
    massive_timeout: float = Field(
        10.0, gt=0, description="Seconds a Massive request or WebSocket connect may take"
    )
    massive_idle_timeout: float = Field(
        60.0,
        gt=0,
        description="Seconds the WebSocket feed may stay silent while the market is open "
        "before it is reconnected",
    )
    massive_backoff_base: float = Field(
        1.0, gt=0, description="First retry delay after a Massive failure, seconds"
    )
    massive_backoff_max: float = Field(
        60.0, gt=0, description="Longest retry delay after Massive failures, seconds"
    )
    massive_breaker_threshold: int = Field(
        5, ge=1, description="Consecutive Massive failures that open the circuit breaker"
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

    @field_validator("massive_rest_url", "massive_ws_url")
    @classmethod
    def _valid_url(cls, value: str, info: ValidationInfo) -> str:
        schemes = ("http", "https") if info.field_name == "massive_rest_url" else ("ws", "wss")
        parts = urlsplit(value.strip())
        if parts.scheme not in schemes or not parts.netloc:
            raise ValueError(f"{value!r} is not a {' or '.join(schemes)} URL")
        return value.strip().rstrip("/")

    @model_validator(mode="after")
    def _pick_source(self) -> Settings:
        key = self.massive_api_key
        has_key = key is not None and bool(key.get_secret_value().strip())
        if "source" not in self.model_fields_set and has_key:
            self.source = "massive"
        if self.source == "massive" and not has_key:
            raise ValueError("the massive source needs an API key: set MASSIVE_API_KEY")
        if self.massive_backoff_max < self.massive_backoff_base:
            raise ValueError("massive_backoff_max must not be below massive_backoff_base")
        return self

    @property
    def address(self) -> str:
        """The gRPC address to bind: host:port or unix:path."""
        if self.unix_socket is not None:
            return f"unix:{self.unix_socket}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


_SECRET_FLAG = "--massive-api-key"


class _RefuseSecret(argparse.Action):
    """The flag of the API key: refused, since `ps` and the shell history would show the key."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        parser.error(
            f"{option_string} is refused: a key on the command line shows in ps and the "
            "shell history; set MASSIVE_API_KEY in the environment or .env"
        )


def _add_argument(container: Any, *names: str, **kwargs: Any) -> argparse.Action:
    """argparse's add_argument, except that the API key's flags (any spelling) are refused."""
    if _SECRET_FLAG not in names:
        return container.add_argument(*names, **kwargs)  # type: ignore[no-any-return]
    spellings = {*names, *("--" + name[2:].replace("-", "_") for name in names)}
    return container.add_argument(  # type: ignore[no-any-return]
        *sorted(spellings),
        dest=kwargs["dest"],
        nargs="?",
        action=_RefuseSecret,
        help=argparse.SUPPRESS,
    )


def load(argv: Sequence[str] | None = None) -> Settings:
    """Settings from the environment, overridden by command-line flags `argv`.

    Raises:
        SystemExit: `argv` asked for --help (status 0) or is not valid (status 2, with
            usage on stderr), e.g. it holds the API key, which is taken only from the
            environment or `.env`.
        ValidationError: a value is out of range.
    """
    if argv is None:
        return Settings()
    cli = CliSettingsSource[Any](
        Settings,
        cli_parse_args=list(argv),
        case_sensitive=Settings.model_config.get("case_sensitive", False),
        add_argument_method=_add_argument,
    )
    return Settings(_cli_settings_source=cli)
