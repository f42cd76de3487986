"""Settings: one pydantic-settings object from flags, TICKWIRE_ variables and defaults."""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AliasChoices,
    Field,
    FilePath,
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
from tickwire_server.candles.history import DEFAULT_RETENTION, parse_retention

DEFAULT_TICKERS = ("AAPL", "GOOGL", "MSFT", "AMZN", "TSLA", "NVDA", "META", "JPM", "V", "NFLX")
HMAC_ALGORITHMS = ("HS256", "HS384", "HS512")
KEY_ALGORITHMS = (
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
)  # fmt: skip
MIN_HMAC_SECRET = 32  # bytes: RFC 7518 asks for a key at least as long as the HS256 hash


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
    source: Literal["simulator", "synthetic", "replay", "massive"] = Field(
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
    synthetic_tickers: Annotated[list[str], NoDecode] = Field(
        list(DEFAULT_TICKERS),
        description="The synthetic source's universe, comma-separated",
    )
    synthetic_hz: float = Field(
        1.0, gt=0, le=1000, description="Synthetic updates a second, per ticker"
    )
    synthetic_open_universe: bool = Field(
        False, description="Let the synthetic source serve any valid symbol, not only its universe"
    )
    synthetic_clock: Literal["real", "manual"] = Field(
        "real",
        description="The synthetic source's clock: real time, or manual (it moves only with "
        "ScenarioControl.AdvanceClock and scenario waits)",
    )
    scenario: Path | None = Field(
        None, description="A scenario file (YAML or JSON) to run once the synthetic source starts"
    )
    record: Path | None = Field(
        None, description="Write every accepted update to this file, for --source replay"
    )
    replay_file: Path | None = Field(None, description="The recording --source replay plays")
    replay_speed: str = Field(
        "1", description="How fast a replay plays: 1 (as recorded), 10 (ten times faster), max"
    )
    role: Literal["standalone", "ingest", "edge"] = Field(
        "standalone",
        description="standalone serves clients from its own source; ingest runs the source and "
        "publishes to --bus-url; edge serves clients from the bus",
    )
    bus_url: str = Field(
        "nats://127.0.0.1:4222",
        description="The NATS server(s) of the ingest and edge roles (comma-separated URLs)",
    )
    bus_shards: int = Field(
        16,
        ge=0,
        le=4096,
        description="Price subjects on the bus: 0 one per ticker, 1 one for all, N hash buckets",
    )
    leader_lease: float = Field(
        5.0, gt=0, le=600, description="Seconds a dead ingest leader holds the lead (failover)"
    )
    interest_lease: float = Field(
        10.0, gt=0, le=600, description="Seconds an edge's wanted tickers outlive its last word"
    )
    bus_stale_after: float = Field(
        3.0,
        gt=0,
        le=600,
        description="Seconds without the ingest after which an edge marks its prices stale",
    )
    bus_outage_limit: float = Field(
        10.0,
        gt=0,
        le=3600,
        description="Seconds cut off from NATS after which an edge reports NOT_SERVING",
    )
    node_name: str = Field(
        "", description="This process's name on the bus (default: host name and process id)"
    )
    candles: bool = Field(
        True, description="Aggregate prices into candles and keep their history (off: prices only)"
    )
    data_dir: Path = Field(
        Path("data"), description="Where the embedded candle history (SQLite) lives"
    )
    history_url: str = Field(
        "",
        description="Candle history: sqlite:///PATH, postgresql://..., or none (default: "
        "SQLite in --data-dir)",
    )
    candle_retention: str = Field(
        DEFAULT_RETENTION,
        description="Stored candle intervals and how long each is kept (INTERVAL=AGE,...; "
        "others are derived from them)",
    )
    candle_grace: float = Field(
        60.0, ge=0, le=3600, description="Seconds a closed candle still takes late prices"
    )
    backfill_days: int = Field(
        5, ge=0, le=400, description="Trading sessions of history to fill (or generate) at start"
    )
    max_tickers_per_stream: int = Field(
        1000, ge=1, description="Tickers one stream may hold; more get LIMIT_EXCEEDED"
    )
    max_request_tickers: int = Field(
        10_000, ge=1, description="Tickers one request may name; more is INVALID_ARGUMENT"
    )
    max_universe: int = Field(
        10_000,
        ge=1,
        description="Distinct tickers upstream at once (released ones in their grace count); "
        "more get LIMIT_EXCEEDED",
    )
    max_requests_per_minute: float = Field(
        100.0, gt=0, description="Subscribe/unsubscribe requests one stream may send a minute"
    )
    request_burst: int = Field(
        20,
        ge=1,
        description="Requests a stream may send at once; as many more refused in a row end it",
    )
    max_streams_per_client: int = Field(
        1000,
        ge=1,
        description="Open streams per principal (anonymous: per peer address); more are "
        "RESOURCE_EXHAUSTED",
    )
    keepalive_time: float = Field(
        30.0, gt=0, description="Seconds between the server's keepalive pings on a connection"
    )
    keepalive_timeout: float = Field(
        10.0, gt=0, description="Seconds a keepalive ping may go unanswered before the close"
    )
    min_client_ping_interval: float = Field(
        10.0,
        gt=0,
        description="Shortest interval between client pings the server accepts (GOAWAY below)",
    )
    handshake_timeout: float = Field(
        10.0,
        gt=0,
        description="Seconds a new connection gets to finish its TLS and HTTP/2 handshake",
    )
    max_connection_idle: float = Field(
        300.0, gt=0, description="Seconds a connection with no call open may stay"
    )
    max_connection_age: float = Field(
        1800.0, gt=0, description="Seconds a connection may live (clients reconnect, rebalancing)"
    )
    max_connection_age_grace: float = Field(
        30.0, ge=0, description="Seconds open calls get once a connection reached its age"
    )
    max_concurrent_streams: int = Field(
        1000, ge=1, description="Streams one HTTP/2 connection may hold (MAX_CONCURRENT_STREAMS)"
    )
    max_resets_per_second: int = Field(
        200,
        ge=0,
        description="Streams a connection may reset a second before it is closed (0: no limit)",
    )
    max_concurrent_rpcs: int = Field(
        50_000, ge=1, description="Calls open at once in all; more are RESOURCE_EXHAUSTED at once"
    )
    metrics_port: int | None = Field(
        None, ge=0, le=65535, description="Serve Prometheus metrics on this port (0: a free one)"
    )
    metrics_host: str = Field("127.0.0.1", description="Address of the metrics port")
    snapshot_page_size: int = Field(
        1000, ge=1, description="Prices per GetSnapshot page when no tickers are named (at most)"
    )
    max_lag: float = Field(
        10.0, gt=0, description="Seconds a stream may refuse data before RESOURCE_EXHAUSTED"
    )
    heartbeat_interval: float = Field(
        5.0, gt=0, description="Seconds a stream may be quiet before it gets a heartbeat"
    )
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
    massive_calls_per_minute: float = Field(
        5.0,
        gt=0,
        description="REST calls a minute the Massive plan allows; candle backfill paces its "
        "pages by it (free tier: 5)",
    )
    massive_breaker_threshold: int = Field(
        5, ge=1, description="Consecutive Massive failures that open the circuit breaker"
    )
    auth: Literal["none", "jwt"] = Field(
        "none", description="Access control: none, or jwt (bearer tokens carrying roles)"
    )
    jwt_secret: CliSuppress[SecretStr | None] = Field(
        None,
        description="HS256 secret of at least 32 bytes (environment only: TICKWIRE_JWT_SECRET)",
    )
    jwt_public_key: FilePath | None = Field(
        None, description="PEM file of the public key that verifies RS256/ES256 tokens"
    )
    jwt_jwks_url: str | None = Field(
        None, description="JWKS endpoint of the keys that verify tokens (rotate without restart)"
    )
    jwt_jwks_cooldown: float = Field(
        5.0, ge=0, description="Seconds between JWKS refetches for unknown key ids"
    )
    jwt_algorithms: Annotated[list[str], NoDecode] = Field(
        [],
        description="Accepted token algorithms, comma-separated (default: HS256 with a "
        "secret, RS256,ES256 with a public key or JWKS); never read from the token",
    )
    jwt_issuer: str | None = Field(None, description="Required `iss` of tokens")
    jwt_audience: str | None = Field(None, description="Required `aud` of tokens")
    jwt_leeway: float = Field(
        30.0, ge=0, description="Seconds of clock skew allowed on exp, nbf and iat"
    )
    jwt_roles_claim: str = Field(
        "roles", description="Claim holding the roles (a list; a space-separated `scope` works too)"
    )
    reflection: Literal["open", "authenticated"] = Field(
        "open", description="Server reflection: open to all, or only to authenticated callers"
    )
    tls_cert: FilePath | None = Field(
        None, description="PEM certificate chain to serve TLS with (re-read on SIGHUP)"
    )
    tls_key: FilePath | None = Field(None, description="PEM private key of the certificate")
    tls_client_ca: FilePath | None = Field(
        None, description="PEM CA bundle: require client certificates signed by it (mTLS)"
    )
    tls_client_roles: Annotated[list[str], NoDecode] = Field(
        ["read"],
        description="Roles of a caller known only by its client certificate, comma-separated",
    )

    @field_validator(
        "tickers", "synthetic_tickers", "jwt_algorithms", "tls_client_roles", mode="before"
    )
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [part for part in value.split(",") if part.strip()]
        return value

    @field_validator("tickers", "synthetic_tickers")
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

    @field_validator("bus_url")
    @classmethod
    def _valid_bus_url(cls, value: str) -> str:
        urls = [u.strip() for u in value.split(",") if u.strip()]
        if not urls:
            raise ValueError("name at least one NATS server, as in nats://127.0.0.1:4222")
        for url in urls:
            parts = urlsplit(url)
            if parts.scheme not in ("nats", "tls", "ws", "wss") or not parts.netloc:
                raise ValueError(f"{url!r} is not a NATS URL (nats://HOST:PORT, tls://, ws://)")
        return ",".join(urls)

    @model_validator(mode="after")
    def _pick_source(self) -> Settings:
        key = self.massive_api_key
        has_key = key is not None and bool(key.get_secret_value().strip())
        if "source" not in self.model_fields_set and has_key:
            self.source = "massive"
        if self.source == "massive" and not has_key:
            raise ValueError("the massive source needs an API key: set MASSIVE_API_KEY")
        if self.scenario is not None and self.source not in ("synthetic", "replay"):
            raise ValueError("--scenario drives the synthetic source: add --source synthetic")
        if self.source == "replay" and self.replay_file is None:
            raise ValueError("the replay source plays a recording: set --replay-file")
        if self.source == "replay" and self.replay_file and not self.replay_file.is_file():
            raise ValueError(f"cannot read the recording {self.replay_file}: no such file")
        self.replay_rate  # noqa: B018 - checks the speed
        if self.massive_backoff_max < self.massive_backoff_base:
            raise ValueError("massive_backoff_max must not be below massive_backoff_base")
        return self

    @property
    def replay_rate(self) -> float:
        """`replay_speed` as a factor: inf for "max".

        Raises:
            ValueError: the speed is neither "max" nor a number above 0 (up to 1,000).
        """
        text = self.replay_speed.strip().lower()
        if text == "max":
            return math.inf
        try:
            rate = float(text.removesuffix("x"))  # "10x" reads as 10
        except ValueError:
            rate = math.nan
        if not 0 < rate <= 1000:
            raise ValueError(
                f"replay_speed is 1, 10, max or a factor up to 1000, not {self.replay_speed!r}"
            )
        return rate

    @model_validator(mode="after")
    def _check_access(self) -> Settings:
        """TLS files come in working sets; jwt mode has exactly one key and matching algorithms."""
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("TLS needs both TICKWIRE_TLS_CERT and TICKWIRE_TLS_KEY")
        if self.tls_client_ca is not None and self.tls_cert is None:
            raise ValueError("TICKWIRE_TLS_CLIENT_CA (mutual TLS) needs TICKWIRE_TLS_CERT and _KEY")
        secret = self.jwt_secret.get_secret_value() if self.jwt_secret is not None else ""
        keys = [
            name
            for name, given in (
                ("TICKWIRE_JWT_SECRET", bool(secret)),
                ("TICKWIRE_JWT_PUBLIC_KEY", self.jwt_public_key is not None),
                ("TICKWIRE_JWT_JWKS_URL", bool(self.jwt_jwks_url)),
            )
            if given
        ]
        if self.auth != "jwt":
            return self
        if not keys:
            raise ValueError(
                "auth=jwt needs a key: set TICKWIRE_JWT_SECRET, TICKWIRE_JWT_PUBLIC_KEY "
                "or TICKWIRE_JWT_JWKS_URL"
            )
        if len(keys) > 1:
            raise ValueError(f"auth=jwt takes one kind of key, not {' and '.join(keys)}")
        if secret and len(secret.encode()) < MIN_HMAC_SECRET:
            raise ValueError(
                f"TICKWIRE_JWT_SECRET must be at least {MIN_HMAC_SECRET} bytes for HS256 "
                f"(it has {len(secret.encode())})"
            )
        if self.jwt_jwks_url and urlsplit(self.jwt_jwks_url).scheme not in ("http", "https"):
            raise ValueError(f"{self.jwt_jwks_url!r} is not an http or https URL")
        if not self.jwt_algorithms:
            self.jwt_algorithms = ["HS256"] if secret else ["RS256", "ES256"]
        unknown = [a for a in self.jwt_algorithms if a not in HMAC_ALGORITHMS + KEY_ALGORITHMS]
        if unknown:
            raise ValueError(f"unsupported token algorithms: {', '.join(unknown)}")
        hmac = [a for a in self.jwt_algorithms if a in HMAC_ALGORITHMS]
        if hmac and len(hmac) < len(self.jwt_algorithms):
            raise ValueError("TICKWIRE_JWT_ALGORITHMS mixes HS and RS/ES algorithms: pick one kind")
        if bool(hmac) != bool(secret):
            needs = "TICKWIRE_JWT_SECRET" if hmac else "a public key or JWKS"
            raise ValueError(f"{', '.join(self.jwt_algorithms)} tokens are verified with {needs}")
        return self

    @model_validator(mode="after")
    def _check_history(self) -> Settings:
        parse_retention(self.candle_retention)  # raises with the part at fault
        self.history  # noqa: B018 - checks the URL
        return self

    @property
    def history(self) -> str | None:
        """Where candle history goes: "sqlite:///path", "postgresql://...", or None for none.

        Raises:
            ValueError: `history_url` is none of these.
        """
        url = self.history_url.strip()
        if not url:
            return f"sqlite:///{self.data_dir / 'candles.db'}"
        if url.lower() == "none":
            return None
        scheme = urlsplit(url).scheme
        if scheme == "sqlite" and url.startswith("sqlite:///") and len(url) > len("sqlite:///"):
            return url
        if scheme in ("postgresql", "postgres"):
            return url
        raise ValueError(
            f"history_url {url!r}: use sqlite:///PATH, postgresql://USER@HOST/DB or none"
        )

    @property
    def address(self) -> str:
        """The gRPC address to bind: host:port or unix:path."""
        if self.unix_socket is not None:
            return f"unix:{self.unix_socket}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


# Flags of secrets, refused: `ps` and the shell history would show them. Flag -> variable.
_SECRET_FLAGS = {"--massive-api-key": "MASSIVE_API_KEY", "--jwt-secret": "TICKWIRE_JWT_SECRET"}


class _RefuseSecret(argparse.Action):
    """The flag of a secret: refused, since `ps` and the shell history would show it."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        name = next((v for k, v in _SECRET_FLAGS.items() if option_string in _spellings(k)), "it")
        parser.error(
            f"{option_string} is refused: a secret on the command line shows in ps and the "
            f"shell history; set {name} in the environment or .env"
        )


def _spellings(flag: str) -> set[str]:
    return {flag, "--" + flag[2:].replace("-", "_")}


def _add_argument(container: Any, *names: str, **kwargs: Any) -> argparse.Action:
    """argparse's add_argument, except that the flags of secrets (any spelling) are refused."""
    if not _SECRET_FLAGS.keys() & set(names):
        return container.add_argument(*names, **kwargs)  # type: ignore[no-any-return]
    spellings = set().union(*(_spellings(name) for name in names))
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
            usage on stderr), e.g. it holds the API key or the JWT secret, which are
            taken only from the environment or `.env`.
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
