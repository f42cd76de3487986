"""Child processes of the harness: started in their own process group, always killed.

Every server and client runs as `python -m ...` (or, for Node readers and
Envoy, as its own program) in a new session, so one
`killpg` ends it with everything it started. `Procs` is a context manager
that kills whatever is still running on exit, on error and at interpreter exit.
"""

from __future__ import annotations

import atexit
import json
import os
import selectors
import signal
import subprocess
import sys
import time
from types import TracebackType
from typing import Any

import psutil

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_LIVE: set[Proc] = set()


class ProcError(RuntimeError):
    """A child did not say what it should have in time."""


class Proc:
    """One child process speaking JSON lines on stdout."""

    def __init__(
        self,
        args: list[str],
        name: str,
        env: dict[str, str] | None = None,
        executable: str = sys.executable,
    ) -> None:
        self.name = name
        full_env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
        self.popen = subprocess.Popen(
            [executable, *args],
            cwd=ROOT,
            env=full_env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None if os.environ.get("BENCH_VERBOSE") else subprocess.DEVNULL,
            start_new_session=True,
            text=True,
        )
        _LIVE.add(self)
        self.ps = psutil.Process(self.popen.pid)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def expect(self, event: str, timeout: float) -> dict[str, Any]:
        """Read stdout lines until a JSON line with `event`; raise after `timeout` s."""
        assert self.popen.stdout is not None
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            sel.register(self.popen.stdout, selectors.EVENT_READ)
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    raise ProcError(f"{self.name}: no {event!r} within {timeout:g} s")
                line = self.popen.stdout.readline()
                if not line:
                    raise ProcError(f"{self.name}: exited ({self.popen.poll()}) before {event!r}")
                if line.startswith("{"):
                    message: dict[str, Any] = json.loads(line)
                    if message.get("event") == event:
                        return message

    def send(self, line: str) -> None:
        """Write one line to the child's stdin."""
        assert self.popen.stdin is not None
        self.popen.stdin.write(line + "\n")
        self.popen.stdin.flush()

    def cpu_seconds(self) -> float:
        """User + system CPU of the process (all its threads) so far."""
        times = self.ps.cpu_times()
        return float(times.user + times.system)

    def rss(self) -> int:
        """Resident memory in bytes."""
        return int(self.ps.memory_info().rss)

    def kill(self, grace: float = 3.0) -> None:
        """SIGTERM the process group, SIGKILL it after `grace` s. Idempotent."""
        _LIVE.discard(self)
        if self.popen.poll() is None:
            _signal_group(self.pid, signal.SIGTERM)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        _signal_group(self.pid, signal.SIGKILL)  # stragglers of the group, if any
        try:
            self.popen.wait(grace)
        except subprocess.TimeoutExpired:
            pass
        for stream in (self.popen.stdin, self.popen.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class Procs:
    """Starts children and kills all of them when the block ends."""

    def __init__(self) -> None:
        self.children: list[Proc] = []

    def start(self, module: str, *args: object, name: str = "", **env: str) -> Proc:
        return self.command(sys.executable, "-m", module, *args, name=name or module, **env)

    def command(self, executable: str, *args: object, name: str = "", **env: str) -> Proc:
        """Start any program (node, envoy) under the same rules as the Python children."""
        proc = Proc([*map(str, args)], name or executable, env or None, executable=executable)
        self.children.append(proc)
        return proc

    def __enter__(self) -> Procs:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for proc in reversed(self.children):
            proc.kill()
        self.children.clear()


@atexit.register
def _kill_leftovers() -> None:
    for proc in list(_LIVE):
        proc.kill(grace=0.5)
