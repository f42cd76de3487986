"""Recordings: every accepted update, as the contract's own messages, length-delimited.

A recording is a sequence of `SubscribeResponse` messages, each preceded
by its length as a varint (protobuf's "delimited" framing, which every
protobuf library reads): a `prices` batch per accepted publish (LIVE
updates) or per stale mark (DATA_STATE_STALE), and a `market_status` per
status change. Updates carry their own timestamps and statuses their
`server_time`, so a replay knows when each came.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from google.protobuf.message import DecodeError

from tickwire.v1 import market_data_pb2 as pb
from tickwire_server import codec
from tickwire_server.codec import CachedPrice
from tickwire_server.domain import SourceStatus
from tickwire_server.errors import ConfigError

log = logging.getLogger(__name__)

BUFFER = 1 << 20  # bytes written per system call at most, and lost at most in a crash
MAX_MESSAGE = 64 << 20  # a length past this is a corrupt file, not a message


class Recorder:
    """Writes what the hub accepts to a recording file (see the module).

    Every method runs on the event loop. Writes are buffered; `flush` pushes
    them to the file (the server does so every second) and `close` ends it.
    """

    def __init__(self, path: Path) -> None:
        try:
            self._file: BinaryIO = open(path, "wb", buffering=BUFFER)  # noqa: SIM115
        except OSError as exc:
            raise ConfigError(f"cannot record to {path}: {exc}") from exc
        self.path = path
        self.messages = 0

    def prices(self, entries: Iterable[CachedPrice]) -> None:
        self._write(codec.prices_frame(entry.element for entry in entries))

    def status(self, status: SourceStatus) -> None:
        self._write(codec.market_status_frame(status))

    def flush(self) -> None:
        if not self._file.closed:
            self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()
            log.info("recorded %d messages to %s", self.messages, self.path)

    def _write(self, frame: bytes) -> None:
        if self._file.closed:
            return
        self._file.write(codec.varint(len(frame)))
        self._file.write(frame)
        self.messages += 1


def read(path: Path) -> Iterator[pb.SubscribeResponse]:
    """The messages of the recording at `path`, one at a time (the file is never all read).

    Raises:
        ConfigError: the file cannot be opened, or a message is cut short or does
            not parse (named by its number and byte offset).
    """
    try:
        file = open(path, "rb", buffering=BUFFER)  # noqa: SIM115
    except OSError as exc:
        raise ConfigError(f"cannot read the recording {path}: {exc}") from exc
    with file:
        number = 0
        while True:
            offset = file.tell()
            length = _varint(file)
            if length is None:
                return
            number += 1
            where = f"{path}: message {number} at byte {offset}"
            if length > MAX_MESSAGE:
                raise ConfigError(f"{where} claims {length:,} bytes: not a tickwire recording")
            body = file.read(length)
            if len(body) != length:
                raise ConfigError(f"{where} is cut short ({len(body)} of {length} bytes)")
            try:
                yield pb.SubscribeResponse.FromString(body)
            except DecodeError as exc:
                raise ConfigError(f"{where} does not parse: {exc}") from exc


def _varint(file: io.BufferedReader | BinaryIO) -> int | None:
    """A varint from `file`; None at a clean end of file."""
    value = shift = 0
    while True:
        byte = file.read(1)
        if not byte:
            if shift:
                raise ConfigError("the recording ends inside a message length")
            return None
        value |= (byte[0] & 0x7F) << shift
        if not byte[0] & 0x80:
            return value
        shift += 7
        if shift > 63:
            raise ConfigError("a message length runs past 64 bits: not a tickwire recording")
