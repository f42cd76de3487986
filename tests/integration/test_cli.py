"""The `tickwire` command against a real server, and the dashboard it renders."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys

from tickwire_server.testing import InProcessServer, serve_in_process


async def _tickwire(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tickwire.cli", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )  # fmt: skip
    async with asyncio.timeout(30):
        stdout, stderr = await process.communicate()
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


async def test_snapshot_json_prints_the_servers_prices() -> None:
    async with serve_in_process({"AAPL": 190.0, "MSFT": 420.0}) as server:
        server.push({"AAPL": 190.5})
        code, out, err = await _tickwire(
            "snapshot", "aapl", "MSFT", "--json", "--target", server.target
        )
    assert code == 0, err
    prices = json.loads(out)
    assert prices["AAPL"]["price"] == 190.5
    assert prices["AAPL"]["previous_price"] == 190.0
    assert prices["AAPL"]["sequence"] == "2"
    assert prices["MSFT"]["price"] == 420.0


async def test_snapshot_of_a_ticker_without_price_exits_1_and_says_which() -> None:
    async with serve_in_process({"AAPL": 190.0}) as server:
        code, out, err = await _tickwire(
            "snapshot", "AAPL", "QQQ", "--json", "--target", server.target
        )
    assert code == 1
    assert set(json.loads(out)) == {"AAPL"}
    assert "no price for QQQ" in err


async def test_tickers_and_status_print_tables() -> None:
    async with serve_in_process({"AAPL": 190.0, "NVDA": 120.0}) as server:
        code, out, _ = await _tickwire("tickers", "--target", server.target)
        assert code == 0 and "AAPL" in out and "NVDA" in out and "120.00" in out
        code, out, _ = await _tickwire("status", "--target", server.target)
        assert code == 0 and "OPEN" in out and "synthetic" in out and "HEALTHY" in out


async def test_an_unreachable_server_is_one_clear_line_and_exit_1() -> None:
    code, _, err = await _tickwire(
        "status", "--target", "unix:/nonexistent/x.sock", "--timeout", "1"
    )
    assert code == 1
    assert err.startswith("tickwire: unix:/nonexistent/x.sock:")
    assert "Traceback" not in err


async def test_watch_draws_the_dashboard_and_exits_cleanly_on_ctrl_c() -> None:
    async with serve_in_process({"AAPL": 190.0, "NVDA": 120.0}) as server:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tickwire.cli", "watch", "AAPL", "NVDA", "ZZZZZZZZZZZZ",
            "--target", server.target,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            # A pipe, but drawn as on a terminal, so every refresh is visible.
            env={**os.environ, "COLUMNS": "120", "TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1"},
        )  # fmt: skip
        assert process.stdout is not None
        screen = ""
        try:
            async with asyncio.timeout(30):
                while not all(text in screen for text in ("120.00", "connected", "invalid symbol")):
                    chunk = await process.stdout.read(4096)
                    assert chunk, (await process.stderr.read()).decode()  # type: ignore[union-attr]
                    screen += chunk.decode(errors="replace")
            process.send_signal(signal.SIGINT)
            async with asyncio.timeout(30):
                _, stderr = await process.communicate()
        finally:
            if process.returncode is None:  # never leave a dashboard running
                process.kill()
                await process.wait()
    assert process.returncode == 0
    assert b"Traceback" not in stderr
    assert "AAPL" in screen and "190.00" in screen
    # The refused ticker shows its status and the server's reason, not "waiting…".
    assert "symbol longer than 10 characters" in screen


async def test_the_pytest_fixture_serves_default_prices(tickwire_server: InProcessServer) -> None:
    code, out, _ = await _tickwire("snapshot", "--json", "--target", tickwire_server.target)
    assert code == 0
    assert json.loads(out)["AAPL"]["price"] == 190.0


async def test_without_the_cli_extra_the_command_says_how_to_get_it() -> None:
    hide_rich = "import sys; sys.modules['rich'] = None; from tickwire.cli import main; "
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", hide_rich + "sys.exit(main(['status']))",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(30):
        _, stderr = await process.communicate()
    assert process.returncode == 2
    assert stderr.decode().strip() == "tickwire: the tickwire command needs the cli extra: " + (
        "pip install 'tickwire[cli]'"
    )


async def test_a_jwt_server_takes_the_token_flag_or_variable_and_refuses_none_at_once() -> None:
    async with serve_in_process({"AAPL": 190.0}, auth="jwt") as server:
        token = server.token("me")
        code, out, err = await _tickwire(
            "snapshot", "AAPL", "--json", "--target", server.target, "--token", token
        )
        assert code == 0, err
        assert json.loads(out)["AAPL"]["price"] == 190.0
        code, out, _ = await _tickwire(
            "status", "--target", server.target, env={"TICKWIRE_TOKEN": token}
        )
        assert code == 0 and "synthetic" in out
        code, _, err = await _tickwire("watch", "AAPL", "--target", server.target)
        assert code == 1
        assert err.strip().endswith(
            "UNAUTHENTICATED: no credentials: send authorization: Bearer <token>"
        )
        assert token not in err


async def test_tickwire_server_token_mints_what_a_jwt_server_accepts() -> None:
    secret = "cli-test-secret-of-more-than-32-bytes"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tickwire_server", "token",
        "--subject", "dev", "--roles", "read,admin", "--ttl", "15m",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "TICKWIRE_JWT_SECRET": secret, "TICKWIRE_JWT_ISSUER": "me"},
    )  # fmt: skip
    async with asyncio.timeout(30):
        out, err = await process.communicate()
    assert process.returncode == 0, err
    token = out.decode().strip()
    async with serve_in_process(
        {"AAPL": 190.0}, auth="jwt", jwt_secret=secret, jwt_issuer="me"
    ) as server:
        code, out_text, err_text = await _tickwire(
            "status", "--target", server.target, "--token", token
        )
    assert code == 0, err_text


async def test_tickwire_server_token_without_a_secret_says_what_to_set() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tickwire_server", "token", "--subject", "dev",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "TICKWIRE_JWT_SECRET": ""},
    )  # fmt: skip
    async with asyncio.timeout(30):
        _, err = await process.communicate()
    assert process.returncode == 2
    assert "set TICKWIRE_JWT_SECRET (at least 32 bytes)" in err.decode()


async def test_scenario_push_shows_in_a_watching_dashboard_and_drop_makes_it_reconnect() -> None:
    async with serve_in_process({"AAPL": 190.0}) as server:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tickwire.cli", "watch", "AAPL", "--target", server.target,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "COLUMNS": "120", "TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1"},
        )  # fmt: skip
        assert process.stdout is not None
        screen = ""

        async def until_shown(text: str) -> None:
            nonlocal screen
            async with asyncio.timeout(30):
                while text not in screen:
                    chunk = await process.stdout.read(4096)  # type: ignore[union-attr]
                    assert chunk, (await process.stderr.read()).decode()  # type: ignore[union-attr]
                    screen += chunk.decode(errors="replace")

        try:
            await until_shown("190.00")
            code, out, err = await _tickwire(
                "scenario", "push", "AAPL", "123.45", "--target", server.target
            )
            assert code == 0, err
            assert "AAPL 123.45 sequence 2" in out
            await until_shown("123.45")
            code, out, err = await _tickwire("scenario", "drop", "--target", server.target)
            assert (code, out.split()[0]) == (0, "1"), err  # one stream dropped
            await until_shown("reconnects 1")
            process.send_signal(signal.SIGINT)
            async with asyncio.timeout(30):
                await process.communicate()
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    assert process.returncode == 0


async def test_candles_prints_bars_as_json_a_table_and_a_chart(tmp_path) -> None:
    from tickwire_server.candles.intervals import NS
    from tickwire_server.domain import Quote

    minute = 60 * NS
    async with serve_in_process({"AAPL": 10.0}, history_url=f"sqlite:///{tmp_path}/c.db") as server:
        now = server.controls.source.clock.now_ns()
        t0 = now - now % minute - 30 * minute
        for m in range(30):
            server.push([Quote("NEWCO", 20.0 + m, t0 + m * minute, volume=500.0)])
        server.push([Quote("NEWCO", 99.0, now)])
        since = ["--target", server.target, "--last", "45m", "--end", _iso(now + minute)]
        code, out, err = await _tickwire("candles", "newco", "--json", *since)
        assert code == 0, err
        bars = [json.loads(line) for line in out.splitlines()]
        assert [b["close"] for b in bars[:30]] == [20.0 + m for m in range(30)]
        assert bars[0]["interval"] == "CANDLE_INTERVAL_1_MIN" and bars[0]["volume"] == 500.0
        assert bars[-1]["close"] == 99.0 and not bars[-1].get("complete", False)
        code, out, err = await _tickwire("candles", "NEWCO", "--interval", "5m", *since)
        assert code == 0, err
        assert "Close" in out and "* still forming" in out
        code, out, err = await _tickwire("candles", "NEWCO", "--chart", *since)
        assert code == 0 and "bars" in out and "█" in out, err
        code, out, err = await _tickwire("candles", "NEWCO", "--interval", "7m", *since)
        assert code == 2 and "one of 5s" in err
        code, out, err = await _tickwire("candles", "QUIET", *since)
        assert code == 1 and "no 1m bars of QUIET" in out


def _iso(t_ns: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(t_ns / 1e9, dt.UTC).isoformat()
