"""Connections: which streams share an HTTP/2 connection, and cutting the ones that abuse it.

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

The same cut closes a connection that resets streams flat out (see
`Connections`). Only TCP peers can be cut: every unix-socket peer has the same empty
address. `grpc.aio`'s peer strings name TCP peers as `ipv4:host:port` or
`ipv6:[host]:port`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ipaddress
import logging
import os
import socket
import stat
import struct
import time
import urllib.parse

from tickwire_server.stats import ServerStats

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


def shut_sockets(addresses: set[tuple[str, int]], local_port: int | None = None) -> int:
    """Abortively shut this process's TCP sockets whose far end is one of `addresses`; how many.

    With `local_port`, only sockets on that port of this end (the server's
    own connections): a client in the same process, or another server, may
    meanwhile hold a socket whose far end has the same number.
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
            if local_port is not None and sock.getsockname()[1] != local_port:
                continue
            # grpc core sees the socket end and closes the connection; SO_LINGER 0
            # makes that close a reset, discarding what the client never took.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            shut += 1
    return shut


class Connections:
    """Each connection's open, stalled and reset streams; cuts the connections that abuse them.

    A connection is cut once every stream on it has stalled, or once its
    client has reset more than `max_resets` streams within one second
    (HTTP/2 rapid reset: streams opened and cancelled before they were sent
    anything). grpc core already refuses streams past MAX_CONCURRENT_STREAMS
    while the server finishes the cancelled ones; what it lacks, and
    grpc.aio cannot do for one connection, is closing a connection that
    keeps at it.
    """

    def __init__(self, stats: ServerStats, max_resets: int = 0) -> None:
        self._stats = stats
        self.max_resets = max_resets  # a second; 0: no limit
        self._open: dict[str, int] = {}
        self._stalled: dict[str, int] = {}
        self._resets: dict[str, tuple[float, int]] = {}  # peer: (second began, resets in it)
        self._pending: dict[tuple[str, int], str] = {}  # address to cut: why
        self._cutting: asyncio.Task[None] | None = None
        self._cutter: concurrent.futures.ThreadPoolExecutor | None = None  # one thread, once needed
        self.local_port: int | None = (
            None  # the server's port, once bound: only its sockets are cut
        )

    def opened(self, peer: str) -> None:
        self._open[peer] = self._open.get(peer, 0) + 1

    def closed(self, peer: str, *, stalled: bool = False, reset: bool = False) -> None:
        """A stream on `peer` is over for the server.

        `stalled`: it was counted by `stalled`; `reset`: the client cancelled
        it before it was sent anything.
        """
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
        if reset and self.max_resets:
            self._reset(peer)
        self._check(peer)

    def stalled(self, peer: str) -> bool:
        """A stream on `peer` stalled; True when that cuts its connection (every stream stalled)."""
        self._stalled[peer] = self._stalled.get(peer, 0) + 1
        return self._check(peer)

    async def cut(self) -> None:
        """Wait until the connections queued so far are cut."""
        if self._cutting is not None:
            await self._cutting

    async def close(self) -> None:
        """Stop cutting (the server stops): no cut outlives it, nor its thread."""
        self._pending.clear()
        task, self._cutting = self._cutting, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait([task])
        if self._cutter is not None:
            self._cutter.shutdown(wait=True)
            self._cutter = None

    def _reset(self, peer: str) -> None:
        now = time.monotonic()
        began, count = self._resets.get(peer, (now, 0))
        if now - began >= 1.0:
            began, count = now, 0
        if count + 1 > self.max_resets:
            del self._resets[peer]
            self._queue(peer, "rapid_reset")
            return
        self._resets[peer] = (began, count + 1)
        if len(self._resets) > 4096:  # forget the peers whose second is over
            self._resets = {p: v for p, v in self._resets.items() if now - v[0] < 1.0}

    def _check(self, peer: str) -> bool:
        stalled = self._stalled.get(peer, 0)
        if not stalled or stalled < self._open.get(peer, 0):
            return False
        return self._queue(peer, "stalled")

    def _queue(self, peer: str, reason: str) -> bool:
        address = peer_address(peer)
        if address is None:
            return False
        self._pending.setdefault(address, reason)
        if self._cutting is None or self._cutting.done():
            self._cutting = asyncio.create_task(self._cut(), name="cut connections")
        return True

    async def _cut(self) -> None:
        """Shut every pending connection in one scan of the descriptors, off the loop."""
        await asyncio.sleep(0)  # let the other cuts of this turn join the batch
        loop = asyncio.get_running_loop()
        while self._pending:
            batch, self._pending = self._pending, {}
            if self._cutter is None:
                self._cutter = concurrent.futures.ThreadPoolExecutor(1, "tickwire-cut")
            for reason in sorted(set(batch.values())):
                addresses = {a for a, why in batch.items() if why == reason}
                shut = await loop.run_in_executor(
                    self._cutter, shut_sockets, addresses, self.local_port
                )
                self._stats.connections_closed[reason] += shut
                if reason == "rapid_reset":
                    log.warning(
                        "closed %d connection(s) resetting more than %d streams a second: %s",
                        shut,
                        self.max_resets,
                        ", ".join(f"{host}:{port}" for host, port in sorted(addresses)),
                    )
