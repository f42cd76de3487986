"""A real PostgreSQL for the tests: Debian's server, a fresh cluster in a temporary folder.

`PostgresServer` runs `initdb` and `pg_ctl` from /usr/lib/postgresql/*/bin
(the Makefile installs the `postgresql` package when it is missing). It
listens on a unix socket in its own folder only (no TCP port), trusts local
connections, skips fsync, and is stopped and removed on exit. PostgreSQL
refuses to run as root: as root, it runs as the `postgres` system user the
package creates.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path
from types import TracebackType


def bin_dir() -> Path:
    """The newest installed PostgreSQL's bin folder.

    Raises:
        RuntimeError: PostgreSQL is not installed (make test installs it).
    """
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    if not found:
        raise RuntimeError(
            "PostgreSQL is not installed: `make test` installs Debian's postgresql package"
        )
    return Path(found[-1]).parent


def _version(path: str) -> float:
    try:
        return float(Path(path).parts[4])
    except (IndexError, ValueError):
        return 0.0


class PostgresServer:
    """One throwaway PostgreSQL cluster; `url(db)` names a database in it."""

    def __init__(self) -> None:
        self.bin = bin_dir()
        self.folder = Path(tempfile.mkdtemp(prefix="tickwire-pg-"))
        self.data = self.folder / "data"
        self.socket = self.folder / "socket"
        self._as: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.folder, user.pw_uid, user.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str, timeout: float = 60) -> None:
        result = subprocess.run(
            [*self._as, *args], capture_output=True, text=True, timeout=timeout, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")

    def start(self) -> PostgresServer:
        self._run("mkdir", "-p", str(self.socket))
        self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
            "--auth=trust", "--no-sync", "-E", "UTF8",
        )  # fmt: skip
        options = f"-k {self.socket} -c listen_addresses='' -c fsync=off -c full_page_writes=off"
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-w", "-t", "60",
            "-l", str(self.folder / "log"), "-o", options, "start",
        )  # fmt: skip
        return self

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        """A libpq URL of `database` over the unix socket."""
        return f"postgresql://postgres@/{database}?host={self.socket}"

    def new_database(self) -> str:
        """Create an empty database; its URL."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        self._run(str(self.bin / "createdb"), "-h", str(self.socket), "-U", "postgres", name)
        return self.url(name)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
