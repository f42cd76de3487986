"""Tests of Settings: defaults, TICKWIRE_ variables, flags over variables, validation, address."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from tickwire_server import config
from tickwire_server.config import DEFAULT_TICKERS, Settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No stray TICKWIRE_ variable or .env file reaches a test."""
    for name in list(os.environ):
        if name.upper().startswith("TICKWIRE_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def _error_fields(error: ValidationError) -> set[str]:
    return {str(loc) for e in error.errors() for loc in e["loc"]}


# Defaults -------------------------------------------------------------------------------


def test_defaults_serve_the_simulator_on_localhost() -> None:
    s = config.load()
    assert s.source == "simulator"
    assert (s.host, s.port) == ("127.0.0.1", 50051)
    assert s.address == "127.0.0.1:50051"
    assert s.unix_socket is None
    assert s.seed is None
    assert s.log_level == "INFO"


def test_default_tickers_are_the_ten_seeded_ones() -> None:
    s = config.load()
    assert s.tickers == [
        "AAPL",
        "GOOGL",
        "MSFT",
        "AMZN",
        "TSLA",
        "NVDA",
        "META",
        "JPM",
        "V",
        "NFLX",
    ]
    assert list(DEFAULT_TICKERS) == s.tickers


def test_default_tickers_are_not_shared_between_settings() -> None:
    first = Settings()
    first.tickers.append("XYZ")
    assert Settings().tickers == list(DEFAULT_TICKERS)


def test_load_without_argv_ignores_flags() -> None:
    # pytest's own argv must not be read as tickwire flags.
    assert config.load().port == 50051


# Environment ------------------------------------------------------------------------------


def test_tickwire_variables_set_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKWIRE_HOST", "0.0.0.0")
    monkeypatch.setenv("TICKWIRE_PORT", "6000")
    monkeypatch.setenv("TICKWIRE_INTERVAL", "0.25")
    monkeypatch.setenv("TICKWIRE_SEED", "42")
    monkeypatch.setenv("TICKWIRE_MAX_LAG", "3.5")
    monkeypatch.setenv("TICKWIRE_RELEASE_GRACE", "0")
    monkeypatch.setenv("TICKWIRE_MAX_TICKERS_PER_STREAM", "7")
    monkeypatch.setenv("TICKWIRE_LOG_LEVEL", "DEBUG")
    s = config.load()
    assert (s.host, s.port, s.address) == ("0.0.0.0", 6000, "0.0.0.0:6000")
    assert s.interval == 0.25
    assert s.seed == 42
    assert s.max_lag == 3.5
    assert s.release_grace == 0.0
    assert s.max_tickers_per_stream == 7
    assert s.log_level == "DEBUG"


def test_tickers_variable_is_comma_separated_and_normalised(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TICKWIRE_TICKERS", "aapl, msft")
    assert config.load().tickers == ["AAPL", "MSFT"]


def test_tickers_variable_skips_empty_parts_and_duplicates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TICKWIRE_TICKERS", " brk.b,, AAPL , aapl ,")
    assert config.load().tickers == ["BRK.B", "AAPL"]


def test_unprefixed_variables_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "6000")
    monkeypatch.setenv("TICKWIRE_NOT_A_SETTING", "x")
    assert config.load().port == 50051


def test_dotenv_file_in_the_working_directory_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("TICKWIRE_PORT=6001\n")
    assert config.load().port == 6001


def test_environment_overrides_the_dotenv_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text("TICKWIRE_PORT=6001\n")
    monkeypatch.setenv("TICKWIRE_PORT", "6002")
    assert config.load().port == 6002


# Flags -------------------------------------------------------------------------------------


def test_flags_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKWIRE_PORT", "6000")
    monkeypatch.setenv("TICKWIRE_HOST", "0.0.0.0")
    monkeypatch.setenv("TICKWIRE_MAX_LAG", "1")
    s = config.load(["--port", "7000", "--max-lag", "2.5"])
    assert s.port == 7000
    assert s.max_lag == 2.5
    assert s.host == "0.0.0.0"  # not given as a flag: the variable still applies


def test_kebab_case_flags_set_fields() -> None:
    s = config.load(
        [
            "--max-tickers-per-stream",
            "5",
            "--heartbeat-interval",
            "1.5",
            "--release-grace",
            "0.1",
            "--log-level",
            "WARNING",
            "--seed",
            "7",
        ]
    )
    assert s.max_tickers_per_stream == 5
    assert s.heartbeat_interval == 1.5
    assert s.release_grace == 0.1
    assert s.log_level == "WARNING"
    assert s.seed == 7


def test_tickers_flag_is_comma_separated_and_normalised() -> None:
    assert config.load(["--tickers", "nvda, brk.b"]).tickers == ["NVDA", "BRK.B"]


def test_tickers_flag_overrides_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKWIRE_TICKERS", "aapl")
    assert config.load(["--tickers", "msft"]).tickers == ["MSFT"]


def test_empty_argv_reads_only_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKWIRE_PORT", "6000")
    assert config.load([]).port == 6000


# Validation --------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["AAPL$", "ABCDEFGHIJK", ".X", "A B"])
def test_invalid_ticker_is_a_validation_error_naming_the_field(
    raw: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TICKWIRE_TICKERS", f"AAPL,{raw}")
    with pytest.raises(ValidationError) as info:
        config.load()
    assert _error_fields(info.value) == {"tickers"}
    assert raw in str(info.value)


@pytest.mark.parametrize("port", ["-1", "65536", "70000"])
def test_out_of_range_port_is_a_validation_error_naming_the_field(
    port: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TICKWIRE_PORT", port)
    with pytest.raises(ValidationError) as info:
        config.load()
    assert _error_fields(info.value) == {"port"}
    assert "port" in str(info.value)


def test_out_of_range_port_flag_is_a_validation_error() -> None:
    with pytest.raises(ValidationError) as info:
        config.load(["--port", "70000"])
    assert _error_fields(info.value) == {"port"}


@pytest.mark.parametrize("port", [0, 65535])
def test_port_range_ends_are_accepted(port: int) -> None:
    assert Settings(port=port).port == port


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("interval", "0"),
        ("max_lag", "0"),
        ("heartbeat_interval", "-1"),
        ("release_grace", "-0.1"),
        ("max_tickers_per_stream", "0"),
        ("max_message_bytes", "1023"),
        ("source", "massive-typo"),
        ("log_level", "LOUD"),
        ("role", "leader"),
        ("bus_url", "http://127.0.0.1:4222"),
        ("bus_url", "nats://"),
        ("bus_url", " , "),
        ("bus_shards", "-1"),
        ("leader_lease", "0"),
        ("interest_lease", "0"),
    ],
)
def test_out_of_range_values_name_their_field(
    field: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(f"TICKWIRE_{field.upper()}", value)
    with pytest.raises(ValidationError) as info:
        config.load()
    assert _error_fields(info.value) == {field}


# Address --------------------------------------------------------------------------------


def test_address_is_host_colon_port() -> None:
    assert Settings(host="10.0.0.5", port=7000).address == "10.0.0.5:7000"
    assert Settings(host="localhost", port=0).address == "localhost:0"


@pytest.mark.parametrize(("host", "expected"), [("::1", "[::1]:7000"), ("::", "[::]:7000")])
def test_ipv6_host_is_bracketed(host: str, expected: str) -> None:
    assert Settings(host=host, port=7000).address == expected


def test_unix_socket_takes_precedence_over_host_and_port(tmp_path: Path) -> None:
    path = tmp_path / "tickwire.sock"
    s = Settings(unix_socket=path, port=7000)
    assert s.unix_socket == path
    assert s.address == f"unix:{path}"


def test_unix_socket_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKWIRE_UNIX_SOCKET", "/tmp/tw.sock")
    assert config.load().address == "unix:/tmp/tw.sock"


# Massive --------------------------------------------------------------------------------


def test_a_massive_key_and_no_named_source_selects_massive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MASSIVE_API_KEY", "sk-abc")
    s = config.load()
    assert s.source == "massive"
    assert s.massive_api_key is not None and s.massive_api_key.get_secret_value() == "sk-abc"
    assert (s.massive_mode, s.massive_rest_url, s.massive_ws_url) == (
        "rest",
        "https://api.massive.com",
        "wss://socket.massive.com",
    )
    assert (s.massive_poll_interval, s.massive_trades) == (15.0, False)


@pytest.mark.parametrize("how", ["variable", "flag"])
def test_a_named_source_wins_over_the_key(how: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MASSIVE_API_KEY", "sk-abc")
    if how == "variable":
        monkeypatch.setenv("TICKWIRE_SOURCE", "simulator")
        assert config.load().source == "simulator"
    else:
        assert config.load(["--source", "simulator"]).source == "simulator"


def test_a_blank_key_does_not_select_massive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MASSIVE_API_KEY", "  ")
    assert config.load().source == "simulator"


def test_the_massive_source_without_a_key_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="needs an API key: set MASSIVE_API_KEY"):
        config.load(["--source", "massive"])


def test_the_key_is_read_from_the_dotenv_file_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MASSIVE_API_KEY", raising=False)
    (tmp_path / ".env").write_text("MASSIVE_API_KEY=sk-from-file\n")
    assert config.load().source == "massive"


def test_massive_variables_and_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MASSIVE_API_KEY", "sk-abc")
    monkeypatch.setenv("TICKWIRE_MASSIVE_MODE", "websocket")
    monkeypatch.setenv("TICKWIRE_MASSIVE_REST_URL", "http://127.0.0.1:8080/")
    monkeypatch.setenv("TICKWIRE_MASSIVE_WS_URL", "ws://127.0.0.1:8081")
    monkeypatch.setenv("TICKWIRE_MASSIVE_POLL_INTERVAL", "5")
    s = config.load(["--massive-poll-interval", "2.5", "--massive-trades", "true"])
    assert s.massive_mode == "websocket"
    assert s.massive_rest_url == "http://127.0.0.1:8080"
    assert s.massive_ws_url == "ws://127.0.0.1:8081"
    assert s.massive_poll_interval == 2.5
    assert s.massive_trades is True


def test_the_key_is_never_shown(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MASSIVE_API_KEY", "sk-secret-123")
    s = config.load()
    assert "sk-secret-123" not in repr(s) + str(s) + s.model_dump_json()
    with pytest.raises(SystemExit):
        config.load(["--help"])
    assert "api-key" not in capsys.readouterr().out  # no flag invites it onto a command line


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("massive_rest_url", "ftp://api.massive.com"),
        ("massive_rest_url", "wss://api.massive.com"),
        ("massive_ws_url", "https://socket.massive.com"),
        ("massive_ws_url", "ws://"),
        ("massive_mode", "grpc"),
        ("massive_poll_interval", "0"),
        ("massive_breaker_threshold", "0"),
    ],
)
def test_bad_massive_values_name_their_field(
    field: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(f"TICKWIRE_{field.upper()}", value)
    with pytest.raises(ValidationError) as info:
        config.load()
    assert _error_fields(info.value) == {field}


def test_build_source_makes_the_massive_source() -> None:
    from tickwire_server.sources import build_source
    from tickwire_server.sources.massive import MassiveSource

    source = build_source(Settings(massive_api_key="sk-abc", massive_mode="websocket"))
    assert isinstance(source, MassiveSource) and source.name == "massive"


@pytest.mark.parametrize(
    "args",
    [
        ["--massive-api-key=sk-cli-secret"],
        ["--massive-api-key", "sk-cli-secret"],
        ["--MASSIVE-API-KEY=sk-cli-secret"],
        ["--massive_api_key=sk-cli-secret"],
        ["--port", "0", "--massive-api-key"],
    ],
    ids=["equals", "separate", "alias", "underscores", "no-value"],
)
def test_the_key_is_refused_on_the_command_line_without_echoing_it(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    # A flag would put the key in `ps` output and the shell history.
    with pytest.raises(SystemExit) as info:
        config.load(args)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "set MASSIVE_API_KEY in the environment or .env" in err
    assert "sk-cli-secret" not in err


def test_help_shows_the_default_tickers(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        config.load(["--help"])
    assert info.value.code == 0
    out = " ".join(capsys.readouterr().out.split())  # undo argparse's line wrapping
    assert "AAPL" in out and "NFLX" in out
    assert "default factory" not in out


# Access control --------------------------------------------------------------------------

SECRET = "a-development-secret-of-32-bytes!"


def _message(error: pytest.ExceptionInfo[ValidationError]) -> str:
    return " ".join(e["msg"] for e in error.value.errors())


def test_auth_is_off_by_default_and_jwt_takes_the_secret_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert config.load().auth == "none"
    monkeypatch.setenv("TICKWIRE_AUTH", "jwt")
    monkeypatch.setenv("TICKWIRE_JWT_SECRET", SECRET)
    s = config.load(["--jwt-issuer", "tickwire", "--jwt-leeway", "5"])
    assert s.jwt_secret is not None and s.jwt_secret.get_secret_value() == SECRET
    assert s.jwt_algorithms == ["HS256"]  # derived from the kind of key
    assert (s.jwt_issuer, s.jwt_leeway, s.jwt_roles_claim) == ("tickwire", 5.0, "roles")
    assert SECRET not in repr(s) and SECRET not in str(s.model_dump())


def test_a_public_key_or_jwks_defaults_to_rsa_and_ec_algorithms(tmp_path: Path) -> None:
    pem = tmp_path / "key.pem"
    pem.write_text("-----BEGIN PUBLIC KEY-----\n")
    assert Settings(auth="jwt", jwt_public_key=pem).jwt_algorithms == ["RS256", "ES256"]
    jwks = Settings(auth="jwt", jwt_jwks_url="https://id.example.invalid/jwks.json")
    assert jwks.jwt_algorithms == ["RS256", "ES256"]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"auth": "jwt"}, "auth=jwt needs a key"),
        ({"auth": "jwt", "jwt_secret": "short"}, "at least 32 bytes for HS256 (it has 5)"),
        (
            {"auth": "jwt", "jwt_secret": SECRET, "jwt_algorithms": "HS256,RS256"},
            "mixes HS and RS/ES algorithms",
        ),
        (
            {"auth": "jwt", "jwt_secret": SECRET, "jwt_algorithms": "RS256"},
            "RS256 tokens are verified with a public key or JWKS",
        ),
        (
            {"auth": "jwt", "jwt_jwks_url": "https://x.invalid/j", "jwt_algorithms": "HS256"},
            "HS256 tokens are verified with TICKWIRE_JWT_SECRET",
        ),
        ({"auth": "jwt", "jwt_secret": SECRET, "jwt_algorithms": "none"}, "unsupported"),
        (
            {"auth": "jwt", "jwt_secret": SECRET, "jwt_jwks_url": "https://x.invalid/j"},
            "one kind of key",
        ),
        ({"auth": "jwt", "jwt_jwks_url": "file:///etc/keys"}, "not an http or https URL"),
    ],
    ids=["no-key", "short", "mixed", "rs-with-secret", "hs-with-jwks", "none", "two", "scheme"],
)
def test_access_settings_that_cannot_work_are_refused(values: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError) as info:
        Settings(**values)  # type: ignore[arg-type]
    assert message in _message(info)
    assert SECRET not in _message(info)  # a secret is never shown, even when refused


