"""tickwire-server in a process of its own, as users run it, with what /proc says of it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass

SERVING = re.compile(rb"tickwire serving on (\S+) \(source: (\w+)\)")


# Sets the open-file limits to argv[1] ("soft,hard"), then becomes `python argv[2:]`: the
# limit is set after an exec, never in a preexec function (a fork without exec under grpc's
# threads can leave this process's grpc broken, and the child aborted in grpc's fork handlers).
LIMITED = (
    "import os, resource, sys; soft, hard = map(int, sys.argv[1].split(',')); "
    "resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard)); "
    "os.execv(sys.executable, [sys.executable, *sys.argv[2:]])"
)


def command(
    *args: str, open_files: int | None = None, limits: tuple[int, int] | None = None
) -> list[str]:
    """The argv of `python -m tickwire_server args`, with open-file limits set if asked.

    `open_files` sets both limits; `limits` the soft and the hard one.
    """
    if open_files is not None:
        limits = (open_files, open_files)
    if limits is None:
        return [sys.executable, "-m", "tickwire_server", *args]
    soft, hard = limits
    return [sys.executable, "-c", LIMITED, f"{soft},{hard}", "-m", "tickwire_server", *args]


async def spawn(
    *args: str, env: dict[str, str] | None = None, open_files: int | None = None
) -> asyncio.subprocess.Process:
    """Start `python -m tickwire_server` with `args`; stdout and stderr piped.

    `open_files` sets both open-file limits, so the server cannot raise its own.
    """
    return await asyncio.create_subprocess_exec(
        *command(*args, open_files=open_files),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        # No candle history unless a test asks for it: nothing lands in the work tree.
        env={**os.environ, "TICKWIRE_HISTORY_URL": "none", **(env or {})},
    )


async def served_target(process: asyncio.subprocess.Process) -> str:
    """The target the process printed once serving."""
    assert process.stdout is not None
    async with asyncio.timeout(20):
        line = await process.stdout.readline()
    match = SERVING.search(line)
    assert match, line
    return match.group(1).decode()


class Usage:
    """A process's memory, descriptors and threads, as /proc says them (`pid` set by the user)."""

    pid: int

    def _status(self, key: str) -> int:
        with open(f"/proc/{self.pid}/status") as status:
            for line in status:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
        raise KeyError(key)

    def rss_mb(self) -> float:
        return self._status("VmRSS") / 1024

    def threads(self) -> int:
        return self._status("Threads")

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))


@dataclass
class Spawned(Usage):
    """A running server process: its target, and its memory, descriptors and threads."""

    process: asyncio.subprocess.Process
    target: str

    def __post_init__(self) -> None:
        self.pid = self.process.pid

    def alive(self) -> bool:
        return self.process.returncode is None


@contextlib.asynccontextmanager
async def spawned_server(*args: str, open_files: int | None = None) -> AsyncIterator[Spawned]:
    """Serve on a free loopback port with `args`; SIGTERM and wait at the end."""
    process = await spawn("--host", "127.0.0.1", "--port", "0", *args, open_files=open_files)
    drain: asyncio.Task[None] | None = None
    try:
        target = await served_target(process)
        # Nothing reads stderr; drain it so the server never blocks on a full pipe.
        drain = asyncio.create_task(_drain(process))
        yield Spawned(process, target)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            async with asyncio.timeout(30):
                await process.wait()
        if drain is not None:
            drain.cancel()


async def _drain(process: asyncio.subprocess.Process) -> None:
    assert process.stderr is not None
    while await process.stderr.read(65536):
        pass
