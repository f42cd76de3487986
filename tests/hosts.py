"""The tests' own hosts: Linux network namespaces joined by a switch, each with one address.

`Hosts(["bus", "edge-1", ...])` makes a namespace per host and one for
the switch (a bridge), links each host to the switch with a veth pair,
and gives host i the address 10.88.0.(10 + i) on its `eth0`. Nothing is
added to the machine's own namespace: every address lives inside these
namespaces, so the tests reach no real network. `delay` adds latency to
a host's link with `tc netem`; `cut` and `mend` take its link down and up
(a partition). Everything is deleted on exit. Making namespaces needs
root (CAP_NET_ADMIN); `available()` says why it cannot, for a skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from types import TracebackType

SUBNET = "10.88.0"


def available() -> str | None:
    """None when namespaces can be made here, else why not."""
    if shutil.which("ip") is None:
        return "iproute2's `ip` is not installed"
    if os.geteuid() != 0:
        return "making network namespaces needs root"
    probe = f"tw-probe-{uuid.uuid4().hex[:6]}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"`ip netns add` failed: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def _ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.strip()}")


class Hosts:
    """Named hosts on one switch; `address(name)` and `run(name)` to use them."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self._tag = uuid.uuid4().hex[:6]
        self.switch = f"tw{self._tag}-sw"
        self._made: list[str] = []

    def namespace(self, name: str) -> str:
        return f"tw{self._tag}-{self.names.index(name)}"

    def address(self, name: str) -> str:
        return f"{SUBNET}.{10 + self.names.index(name)}"

    def run(self, name: str) -> list[str]:
        """The argv prefix that runs a command on host `name`."""
        return ["ip", "netns", "exec", self.namespace(name)]

    def __enter__(self) -> Hosts:
        try:
            _ip("netns", "add", self.switch)
            self._made.append(self.switch)
            sw = ["-n", self.switch]
            _ip(*sw, "link", "add", "br0", "type", "bridge")
            _ip(*sw, "link", "set", "br0", "up")
            for i, name in enumerate(self.names):
                ns = self.namespace(name)
                _ip("netns", "add", ns)
                self._made.append(ns)
                port = f"p{i}"
                _ip(*sw, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns)
                _ip(*sw, "link", "set", port, "master", "br0", "up")
                _ip("-n", ns, "addr", "add", f"{self.address(name)}/24", "dev", "eth0")
                _ip("-n", ns, "link", "set", "eth0", "up")
                _ip("-n", ns, "link", "set", "lo", "up")
        except BaseException:
            self._delete()
            raise
        return self

    def delay(self, name: str, ms: float) -> str | None:
        """Add `ms` of latency to everything `name` sends (tc netem); None, or why it cannot.

        The kernel must have netem (sch_netem): some machines' kernels lack
        it, and the hosts then talk with no added latency.
        """
        argv = ["tc", "qdisc", "replace", "dev", "eth0", "root", "netem", "delay", f"{ms}ms"]
        result = subprocess.run(
            [*self.run(name), *argv], capture_output=True, text=True, timeout=30
        )
        return None if result.returncode == 0 else (result.stderr.strip() or "tc failed")

    def cut(self, name: str) -> None:
        """Take `name`'s link down: a partition, until `mend`."""
        _ip("-n", self.namespace(name), "link", "set", "eth0", "down")

    def mend(self, name: str) -> None:
        _ip("-n", self.namespace(name), "link", "set", "eth0", "up")

    def _delete(self) -> None:
        for ns in reversed(self._made):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)
        self._made = []

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._delete()
