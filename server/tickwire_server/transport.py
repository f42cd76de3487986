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
import concurrent.futures
import contextlib
import ipaddress
import logging
import os
import socket
import stat
import struct
import threading
import time
import urllib.parse
from dataclasses import dataclass

from grpc_channelz.v1 import channelz_pb2
from grpc_channelz.v1.channelz import ChannelzServicer  # type: ignore[attr-defined]  # no __all__

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

    def __init__(self, stats: ServerStats) -> None:
        self._stats = stats
        self._open: dict[str, int] = {}
        self._stalled: dict[str, int] = {}
        self._pending: set[tuple[str, int]] = set()
        self._cutting: asyncio.Task[None] | None = None
        self._cutter: concurrent.futures.ThreadPoolExecutor | None = None  # one thread, once needed

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
            if self._cutter is None:
                self._cutter = concurrent.futures.ThreadPoolExecutor(1, "tickwire-cut")
            loop = asyncio.get_running_loop()
            shut = await loop.run_in_executor(self._cutter, shut_sockets, batch)
            self._stats.connections_closed["stalled"] += shut


class _ChannelzContext:
    """What a channelz read needs of a servicer context: an error ends the read."""

    def set_code(self, code: object) -> None:
        raise LookupError(code)

    def set_details(self, details: str) -> None:  # pragma: no cover - set_code raised first
        pass


class ResetGuard:
    """Cuts connections that reset streams faster than `limit` a second (HTTP/2 rapid reset).

    grpc core counts, per server and per connection, the streams that ended
    in failure, which a client's RST_STREAM is; channelz reads them out.
    Every `every` seconds the guard reads the server-wide count: one small
    read, whatever the number of connections. Only when that count rose by
    more than the budget (`limit` a second, plus `limit` at once) does it
    read every connection's count, twice, `every` apart, and cut the
    connections whose own count rose by more than the budget in between
    (grpc.aio cannot send one of them a GOAWAY).
    """

    def __init__(self, limit: int, stats: ServerStats, every: float = 0.25) -> None:
        self.limit = limit
        self.every = every
        self._stats = stats
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def budget(self) -> float:
        """Failed streams allowed in one look: `limit` a second, plus a burst of `limit`."""
        return self.limit * (1 + self.every)

    def start(self) -> None:
        """Look from a thread of its own: a flood keeps the event loop too busy to look in time."""
        self._thread = threading.Thread(target=self._run, name="rapid-reset guard", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        failed = _calls_failed()
        looked: tuple[float, dict[int, _Counts]] | None = None
        while not self._stop.wait(self.every):
            previous, failed = failed, _calls_failed()
            if failed - previous <= self.budget:
                looked = None  # quiet again: the next high rate starts afresh
                continue
            # Each connection's count: slow under a flood (grpc core answers it between
            # frames), so each look is compared with the previous one, however long ago.
            log.debug(
                "%d calls failed in %g s; reading each connection's", failed - previous, self.every
            )
            counts, now = _connection_counts(), time.monotonic()
            if looked is not None:
                then, before = looked
                allowed = self.limit * (1 + now - then)
                offenders = {
                    c.address
                    for socket_id, c in counts.items()
                    if (b := before.get(socket_id)) is not None and _resetting(b, c, allowed)
                }
                if offenders:
                    self._cut(offenders)
            looked = (now, counts)
            failed = _calls_failed()

    def _cut(self, offenders: set[tuple[str, int]]) -> None:
        shut = shut_sockets(offenders)
        self._stats.connections_closed["rapid_reset"] += shut  # the only writer of this key
        log.warning(
            "closed %d connection(s) resetting more than %d streams a second: %s",
            shut,
            self.limit,
            ", ".join(f"{host}:{port}" for host, port in sorted(offenders)),
        )


def _servers() -> list[channelz_pb2.Server]:
    servers: list[channelz_pb2.Server] = []
    start = 0
    while True:
        page = ChannelzServicer.GetServers(
            channelz_pb2.GetServersRequest(start_server_id=start), _ChannelzContext()
        )
        servers.extend(page.server)
        if page.end or not page.server:
            return servers
        start = page.server[-1].ref.server_id + 1


def _calls_failed() -> int:
    """Calls that ended in failure, on every server of this process."""
    return sum(server.data.calls_failed for server in _servers())


@dataclass(frozen=True, slots=True)
class _Counts:
    """What grpc core has counted on one connection so far."""

    address: tuple[str, int]
    failed: int  # streams that ended in failure: reset by the client, or cancelled
    sent: int  # messages sent


def _resetting(before: _Counts, after: _Counts, allowed: float) -> bool:
    """Streams failed past `allowed` in between, most of them before they were sent anything.

    The second test spares a proxy whose many clients leave at once: their
    streams had been served. Reset streams in a flood never are.
    """
    failed = after.failed - before.failed
    return failed > allowed and failed > after.sent - before.sent


def _connection_counts() -> dict[int, _Counts]:
    """Each TCP connection's peer address and counts, by channelz socket id."""
    counts: dict[int, _Counts] = {}
    for server in _servers():
        start = 0
        while True:
            try:
                page = ChannelzServicer.GetServerSockets(
                    channelz_pb2.GetServerSocketsRequest(
                        server_id=server.ref.server_id, start_socket_id=start
                    ),
                    _ChannelzContext(),
                )
            except LookupError:
                break  # the server stopped meanwhile
            for ref in page.socket_ref:
                address = peer_address(ref.name.rpartition(" ")[2])
                if address is None:
                    continue
                try:
                    socket_data = ChannelzServicer.GetSocket(
                        channelz_pb2.GetSocketRequest(socket_id=ref.socket_id), _ChannelzContext()
                    ).socket.data
                except LookupError:
                    continue  # closed meanwhile
                counts[ref.socket_id] = _Counts(
                    address, socket_data.streams_failed, socket_data.messages_sent
                )
            if page.end or not page.socket_ref:
                break
            start = page.socket_ref[-1].socket_id + 1
    return counts
