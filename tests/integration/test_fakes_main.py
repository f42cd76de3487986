"""`python -m fakes` serves the fake Massive by hand and prints how to point at it."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


async def test_the_runnable_fake_prints_the_variables_and_stops_by_itself() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "fakes", "--seconds", "0.6",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(TESTS)},
    )  # fmt: skip
    async with asyncio.timeout(30):
        out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    lines = out.decode().splitlines()
    assert lines[0].startswith("export MASSIVE_API_KEY=")
    assert lines[1].startswith("export TICKWIRE_MASSIVE_REST_URL=http://127.0.0.1:")
    assert lines[2].startswith("export TICKWIRE_MASSIVE_WS_URL=ws://127.0.0.1:")
