"""`make cluster` as a user runs it: prices through Envoy outlive an edge, then the leader."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

from helpers import StateLog

from tickwire import Client, ConnectionState
from tickwire.v1 import market_data_pb2 as pb

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "cluster.py"
LINE = re.compile(rb"^\s+(\S+)\s+(\S+) pid (\d+)", re.M)


def free_ports(count: int) -> list[int]:
    import socket

    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


async def test_prices_through_envoy_outlive_an_edge_and_the_leader() -> None:
    bus, e1, e2, i1, i2, listen, admin = free_ports(7)
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(SCRIPT), "--bus-port", str(bus), "--edge-ports", f"{e1},{e2}",
        "--ingest-ports", f"{i1},{i2}", "--port", str(listen), "--admin-port", str(admin),
        "--", "--source", "synthetic", "--synthetic-hz", "10", "--leader-lease", "2",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "TICKWIRE_HISTORY_URL": "none"},
    )  # fmt: skip
    assert process.stdout is not None
    try:
        banner = b""
        async with asyncio.timeout(60):
            while b"Ctrl+C stops everything" not in banner:
                line = await process.stdout.readline()
                assert line, banner.decode()
                banner += line
        pids = {m[1].decode(): int(m[3]) for m in LINE.finditer(banner)}
        logs = Path(re.search(rb"logs\s+(\S+)", banner)[1].decode())  # type: ignore[index]
        assert set(pids) == {"edge-1", "edge-2", "ingest-1", "ingest-2", "bus"}
        changes = StateLog()
        async with Client(f"127.0.0.1:{listen}", on_state=changes) as client:
            sub = client.subscribe("AAPL")
            first = await price_reaches_live(sub)
            serving = ""
            for name in ("edge-1", "edge-2"):
                log = await asyncio.to_thread((logs / f"{name}.log").read_text)
                if "Subscribe opened" in log:
                    serving = name
            os.kill(pids[serving], signal.SIGKILL)
            await changes.wait_for(ConnectionState.CONNECTED, count=2, wait=15)
            moved = await price_reaches_live(sub)
            assert moved.sequence > first.sequence
            os.kill(pids["ingest-1"], signal.SIGKILL)
            loop = asyncio.get_running_loop()
            killed = loop.time()
            # The standby leads within the lease (2 s): prices pause, then go on. (The
            # edges mark them stale only after 3 s of silence, so here they never do.)
            seen = []
            async with asyncio.timeout(15):
                async for update in sub:
                    seen.append(update)
                    if update.state == pb.DATA_STATE_LIVE and loop.time() > killed + 2.5:
                        break
            numbers = [u.sequence for u in seen]
            assert numbers == sorted(numbers)
            assert seen[-1].sequence > moved.sequence
            # One reconnect, for the edge; none for the leader.
            reconnects = [c for c in changes.changes if c.state is ConnectionState.RECONNECTING]
            assert len(reconnects) == 1
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
            async with asyncio.timeout(60):
                out, _ = await process.communicate()
            assert b"stopping the cluster" in out
    assert not await asyncio.to_thread(logs.exists)  # the logs' folder went with the cluster


async def price_reaches_live(sub: object) -> pb.PriceUpdate:
    async with asyncio.timeout(15):
        async for update in sub:  # type: ignore[attr-defined]
            if update.state == pb.DATA_STATE_LIVE:
                return update
    raise AssertionError("the subscription ended")
