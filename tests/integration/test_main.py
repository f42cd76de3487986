"""`python -m tickwire_server` as a user runs it: flags, environment, signals, errors."""

from __future__ import annotations

import asyncio
import signal
import socket
from pathlib import Path

import grpc
from processes import served_target, spawn

from tickwire.v1 import market_data_pb2 as pb
from tickwire.v1 import market_data_pb2_grpc as rpc


async def test_serves_until_sigterm_then_shuts_down_cleanly(tmp_path: Path) -> None:
    process = await spawn(
        "--port", "0", "--interval", "0.05", "--tickers", "aapl,BRK.B",
        env={"TICKWIRE_SEED": "3", "TICKWIRE_PORT": "1"},  # the flag wins over the variable
    )  # fmt: skip
    try:
        target = await served_target(process)
        async with grpc.aio.insecure_channel(target) as channel:
            stub = rpc.MarketDataStub(channel)
            listed = await stub.ListTickers(pb.ListTickersRequest(), timeout=5)
            assert [t.ticker for t in listed.tickers] == ["AAPL", "BRK.B"]
            call = stub.StreamPrices(pb.StreamPricesRequest(tickers=["BRK.B"]))
            async with asyncio.timeout(10):
                while (await call.read()).WhichOneof("response") != "prices":
                    pass
            process.send_signal(signal.SIGTERM)
            async with asyncio.timeout(10):
                while True:
                    try:
                        await call.read()
                    except grpc.aio.AioRpcError as error:
                        assert error.code() == grpc.StatusCode.UNAVAILABLE
                        break
        async with asyncio.timeout(10):
            _, stderr = await process.communicate()
        assert process.returncode == 0
        assert b"tickwire stopped" in stderr
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_bad_settings_exit_2_with_one_clear_line() -> None:
    process = await spawn("--port", "70000", env={"TICKWIRE_TICKERS": "AAPL,no good"})
    async with asyncio.timeout(20):
        _, stderr = await process.communicate()
    assert process.returncode == 2
    text = stderr.decode()
    assert "tickers" in text and "no good" in text
    assert "port" in text and "65535" in text
    assert "Traceback" not in text


async def test_a_port_in_use_exits_1_with_a_clear_message() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = await spawn("--port", str(port))
        async with asyncio.timeout(20):
            _, stderr = await process.communicate()
    assert process.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in stderr.decode()
    assert b"Traceback" not in stderr
