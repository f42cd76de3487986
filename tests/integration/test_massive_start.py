"""The Massive source at start-up: a rejected or missing key, and the key never shown."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Callable

import pytest
from fakes import FAKE_KEY as KEY
from fakes import SNAPSHOT_PATH, STATUS_PATH, FakeMassiveFeed, FakeMassiveRest, Reply

from tickwire_server.app import TickwireServer
from tickwire_server.config import Settings
from tickwire_server.errors import AuthError

WAIT = 5.0
MassiveSettings = Callable[..., Settings]


async def test_a_bad_key_fails_server_start_and_leaves_nothing_running(
    rest: FakeMassiveRest, massive_settings: MassiveSettings
) -> None:
    server = TickwireServer(massive_settings(massive_api_key="sk-wrong"))
    with pytest.raises(AuthError, match=r"rejected the API key \(HTTP 401: Unknown API Key\)"):
        async with asyncio.timeout(WAIT):
            await server.start()
    assert [r.path for r in rest.requests] == [STATUS_PATH]
    ours = [
        t
        for t in asyncio.all_tasks()
        if not getattr(t.get_coro(), "__qualname__", "").startswith("Fake")
    ]
    assert ours == [asyncio.current_task()]
    await server.stop()  # nothing to stop: a no-op


async def _run_main(env: dict[str, str]) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tickwire_server", "--port", "0",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **env},
    )  # fmt: skip
    async with asyncio.timeout(20):
        out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_a_bad_key_at_start_exits_1_with_one_clear_line(rest: FakeMassiveRest) -> None:
    code, out, err = await _run_main(
        {"MASSIVE_API_KEY": "sk-wrong-9b7e", "TICKWIRE_MASSIVE_REST_URL": rest.url}
    )
    assert code == 1
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("tickwire-server: Massive rejected the API key (HTTP 401")
    assert "sk-wrong-9b7e" not in out + err
    assert rest.requests[0].authorization == "Bearer sk-wrong-9b7e"  # it did ask, and was told


async def test_the_massive_source_without_a_key_exits_2_with_one_clear_line() -> None:
    code, _, err = await _run_main({"TICKWIRE_SOURCE": "massive", "MASSIVE_API_KEY": ""})
    assert code == 2
    assert err.strip().splitlines() == [
        "tickwire-server: settings: Value error, the massive source needs an API key: "
        "set MASSIVE_API_KEY"
    ]


async def test_the_api_key_is_never_logged(
    rest: FakeMassiveRest, massive_settings: MassiveSettings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = massive_settings()
    assert KEY not in repr(settings) and KEY not in str(settings.model_dump())
    async with TickwireServer(settings):
        rest.queue(SNAPSHOT_PATH, Reply.error(401, "Unknown API Key"))
        await rest.next_snapshot(status=401)
        await rest.next_snapshot(status=200)
    assert "rejected the API key" in caplog.text
    assert KEY not in caplog.text


async def test_the_api_key_is_not_logged_by_the_server_at_debug_in_websocket_mode(
    rest: FakeMassiveRest, feed: FakeMassiveFeed
) -> None:
    env = {
        "MASSIVE_API_KEY": KEY,
        "TICKWIRE_MASSIVE_MODE": "websocket",
        "TICKWIRE_MASSIVE_REST_URL": rest.url,
        "TICKWIRE_MASSIVE_WS_URL": feed.url,
        "TICKWIRE_TICKERS": "AAPL",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tickwire_server", "--port", "0", "--log-level", "DEBUG",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **env},
    )  # fmt: skip
    try:
        await feed.wait_subscribed({"A.AAPL"}, wait=20)
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(20):
            out, err = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0
    text = (out + err).decode()
    assert " DEBUG " in text  # it did log at DEBUG
    assert KEY not in text
