"""Link: one NATS connection that comes back by itself, and the key-value buckets on it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable

import nats
import nats.errors
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.kv import KeyValue

from tickwire_server.bus.wire import BUCKETS
from tickwire_server.tasks import cancel

log = logging.getLogger(__name__)

# How often the client pings, and how many unanswered pings make a dead link:
# a partition is noticed in about PING_INTERVAL * (MAX_PINGS + 1) seconds.
PING_INTERVAL = 1
MAX_PINGS = 2
RECONNECT_WAIT = 0.5
CONNECT_TIMEOUT = 2


class Link:
    """A NATS connection for one tickwire process.

    `start` returns once connected, or after `first_wait` seconds, still
    trying in the background: an edge started before NATS serves (NOT
    SERVING) and joins when it can. Once connected, the client reconnects
    by itself for ever, with backoff; `on_up` callbacks run after every
    (re)connect, `on_down` after every loss. The cluster's buckets
    (`wire.BUCKETS`, the latest value of each key only) are memory-backed
    (they hold only what the ingest can say again) and made again after a
    NATS restart, before `on_up` runs.

    Args:
        urls: NATS server URLs.
        name: this process's name, shown in NATS monitoring.
    """

    def __init__(self, urls: list[str], name: str) -> None:
        self.urls = urls
        self.name = name
        self.nc: Client | None = None
        self.js: JetStreamContext | None = None
        self.kv: dict[str, KeyValue] = {}
        self._up: list[Callable[[], Awaitable[None]]] = []
        self._down: list[Callable[[], None]] = []
        self._connected = asyncio.Event()
        self._down_since: float | None = time.monotonic()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.reconnects = 0
        self.slow_consumer_drops = 0  # messages dropped: this process read too slowly

    def on_up(self, callback: Callable[[], Awaitable[None]]) -> None:
        self._up.append(callback)

    def on_down(self, callback: Callable[[], None]) -> None:
        self._down.append(callback)

    @property
    def connected(self) -> bool:
        return self.nc is not None and self.nc.is_connected and self._down_since is None

    def down_for(self) -> float:
        """Seconds since the link was lost (0 while connected)."""
        since = self._down_since
        return 0.0 if since is None else time.monotonic() - since

    async def start(self, first_wait: float = 5.0) -> bool:
        """Connect (or keep trying in the background); True when connected within `first_wait`.

        Connected means the `on_up` callbacks have run too (their subscriptions are made).
        """
        if self._task is None:
            self._task = asyncio.create_task(self._connect_loop(), name=f"nats-{self.name}")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connected.wait(), first_wait)
        return self._connected.is_set()

    async def values(self, bucket: str, keys: Iterable[str] | None = None) -> dict[str, bytes]:
        """What `bucket` holds under `keys` (None: every key); a key with nothing is left out.

        Nothing (no link, no bucket yet, an empty one) is an empty answer:
        the callers go on from what comes live.
        """
        kv = self.kv.get(bucket)
        if kv is None or not self.connected:
            return {}
        if keys is None:
            try:
                keys = await kv.keys()
            except Exception:  # nats-py raises for a bucket with no keys
                return {}
        out: dict[str, bytes] = {}
        for key in keys:
            try:
                entry = await kv.get(key)
            except Exception:  # not there (yet), or deleted
                continue
            if entry.value:
                out[key] = entry.value
        return out

    async def close(self) -> None:
        """Drain what is queued and close. Idempotent."""
        self._closing = True
        task, self._task = self._task, None
        await cancel(task)
        nc, self.nc = self.nc, None
        if nc is not None and not nc.is_closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(nc.flush(), 1.0)
            with contextlib.suppress(Exception):
                await nc.close()

    async def _connect_loop(self) -> None:
        delay = RECONNECT_WAIT
        while not self._closing:
            try:
                self.nc = await nats.connect(
                    self.urls,
                    name=self.name,
                    allow_reconnect=True,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=RECONNECT_WAIT,
                    connect_timeout=CONNECT_TIMEOUT,
                    ping_interval=PING_INTERVAL,
                    max_outstanding_pings=MAX_PINGS,
                    disconnected_cb=self._disconnected,
                    reconnected_cb=self._reconnected,
                    error_cb=self._error,
                )
            except Exception as exc:  # NoServersError, OSError, TimeoutError
                log.warning("bus %s unreachable (%s); retrying in %.1f s", self.urls, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            self.js = self.nc.jetstream()
            await self._came_up()
            return

    async def _came_up(self) -> None:
        try:
            await self._make_buckets()
        except Exception:
            log.exception("bus: cannot make the key-value buckets (is JetStream on? -js)")
        self._down_since = None
        assert self.nc is not None
        log.info(
            "bus connected to %s", self.nc.connected_url.netloc if self.nc.connected_url else "?"
        )
        for callback in self._up:
            try:
                await callback()
            except Exception:
                log.exception("bus: after connecting")
        self._connected.set()  # `start` returns with the subscriptions made

    async def _make_buckets(self) -> None:
        assert self.js is not None
        for bucket in BUCKETS:
            config = KeyValueConfig(bucket=bucket, history=1, storage=StorageType.MEMORY)
            try:
                self.kv[bucket] = await self.js.create_key_value(config)
            except Exception:  # made by another process with other settings: use it
                self.kv[bucket] = await self.js.key_value(bucket)

    async def _disconnected(self) -> None:
        if self._down_since is None:
            self._down_since = time.monotonic()
            if not self._closing:
                log.warning("bus connection lost; reconnecting")
            for callback in self._down:
                callback()

    async def _reconnected(self) -> None:
        self.reconnects += 1
        await self._came_up()

    async def _error(self, exc: Exception) -> None:
        if isinstance(exc, nats.errors.SlowConsumerError):
            self.slow_consumer_drops += 1
            if self.slow_consumer_drops in (1, 10, 100) or self.slow_consumer_drops % 10_000 == 0:
                log.warning(
                    "bus: %d messages dropped so far: this process reads %s too slowly",
                    self.slow_consumer_drops, exc.subject,
                )  # fmt: skip
        elif not self._closing:
            log.debug("bus: %s", exc)
