"""A raw HTTP/2 client (h2) for what no gRPC library does: stall below gRPC, reset in bulk.

`RawClient` speaks just enough gRPC to open calls. It reads the socket and
answers pings and settings as any HTTP/2 peer must, but grants flow-control
window only when told to, so a stream it opens can be stalled at the HTTP/2
layer (a zero or used-up window) or at TCP (`stop_reading`).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import h2.config
import h2.connection
import h2.events
import h2.settings
from google.protobuf.message import Message


def grpc_body(message: Message) -> bytes:
    """A gRPC length-prefixed message, uncompressed."""
    raw = message.SerializeToString()
    return b"\x00" + len(raw).to_bytes(4, "big") + raw


@dataclass
class StreamSeen:
    """What one stream received: whether data arrives, and how it ended, if it did."""

    status: str | None = None  # grpc-status of the trailers
    reset: bool = False  # RST_STREAM
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)  # set by each DATA frame


class RawClient:
    """One HTTP/2 connection whose flow control the test decides."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer
        self.conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding=None)
        )
        self.streams: dict[int, StreamSeen] = {}
        self.reading: set[int] = set()  # streams whose data is granted back as it arrives
        self.closed = asyncio.Event()  # the server closed or reset the connection
        self.ready = asyncio.Event()  # the server's SETTINGS arrived: it holds the connection
        self._pump: asyncio.Task[None] | None = None

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(cls, target: str, *, window: int | None = None) -> AsyncIterator[RawClient]:
        """Connect to `target`; `window` sets SETTINGS_INITIAL_WINDOW_SIZE (None: the default)."""
        host, _, port = target.rpartition(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        client = cls(reader, writer)
        client.conn.initiate_connection()
        if window is not None:
            client.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window})
        client._flush()
        client._pump = asyncio.create_task(client._read())
        try:
            yield client
        finally:
            client._pump.cancel()
            writer.transport.abort()

    def call(self, method: str, request: Message, *, end: bool = True, read: bool = False) -> int:
        """Open a call of `method` ("/tickwire.v1.MarketData/StreamPrices") with one request.

        With `read` its data is granted back as it arrives, as a healthy client would.
        """
        stream = self.conn.get_next_available_stream_id()
        self.conn.send_headers(stream, _headers(method))
        self.conn.send_data(stream, grpc_body(request), end_stream=end)
        self.streams[stream] = StreamSeen()
        if read:
            self.reading.add(stream)
            self.conn.increment_flow_control_window(1 << 20, stream_id=stream)
        self._flush()
        return stream

    async def flood(self, method: str, count: int) -> int:
        """Open and at once reset up to `count` calls (HTTP/2 rapid reset); how many were sent.

        Stops early once the server closes the connection.
        """
        headers = _headers(method)
        sent = 0
        try:
            while sent < count and not self.closed.is_set():
                for _ in range(min(100, count - sent)):
                    stream = self.conn.get_next_available_stream_id()
                    self.conn.send_headers(stream, headers)
                    self.conn.reset_stream(stream, error_code=0x8)
                    sent += 1
                self._flush()
                await self._writer.drain()
                await asyncio.sleep(0)  # let the reader answer settings and pings, as peers do
        except (ConnectionError, h2.exceptions.ProtocolError):
            pass
        return sent

    def stop_reading(self) -> None:
        """Stall at TCP: read nothing more from the socket, so its buffers fill."""
        transport = self._transport()
        transport.pause_reading()
        sock = transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)

    def resume_reading(self) -> None:
        self._transport().resume_reading()

    def _transport(self) -> asyncio.Transport:
        transport = self._writer.transport
        assert isinstance(transport, asyncio.Transport)
        return transport

    def _flush(self) -> None:
        if out := self.conn.data_to_send():
            self._writer.write(out)

    async def _read(self) -> None:
        try:
            while data := await self._reader.read(65536):
                for event in self.conn.receive_data(data):
                    self._on(event)
                self._flush()
        except (ConnectionError, h2.exceptions.ProtocolError):
            pass
        finally:
            self.closed.set()
            for seen in self.streams.values():
                seen.ended.set()

    def _on(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.RemoteSettingsChanged):
            self.ready.set()
            return
        seen = self.streams.get(getattr(event, "stream_id", 0))
        if seen is None:
            return
        if isinstance(event, h2.events.DataReceived):
            seen.arrived.set()
            if event.stream_id in self.reading:
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            # otherwise no window is granted back: that is the stall
        elif isinstance(event, h2.events.TrailersReceived | h2.events.ResponseReceived):
            headers = dict(event.headers)
            if b"grpc-status" in headers:
                seen.status = headers[b"grpc-status"].decode()
                seen.ended.set()
        elif isinstance(event, h2.events.StreamReset):
            seen.reset = True
            seen.ended.set()


def _headers(method: str) -> list[tuple[str, str]]:
    return [
        (":method", "POST"),
        (":scheme", "http"),
        (":path", method),
        (":authority", "tickwire"),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
    ]
