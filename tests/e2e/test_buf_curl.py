"""`buf curl`, a real peer, against a running server through reflection."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tickwire_server.config import Settings
from tickwire_server.testing import InProcessServer, serve_in_process

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
BUF = ROOT / "clients" / "typescript" / "node_modules" / ".bin" / "buf"


@pytest.fixture
def buf() -> Path:
    assert BUF.exists(), "buf is missing: `make install` installs it from package-lock.json"
    return BUF


@pytest.fixture
async def simulator() -> AsyncIterator[InProcessServer]:
    """The seeded simulator, as the settings' defaults have it."""
    async with serve_in_process(settings=Settings(port=0, interval=0.05, seed=11)) as server:
        yield server


async def _buf_curl(buf: Path, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        str(buf),
        "curl",
        "--http2-prior-knowledge",
        "--protocol",
        "grpc",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )


async def test_buf_curl_lists_the_services_through_reflection(
    buf: Path, simulator: InProcessServer
) -> None:
    process = await _buf_curl(buf, "--list-services", f"http://{simulator.target}")
    async with asyncio.timeout(30):
        stdout, stderr = await process.communicate()
    assert process.returncode == 0, stderr.decode()
    services = stdout.decode().split()
    assert "tickwire.v1.MarketData" in services
    assert "grpc.health.v1.Health" in services


async def _messages(process: asyncio.subprocess.Process, prices: int) -> list[dict[str, Any]]:
    """The JSON messages `buf curl` prints, until `prices` price batches came; then kill it."""
    assert process.stdout is not None
    decoder = json.JSONDecoder()
    text = ""
    messages: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(30):
            while sum("prices" in m for m in messages) < prices:
                chunk = await process.stdout.read(4096)
                assert chunk, (await process.stderr.read()).decode()  # type: ignore[union-attr]
                text += chunk.decode()
                while text.strip():
                    try:
                        message, end = decoder.raw_decode(text.lstrip())
                    except json.JSONDecodeError:
                        break  # incomplete: read more
                    messages.append(message)
                    text = text.lstrip()[end:]
    finally:
        # The npm `buf` is a Node launcher with the real binary as its child:
        # end the whole process group, or the child keeps the pipe open.
        os.killpg(process.pid, signal.SIGKILL)
        async with asyncio.timeout(10):
            await process.wait()
    return messages


async def test_buf_curl_streams_prices_from_stream_prices(
    buf: Path, simulator: InProcessServer
) -> None:
    process = await _buf_curl(
        buf,
        "-d",
        '{"tickers": ["AAPL", "nvda"]}',
        f"http://{simulator.target}/tickwire.v1.MarketData/StreamPrices",
    )
    messages = await _messages(process, 3)
    ack = messages[0]["ack"]
    assert isinstance(ack, dict)
    assert ack["tickers"] == ["AAPL", "NVDA"]
    updates = [u for m in messages if "prices" in m for u in m["prices"]["updates"]]
    assert {u["ticker"] for u in updates} == {"AAPL", "NVDA"}
    assert all(float(u["price"]) > 0 for u in updates)


async def test_buf_curl_with_a_bearer_token_streams_from_a_jwt_server(buf: Path) -> None:
    settings = Settings(port=0, interval=0.05, seed=11)
    async with serve_in_process(settings=settings, auth="jwt") as server:
        url = f"http://{server.target}/tickwire.v1.MarketData/StreamPrices"
        token = server.token("curl-user")
        process = await _buf_curl(
            buf, "-H", f"authorization: Bearer {token}", "-d", '{"tickers": ["AAPL"]}', url
        )
        messages = await _messages(process, 2)
        assert messages[0]["ack"]["tickers"] == ["AAPL"]

        refused = await _buf_curl(buf, "-d", '{"tickers": ["AAPL"]}', url)
        async with asyncio.timeout(30):
            _, stderr = await refused.communicate()
        assert refused.returncode != 0
        assert "unauthenticated" in stderr.decode().lower()
        assert "no credentials" in stderr.decode()
