"""Connection hygiene on a real server, seen from raw HTTP/2: idle limits, stream caps, fds."""

from __future__ import annotations

import asyncio
import os
import resource
import struct

import grpc
from processes import command, spawned_server

from tickwire.v1 import market_data_pb2 as pb
from tickwire.v1 import market_data_pb2_grpc as rpc
from tickwire_server.testing import serve_in_process

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
SETTINGS, GOAWAY = 0x4, 0x7
MAX_CONCURRENT_STREAMS = 0x3


def _frame(kind: int, flags: int = 0, stream: int = 0, payload: bytes = b"") -> bytes:
    return (
        struct.pack(">I", len(payload))[1:]
        + bytes((kind, flags))
        + struct.pack(">I", stream)
        + payload
    )


async def _read_frame(reader: asyncio.StreamReader) -> tuple[int, int, bytes]:
    head = await reader.readexactly(9)
    length = int.from_bytes(head[:3], "big")
    return head[3], head[4], await reader.readexactly(length)


async def _handshake(target: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bytes]:
    """Open a connection, send the preface and empty SETTINGS; the server's SETTINGS payload."""
    host, _, port = target.rpartition(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(PREFACE + _frame(SETTINGS))
    await writer.drain()
    while True:
        kind, flags, payload = await _read_frame(reader)
        if kind == SETTINGS and not flags & 0x1:
            writer.write(_frame(SETTINGS, flags=0x1))  # ack theirs
            await writer.drain()
            return reader, writer, payload


def _settings(payload: bytes) -> dict[int, int]:
    return {
        int.from_bytes(payload[i : i + 2], "big"): int.from_bytes(payload[i + 2 : i + 6], "big")
        for i in range(0, len(payload), 6)
    }


async def test_the_server_advertises_its_concurrent_stream_cap() -> None:
    async with serve_in_process(max_concurrent_streams=64) as server:
        _, writer, payload = await _handshake(server.target)
        assert _settings(payload).get(MAX_CONCURRENT_STREAMS) == 64
        writer.close()


async def test_an_idle_connection_is_told_to_go_away_and_closed() -> None:
    async with serve_in_process(max_connection_idle=0.5) as server:
        reader, writer, _ = await _handshake(server.target)
        kinds: list[int] = []
        async with asyncio.timeout(10):  # never reads EOF when idle connections live for ever
            try:
                while True:
                    kind, _, _ = await _read_frame(reader)
                    kinds.append(kind)
            except asyncio.IncompleteReadError:
                pass
        assert GOAWAY in kinds
        writer.close()


async def test_tickwire_server_raises_its_open_file_limit_at_start() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    lowered = min(256, hard)

    process = await asyncio.create_subprocess_exec(
        *command("--port", "0", limits=(lowered, hard)),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "MASSIVE_API_KEY": ""},
    )  # fmt: skip
    assert process.stderr is not None
    try:
        async with asyncio.timeout(20):
            while b"open files:" not in (line := await process.stderr.readline()):
                assert line, "the server ended before saying"
    finally:
        process.terminate()
        async with asyncio.timeout(20):
            await process.communicate()
    text = line.decode()
    expected = hard if hard != resource.RLIM_INFINITY else 1 << 20
    assert f"soft limit {lowered}, now {expected}" in text


async def test_connections_hoarding_every_descriptor_lock_no_one_out_for_long() -> None:
    """Past the open-file limit, connections that never speak are closed and newcomers get in."""
    async with spawned_server("--handshake-timeout", "1", open_files=128) as server:
        host, _, port = server.target.rpartition(":")
        hoard = [await asyncio.open_connection(host, int(port)) for _ in range(200)]
        # The server holds all the descriptors it may; the rest wait to be accepted.
        try:
            async with grpc.aio.insecure_channel(server.target) as channel:
                status = await rpc.MarketDataStub(channel).GetMarketStatus(
                    pb.GetMarketStatusRequest(), timeout=30, wait_for_ready=True
                )
            assert status.status.market
            async with asyncio.timeout(30):  # every hoarded connection was closed by the server
                for reader, _ in hoard:
                    while await reader.read(65536):
                        pass
        finally:
            for _, writer in hoard:
                writer.close()
        assert server.alive()