def test_tls_files_come_in_working_sets(tmp_path: Path) -> None:
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("x")
    key.write_text("x")
    assert Settings(tls_cert=cert, tls_key=key).tls_client_ca is None
    with pytest.raises(ValidationError) as info:
        Settings(tls_cert=cert)
    assert "needs both TICKWIRE_TLS_CERT and TICKWIRE_TLS_KEY" in _message(info)
    with pytest.raises(ValidationError) as info:
        Settings(tls_client_ca=cert)
    assert "mutual TLS" in _message(info)
    with pytest.raises(ValidationError) as info:
        Settings(tls_cert=tmp_path / "missing.pem", tls_key=key)
    assert "tls_cert" in _error_fields(info.value)


def test_the_jwt_secret_is_refused_on_the_command_line_without_echoing_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as info:
        config.load(["--jwt-secret", "s3cret-s3cret-s3cret-s3cret-s3cret"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "set TICKWIRE_JWT_SECRET in the environment or .env" in err
    assert "s3cret" not in err


def test_cluster_flags_and_their_defaults() -> None:
    s = config.load([])
    assert (s.role, s.bus_url, s.bus_shards, s.leader_lease) == (
        "standalone", "nats://127.0.0.1:4222", 16, 5.0,
    )  # fmt: skip
    s = config.load(["--role", "edge", "--bus-url", "nats://10.0.0.1:4222, nats://10.0.0.2:4222"])
    assert (s.role, s.bus_url) == ("edge", "nats://10.0.0.1:4222,nats://10.0.0.2:4222")
