"""The runnable examples under clients/python/examples work as documented."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from tickwire_server.testing import serve_in_process

EXAMPLES = Path(__file__).resolve().parents[2] / "clients" / "python" / "examples"


async def _run(*args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    async with asyncio.timeout(60):
        out, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode()


async def test_stream_prices_example_prints_live_prices() -> None:
    async with serve_in_process({"AAPL": 190.0, "NVDA": 120.0}, simulator=True) as server:
        code, out = await _run(
            str(EXAMPLES / "stream_prices.py"),
            server.target,
            "--tickers",
            "AAPL,NVDA",
            "--count",
            "6",
        )
    assert code == 0, out
    lines = [line for line in out.splitlines() if line.startswith(("AAPL", "NVDA"))]
    assert len(lines) == 6
    assert "gaps seen:" in out


async def test_snapshot_sync_example_prints_prices_and_tickers() -> None:
    async with serve_in_process({"AAPL": 190.0, "MSFT": 420.0, "NVDA": 120.0}) as server:
        code, out = await _run(str(EXAMPLES / "snapshot_sync.py"), server.target)
    assert code == 0, out
    assert "source synthetic" in out
    assert "AAPL       190.00" in out and "NVDA       120.00" in out


async def test_the_sample_user_test_passes() -> None:
    code, out = await _run(
        "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLES / "test_with_tickwire.py")
    )
    assert code == 0, out
    assert "2 passed" in out
