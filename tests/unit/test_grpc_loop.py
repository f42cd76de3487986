"""Tests of drain_completion_notices: every waiting notice is read before grpc's handler runs."""

from __future__ import annotations

import asyncio
import functools
import logging
import socket

import grpc
import pytest

from tickwire_server.grpc_loop import drain_completion_notices

TIMEOUT = 5.0


class PollerCompletionQueue:
    """Stands in for grpc's queue: its handler reads ONE byte, as grpc's does."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.calls = 0
        self.handled = asyncio.Event()

    def _handle_events(self, loop: asyncio.AbstractEventLoop) -> None:
        self.sock.recv(1)
        self.calls += 1
        self.handled.set()


async def test_the_reader_drains_all_waiting_bytes_then_calls_grpc_once() -> None:
    loop = asyncio.get_running_loop()
    read, write = socket.socketpair()
    with read, write:
        queue = PollerCompletionQueue(read)
        loop.add_reader(read, functools.partial(queue._handle_events, loop))
        try:
            assert drain_completion_notices(loop)
            assert drain_completion_notices(loop)  # idempotent
            write.send(b"1" * 500)  # 500 completions queued while the loop was busy
            async with asyncio.timeout(TIMEOUT):
                await queue.handled.wait()
            assert queue.calls == 1
            read.setblocking(False)
            with pytest.raises(BlockingIOError):  # every notice was read
                read.recv(1)
        finally:
            loop.remove_reader(read)


async def test_a_loop_without_grpc_is_left_alone_with_a_warning_of_the_cost(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="tickwire_server.grpc_loop"):
        assert not drain_completion_notices(asyncio.get_running_loop())
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert "completion reader was not found" in record.getMessage()
    assert "one write per turn" in record.getMessage()  # what it costs


async def test_a_real_server_keeps_working_with_the_drain() -> None:
    server = grpc.aio.server()
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        assert drain_completion_notices(asyncio.get_running_loop())
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = channel.unary_unary("/nothing/Here", None, None)(b"", timeout=TIMEOUT)
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await call  # answered through the drained completion queue
            assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED
    finally:
        await server.stop(0)
