"""The bench's Node.js ceiling: it serves the Python ceiling's frames byte for byte, or refuses.

The peer is only as honest as its frames: these tests run `server.mjs` as the
bench does (Debian's node, the peer's own pinned @grpc/grpc-js) on the frames
file the bench writes, read a stream through grpc, and check every message is
the Python side's frame of the stream's tickers; a file whose framing the
Node side does not reproduce makes it exit instead of serving.
"""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from bench.peers import node_ceiling
from tickwire.v1 import market_data_pb2 as pb
from tickwire.v1 import market_data_pb2_grpc as rpc
from tickwire_server import codec

TIMEOUT = 20.0
NODE = shutil.which("node")


async def _start(frames: Path) -> asyncio.subprocess.Process:
    assert NODE is not None, "node is part of the project's tool chain (the TypeScript client)"
    return await asyncio.create_subprocess_exec(
        NODE, str(node_ceiling.SERVER), "--frames", str(frames), "--max-seconds", "60",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[str, dict[str, object]]]:
    frames = tmp_path / "frames.json"
    node_ceiling.write_frames(frames, 20)
    proc = await _start(frames)
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(TIMEOUT):
            ready = json.loads(await proc.stdout.readline())
        assert ready["event"] == "ready"
        yield ready["target"], json.loads(frames.read_text())
    finally:
        proc.terminate()
        async with asyncio.timeout(TIMEOUT):
            await proc.wait()


async def test_every_message_is_the_python_frame_of_the_streams_tickers(
    served: tuple[str, dict[str, object]],
) -> None:
    target, data = served
    names: list[str] = data["tickers"]  # type: ignore[assignment]
    ring = [[base64.b64decode(e) for e in batch] for batch in data["ring"]]  # type: ignore[attr-defined]
    wanted = [names[3], names[7], names[11]]
    expected = {codec.prices_frame(batch[names.index(t)] for t in wanted) for batch in ring}
    async with grpc.aio.insecure_channel(target) as channel:
        call = rpc.MarketDataStub(channel).StreamPrices(
            pb.StreamPricesRequest(tickers=[*wanted, "NOT-SERVED"])
        )
        got = []
        async with asyncio.timeout(TIMEOUT):
            async for message in call:
                got.append(message)
                if len(got) == 50:
                    break
        call.cancel()
    for message in got:
        assert message.SerializeToString() in expected
        assert [u.ticker for u in message.prices.updates] == wanted
    # The cursor moves on as the loop turns: the stream sees more than one batch.
    assert len({m.SerializeToString() for m in got}) > 1


async def test_a_frames_file_it_does_not_frame_alike_is_refused(tmp_path: Path) -> None:
    frames = tmp_path / "frames.json"
    node_ceiling.write_frames(frames, 5)
    data = json.loads(frames.read_text())
    check = bytearray(base64.b64decode(data["check"]))
    check[-1] ^= 0xFF
    data["check"] = base64.b64encode(bytes(check)).decode()
    frames.write_text(json.dumps(data))
    proc = await _start(frames)
    async with asyncio.timeout(TIMEOUT):
        _, stderr = await proc.communicate()
    assert proc.returncode == 1
    assert b"frames differ from the Python ceiling's" in stderr
