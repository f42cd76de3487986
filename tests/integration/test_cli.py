"""The `tickwire` command against a real server, and the dashboard it renders."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys

from rich.console import Console

from tickwire import ConnectionState, StateChange
from tickwire._dashboard import Dashboard, sparkline
from tickwire.v1 import market_data_pb2 as pb
from tickwire_server.testing import InProcessServer, serve_in_process


async def _tickwire(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tickwire.cli", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
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
        assert code == 0 and "OPEN" in out and "scripted" in out and "HEALTHY" in out


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
            sys.executable, "-m", "tickwire.cli", "watch", "AAPL", "NVDA",
            "--target", server.target,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            # A pipe, but drawn as on a terminal, so every refresh is visible.
            env={**os.environ, "COLUMNS": "120", "TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1"},
        )  # fmt: skip
        assert process.stdout is not None
        screen = ""
        try:
            async with asyncio.timeout(30):
                while "120.00" not in screen or "connected" not in screen:
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


def _update(ticker: str, price: float, **fields: object) -> pb.PriceUpdate:
    return pb.PriceUpdate(ticker=ticker, price=price, state=pb.DATA_STATE_LIVE, **fields)  # type: ignore[arg-type]


def test_dashboard_renders_prices_changes_arrows_sparklines_and_status() -> None:
    dashboard = Dashboard(["AAPL", "NVDA", "TSLA"], target="127.0.0.1:50051", move_threshold=1.0)
    dashboard.on_state(StateChange(ConnectionState.CONNECTED))
    dashboard.apply(_update("AAPL", 190.0, open=190.0, direction=pb.DIRECTION_FLAT))
    for price in (191.0, 192.0, 193.5):
        dashboard.apply(_update("AAPL", price, open=190.0, direction=pb.DIRECTION_UP))
    dashboard.apply(_update("NVDA", 125.0, direction=pb.DIRECTION_FLAT))
    dashboard.apply(_update("NVDA", 120.0, direction=pb.DIRECTION_DOWN, change_percent=-4.0))

    console = Console(record=True, width=120, color_system=None)
    console.print(dashboard.render())
    text = console.export_text()

    aapl = next(line for line in text.splitlines() if "AAPL" in line)
    assert "193.50" in aapl and "+3.50" in aapl and "+1.84%" in aapl and "▲" in aapl
    assert sparkline([190.0, 191.0, 192.0, 193.5]) in aapl
    nvda = next(line for line in text.splitlines() if "NVDA" in line and "%" in line)
    assert "-5.00" in nvda and "-4.00%" in nvda and "▼" in nvda
    assert "TSLA" in text and "waiting" in text
    assert "NVDA ▼ -4.00% to 120.00" in text  # a notable move, logged
    assert "connected" in text and "gaps 0" in text


def test_sparkline_scales_between_low_and_high() -> None:
    assert sparkline([1.0, 2.0, 3.0]) == "▁▅█"
    assert sparkline([5.0, 5.0]) == "▅▅"
    assert sparkline([]) == ""


async def test_the_pytest_fixture_serves_default_prices(tickwire_server: InProcessServer) -> None:
    code, out, _ = await _tickwire("snapshot", "--json", "--target", tickwire_server.target)
    assert code == 0
    assert json.loads(out)["AAPL"]["price"] == 190.0
