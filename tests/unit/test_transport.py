"""Finding and cutting a connection by its peer's address, and when a connection is cut."""

from __future__ import annotations

import socket

import pytest

from tickwire_server import transport
from tickwire_server.stats import ServerStats
from tickwire_server.transport import Connections, peer_address, shut_sockets


@pytest.mark.parametrize(
    ("peer", "address"),
    [
        ("ipv4:127.0.0.1:5000", ("127.0.0.1", 5000)),
        ("ipv6:[::1]:5001", ("::1", 5001)),
        ("ipv6:%5B::1%5D:5002", ("::1", 5002)),
        ("ipv6:[::ffff:127.0.0.1]:5003", ("127.0.0.1", 5003)),
        ("unix:", None),
        ("unix:/tmp/tickwire.sock", None),
        ("ipv4:not-an-address:1", None),
    ],
)
def test_peer_strings_name_tcp_addresses(peer: str, address: tuple[str, int] | None) -> None:
    assert peer_address(peer) == address


def test_shut_sockets_ends_the_connection_from_that_peer_only() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        cut = socket.create_connection(("127.0.0.1", port))
        kept = socket.create_connection(("127.0.0.1", port))
        cut_far, _ = listener.accept()
        kept_far, _ = listener.accept()
        with cut, kept, cut_far, kept_far:
            assert shut_sockets({("127.0.0.1", cut.getsockname()[1])}) == 1
            assert cut_far.recv(1) == b""  # its reads end...
            cut.settimeout(5)
            assert cut.recv(1) == b""  # ...and the client is told at once
            kept_far.sendall(b"x")
            kept.settimeout(5)
            assert kept.recv(1) == b"x"


def test_shut_sockets_with_a_local_port_leaves_other_ends_of_that_number_alone() -> None:
    with (
        socket.create_server(("127.0.0.1", 0)) as listener,
        socket.create_server(("127.0.0.1", 0)) as other,
    ):
        port = listener.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        server_side, _ = listener.accept()
        # A client socket in this process whose far end has the number of the
        # connection to cut: another server's port, say, that a cut must not touch.
        bystander = socket.create_connection(("127.0.0.1", other.getsockname()[1]))
        bystander_far, _ = other.accept()
        with client, server_side, bystander, bystander_far:
            wanted = {("127.0.0.1", client.getsockname()[1]), ("127.0.0.1", other.getsockname()[1])}
            assert shut_sockets(wanted, local_port=port) == 1  # only the server's own socket
            client.settimeout(5)
            assert client.recv(1) == b""
            bystander_far.sendall(b"x")
            bystander.settimeout(5)
            assert bystander.recv(1) == b"x"


@pytest.fixture
def shut(monkeypatch: pytest.MonkeyPatch) -> list[set[tuple[str, int]]]:
    """The address batches `Connections` asks to cut; no socket is touched."""
    batches: list[set[tuple[str, int]]] = []

    def shut_sockets(batch: set[tuple[str, int]], local_port: int | None = None) -> int:
        batches.append(batch)
        return len(batch)

    monkeypatch.setattr(transport, "shut_sockets", shut_sockets)
    return batches


async def test_a_connection_is_cut_only_once_every_stream_on_it_stalled(
    shut: list[set[tuple[str, int]]],
) -> None:
    peer, other = "ipv4:127.0.0.1:6000", "ipv4:127.0.0.1:6001"
    stats = ServerStats()
    connections = Connections(stats)
    for p in (peer, peer, other):
        connections.opened(p)
    assert not connections.stalled(peer)  # a healthy stream shares the connection
    await connections.cut()
    assert shut == []
    assert connections.stalled(other)
    connections.closed(peer)  # the healthy one ends: what is left has all stalled
    await connections.cut()
    assert shut == [{("127.0.0.1", 6001), ("127.0.0.1", 6000)}]
    assert stats.connections_closed["stalled"] == 2
    assert not connections.stalled("unix:")  # no address to cut


async def test_a_connection_resetting_more_than_its_limit_in_a_second_is_cut(
    shut: list[set[tuple[str, int]]],
) -> None:
    stats = ServerStats()
    connections = Connections(stats, max_resets=3)
    peer, served = "ipv4:127.0.0.1:7000", "ipv4:127.0.0.1:7001"
    for _ in range(3):
        for p in (peer, served):
            connections.opened(p)
        connections.closed(peer, reset=True)
        connections.closed(served)  # ended after it was sent something: not a reset
    await connections.cut()
    assert shut == []  # at the limit, not past it
    connections.opened(peer)
    connections.closed(peer, reset=True)
    await connections.cut()
    assert shut == [{("127.0.0.1", 7000)}]
    assert stats.connections_closed["rapid_reset"] == 1
