"""A fake Massive WebSocket feed on 127.0.0.1: the real status frames and event arrays, with faults.

`ws://127.0.0.1:PORT/stocks`, like the real cluster: the server says
`connected`, expects `{"action":"auth","params":KEY}`, answers `auth_success`
or `auth_failed`, then acknowledges each subscribe/unsubscribe channel with a
`success` status. Every frame is a JSON array of events. One authenticated
connection per key (a second gets `max_connections` and is closed), as on the
real service. Faults: `fail_auth`, `silent` (the feed stops sending; when set
before a connection, even `connected` is never sent), `drop()` (abort every
connection), and raw frames for malformed records. `log` keeps every
connection and action with its arrival time.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from fakes.massive_rest import FAKE_KEY

_LOG = logging.getLogger("fakes.massive_ws")


@dataclass(frozen=True)
class Action:
    """One thing a client did: "connect", "auth", "subscribe", "unsubscribe" (or was refused:
    "max_connections"), or the fake did to it: "drop"."""

    at: float  # event-loop time
    connection: int
    action: str
    params: str = ""

    @property
    def channels(self) -> set[str]:
        return {c for c in self.params.split(",") if c}


@dataclass(eq=False)
class _Connection:
    id: int
    ws: ServerConnection
    authed: bool = False
    subs: set[str] = field(default_factory=set)


class FakeMassiveFeed:
    """The fake feed. `async with FakeMassiveFeed() as feed:` then point `feed.url` at it."""

    def __init__(self, api_key: str = FAKE_KEY) -> None:
        self.api_key = api_key
        self.fail_auth = False
        self.silent = False
        self.log: list[Action] = []
        self._live: set[_Connection] = set()
        self._ids = 0
        self._server: Server | None = None
        self._changed = asyncio.Condition()
        self.url = ""

    async def __aenter__(self) -> FakeMassiveFeed:
        # Its own logger, so that a test can tell the fake's frame dumps (the key
        # arrives in one) from the client's.
        self._server = await serve(self._handle, "127.0.0.1", 0, logger=_LOG)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}"
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    # Controls --------------------------------------------------------------------

    def subscribed(self) -> set[str]:
        """Channels subscribed on the live authenticated connections."""
        return set().union(*(c.subs for c in self._live if c.authed))

    def connections(self) -> list[Action]:
        return [a for a in self.log if a.action == "connect"]

    async def aggregate(self, ticker: str, close: float, **fields: float) -> None:
        """Send a per-second aggregate (`A`) to connections subscribed to it."""
        end = int(time.time() * 1000)
        event = {
            "ev": "A", "sym": ticker, "v": 400, "av": 3_000_000, "op": close * 0.99,
            "vw": close * 0.999, "o": close * 0.998, "c": close, "h": close * 1.001,
            "l": close * 0.997, "a": close * 0.995, "z": 50, "s": end - 1000, "e": end,
        }  # fmt: skip
        await self._send_to(f"A.{ticker}", [{**event, **fields}])

    async def trade(self, ticker: str, price: float, size: int = 100) -> None:
        """Send a trade (`T`) to connections subscribed to it."""
        event = {
            "ev": "T", "sym": ticker, "x": 4, "i": "52983525029461", "z": 3, "p": price,
            "s": size, "c": [12, 41], "t": int(time.time() * 1000), "q": 1_234_567,
        }  # fmt: skip
        await self._send_to(f"T.{ticker}", [event])

    async def send_raw(self, frame: str) -> None:
        """Send `frame` as-is to every authenticated connection."""
        for conn in list(self._live):
            if conn.authed:
                await _send(conn.ws, frame)

    def drop(self) -> None:
        """Abort every connection (the client sees close code 1006); logged as "drop"."""
        now = asyncio.get_running_loop().time()
        for conn in list(self._live):
            self.log.append(Action(now, conn.id, "drop"))
            conn.ws.transport.abort()

    async def wait_for(
        self, predicate: Callable[[list[Action]], bool], wait: float = 5.0
    ) -> list[Action]:
        """Wait until `predicate(log)` holds; return the log so far."""
        async with asyncio.timeout(wait), self._changed:
            await self._changed.wait_for(lambda: predicate(self.log))
        return list(self.log)

    async def wait_subscribed(self, channels: set[str], wait: float = 5.0) -> None:
        """Wait until exactly `channels` are subscribed on a live connection."""
        await self.wait_for(lambda _: self.subscribed() == channels, wait)

    # Protocol --------------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        self._ids += 1
        conn = _Connection(self._ids, ws)
        await self._record(conn, "connect")
        if ws.request is None or ws.request.path != "/stocks":
            await ws.close(1008, "unknown cluster")
            return
        self._live.add(conn)
        try:
            if self.silent:
                await ws.wait_closed()
                return
            await _send(ws, _status("connected", "Connected Successfully"))
            auth = json.loads(await ws.recv())
            await self._record(conn, "auth")
            if self.fail_auth or auth.get("params") != self.api_key:
                await _send(ws, _status("auth_failed", "authentication failed"))
                await ws.close(1008, "authentication failed")
                return
            if any(c.authed for c in self._live):
                await self._record(conn, "max_connections")
                await _send(ws, _status("max_connections", "Maximum number of connections"))
                await ws.close(1008, "max connections")
                return
            conn.authed = True
            await _send(ws, _status("auth_success", "authenticated"))
            async for raw in ws:
                message = json.loads(raw)
                action, params = message.get("action", ""), message.get("params", "")
                await self._act(conn, action, params)
        except ConnectionClosed:
            pass
        finally:
            self._live.discard(conn)
            async with self._changed:
                self._changed.notify_all()

    async def _act(self, conn: _Connection, action: str, params: str) -> None:
        channels = [c for c in params.split(",") if c]
        if action == "subscribe":
            conn.subs.update(channels)
            text = "subscribed to: {}"
        elif action == "unsubscribe":
            conn.subs.difference_update(channels)
            text = "unsubscribed to: {}"
        else:
            return
        await self._record(conn, action, params)
        if not self.silent:
            await _send(conn.ws, [_event("success", text.format(c)) for c in channels])

    async def _send_to(self, channel: str, events: list[dict[str, object]]) -> None:
        if self.silent:
            return
        wildcard = channel.split(".")[0] + ".*"
        for conn in list(self._live):
            if conn.authed and (channel in conn.subs or wildcard in conn.subs):
                await _send(conn.ws, events)

    async def _record(self, conn: _Connection, action: str, params: str = "") -> None:
        async with self._changed:
            now = asyncio.get_running_loop().time()
            self.log.append(Action(now, conn.id, action, params))
            self._changed.notify_all()


def _event(status: str, message: str) -> dict[str, object]:
    return {"ev": "status", "status": status, "message": message}


def _status(status: str, message: str) -> list[dict[str, object]]:
    return [_event(status, message)]


async def _send(ws: ServerConnection, frame: object) -> None:
    try:
        await ws.send(frame if isinstance(frame, str) else json.dumps(frame))
    except ConnectionClosed:
        pass
