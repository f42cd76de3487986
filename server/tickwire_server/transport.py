"""Connections: which streams share an HTTP/2 connection, and cutting one whose streams all stalled.

A stream whose client stops accepting data below gRPC (a closed HTTP/2
window, a full TCP buffer) cannot be told anything: its status waits behind
the data the client does not take. grpc.aio has no call to reset one
stream or close one connection from the server, so a connection on which
every stream has stalled is cut at the socket: the server finds its own
descriptor for the peer's address and shuts it down with an abortive close,
so the client reads a reset and grpc core frees the connection. A stalled
stream that shares its connection with healthy streams is left to the
connection's age limit, so that one bad stream never cuts the others
(a proxy multiplexes many clients on one connection).

Only TCP peers can be cut: every unix-socket peer has the same empty
address. `grpc.aio`'s peer strings name TCP peers as `ipv4:host:port` or
`ipv6:[host]:port`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import socket
import stat
import struct
import urllib.parse

log = logging.getLogger(__name__)

_FD_DIRS = ("/proc/self/fd", "/dev/fd")


def _host(text: str) -> str:
    """A host address as one spelling: an IPv4-mapped IPv6 address as its IPv4 address."""
    address = ipaddress.ip_address(text)
    mapped = getattr(address, "ipv4_mapped", None)
    return str(mapped or address)


def peer_address(peer: str) -> tuple[str, int] | None:
    """The (normalised host, port) of a TCP peer string such as `ipv4:127.0.0.1:5000`."""
    kind, _, rest = urllib.parse.unquote(peer).partition(":")
    if kind not in ("ipv4", "ipv6"):
        return None
    host, _, port = rest.rpartition(":")
    try:
        return _host(host.strip("[]")), int(port)
    except ValueError:
        return None


def shut_sockets(addresses: set[tuple[str, int]]) -> int:
    """Abortively shut this process's TCP sockets whose far end is one of `addresses`; how many.

    Blocking (one `fstat` and `getpeername` per open descriptor): run it off the loop.
    """
    fd_dir = next((d for d in _FD_DIRS if os.path.isdir(d)), None)
    if fd_dir is None or not addresses:
        return 0
    shut = 0
    for name in os.listdir(fd_dir):
        try:
            fd = int(name)
            if not stat.S_ISSOCK(os.fstat(fd).st_mode):
                continue
            sock = socket.socket(fileno=os.dup(fd))
        except (ValueError, OSError):
            continue  # closed meanwhile, or not ours to inspect
        with sock:
            if sock.family not in (socket.AF_INET, socket.AF_INET6):
                continue
            try:
                host, port = sock.getpeername()[:2]
            except OSError:
                continue  # listening, or already gone
            if (_host(host), port) not in addresses:
                continue
            # grpc core sees the socket end and closes the connection; SO_LINGER 0
            # makes that close a reset, discarding what the client never took.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            shut += 1
    return shut


class Connections:
    """Counts each connection's open and stalled streams; cuts a connection once all stalled."""

    def __init__(self) -> None:
        self._open: dict[str, int] = {}
        self._stalled: dict[str, int] = {}
        self._pending: set[tuple[str, int]] = set()
        self._cutting: asyncio.Task[None] | None = None
        self.cut_total = 0

    def opened(self, peer: str) -> None:
        self._open[peer] = self._open.get(peer, 0) + 1

    def closed(self, peer: str, *, stalled: bool = False) -> None:
        """A stream on `peer` is over for the server (`stalled`: one counted by `stalled`)."""
        left = self._open[peer] - 1
        if left:
            self._open[peer] = left
        else:
            del self._open[peer]
        if stalled:
            count = self._stalled[peer] - 1
            if count:
                self._stalled[peer] = count
            else:
                del self._stalled[peer]
        self._check(peer)

    def stalled(self, peer: str) -> bool:
        """A stream on `peer` stalled; True when that cuts its connection (every stream stalled)."""
        self._stalled[peer] = self._stalled.get(peer, 0) + 1
        return self._check(peer)

    def _check(self, peer: str) -> bool:
        stalled = self._stalled.get(peer, 0)
        if not stalled or stalled < self._open.get(peer, 0):
            return False
        address = peer_address(peer)
        if address is None:
            return False
        self._pending.add(address)
        if self._cutting is None or self._cutting.done():
            self._cutting = asyncio.create_task(self._cut(), name="cut stalled connections")
        return True

    async def _cut(self) -> None:
        """Shut every pending connection in one scan of the descriptors, off the loop."""
        await asyncio.sleep(0)  # let the other stalls of this check join the batch
        while self._pending:
            batch, self._pending = self._pending, set()
            self.cut_total += await asyncio.to_thread(shut_sockets, batch)
