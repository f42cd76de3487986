"""A real NATS server for the tests: Debian's nats-server, with JetStream in a temporary folder.

`NatsServer` starts `nats-server -js` on a free port (the server picks it
and writes it to a ports file), waits until it accepts connections, and
stops it on exit. `restart` brings it back on the same port, as after a
crash (the tickwire buckets are in memory, so they come back empty).
`netns` runs it inside a network namespace instead (see `hosts`).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType


def binary() -> str:
    """The nats-server executable.

    Raises:
        RuntimeError: it is not installed (make test installs Debian's nats-server).
    """
    found = shutil.which("nats-server")
    if found is None:
        raise RuntimeError("nats-server is not installed: `make test` installs Debian's package")
    return found


class NatsServer:
    """One throwaway NATS server with JetStream; `url` is where clients dial it."""

    def __init__(self, host: str = "127.0.0.1", prefix: tuple[str, ...] = ()) -> None:
        self.host = host
        self.port = -1  # the server picks one at first start
        self.folder = Path(tempfile.mkdtemp(prefix="tickwire-nats-"))
        self._prefix = prefix  # e.g. ("ip", "netns", "exec", "tw-bus")
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> NatsServer:
        if self._process is not None and self._process.poll() is None:
            raise RuntimeError("this nats-server is running already: kill or stop it first")
        ports = self.folder / "ports"
        ports.mkdir(exist_ok=True)
        for old in ports.iterdir():
            old.unlink()
        log = open(self.folder / "log", "ab")  # noqa: SIM115 - the process keeps it
        self._process = subprocess.Popen(
            [
                *self._prefix, binary(), "-js", "-sd", str(self.folder / "js"),
                "-a", self.host, "-p", str(self.port), "--ports_file_dir", str(ports),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"nats-server exited:\n{self.log()}")
            files = list(ports.glob("*.ports"))
            if files:
                try:
                    url = json.loads(files[0].read_text())["nats"][0]
                except (ValueError, KeyError, IndexError):
                    url = ""
                if url:
                    self.port = int(url.rsplit(":", 1)[1])
                    if self._prefix or _accepts(self.host, self.port):
                        return self
            time.sleep(0.02)
        raise RuntimeError(f"nats-server did not start within {timeout} s:\n{self.log()}")

    def kill(self) -> None:
        """Stop at once (SIGKILL), as a crash would."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(10)
        self._process = None

    def restart(self) -> None:
        self.kill()
        self.start()

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(5)
        self._process = None
        shutil.rmtree(self.folder, ignore_errors=True)

    def log(self) -> str:
        path = self.folder / "log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def __enter__(self) -> NatsServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False
