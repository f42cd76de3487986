"""Leadership: which ingest talks to the upstream, held as a lease in a NATS key-value bucket.

The leader renews the key `leader` every third of the lease with a
compare-and-set on its last revision. A standby watches the revision; when
it has not moved for a whole lease (measured on the standby's own clock,
so the two machines' clocks never meet), the standby takes the key with a
compare-and-set on the revision it saw, and only one standby can win. A
leader stepping down deletes the key, so a standby takes over at once. A
leader that cannot renew for a lease (cut off from NATS) steps down on its
own, before anyone else may have taken over, so two leaders never publish
at once for longer than a renewal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError

from tickwire_server.bus.link import Link
from tickwire_server.bus.wire import LEADER_BUCKET, LEADER_KEY
from tickwire_server.tasks import cancel

log = logging.getLogger(__name__)


class Leadership:
    """Holds or waits for the lead; calls `on_gain` and `on_loss` as it changes hands.

    Args:
        link: the NATS connection (with the leader bucket).
        name: this ingest's name, the key's value while it leads.
        lease: seconds a silent leader keeps the lead.
    """

    def __init__(
        self,
        link: Link,
        name: str,
        lease: float,
        on_gain: Callable[[], Awaitable[None]],
        on_loss: Callable[[], Awaitable[None]],
    ) -> None:
        self.link = link
        self.name = name
        self.lease = lease
        self.leader = False
        self.holder = ""  # who leads, as last seen
        self._on_gain = on_gain
        self._on_loss = on_loss
        self._revision = 0  # ours while leading, else the last one seen
        self._seen_at = time.monotonic()
        self._renewed_at = 0.0
        self._task: asyncio.Task[None] | None = None
        self.changes = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="leadership")

    async def stop(self) -> None:
        """Stop contending; a leader hands the lead over by deleting the key."""
        task, self._task = self._task, None
        await cancel(task)
        if self.leader:
            kv = self.link.kv.get(LEADER_BUCKET)
            if kv is not None and self.link.connected:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(kv.delete(LEADER_KEY, last=self._revision), 1.0)
            await self._lose("stopping")

    async def _run(self) -> None:
        while True:
            try:
                await self._turn()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.debug("leadership: %s", exc)
            await asyncio.sleep(self.lease / 3 if self.leader else self.lease / 10)

    async def _turn(self) -> None:
        now = time.monotonic()
        if self.leader and now - self._renewed_at > self.lease:
            await self._lose(f"could not renew the lead for {self.lease:g} s")
            return
        kv = self.link.kv.get(LEADER_BUCKET)
        if kv is None or not self.link.connected:
            return
        value = self.name.encode()
        if self.leader:
            try:
                self._revision = await kv.update(LEADER_KEY, value, last=self._revision)
            except KeyWrongLastSequenceError:
                # The bucket was made anew (a NATS restart), or someone took the lead.
                try:
                    entry = await kv.get(LEADER_KEY)
                except KeyNotFoundError:
                    self._revision = await kv.create(LEADER_KEY, value)
                else:
                    self.holder = (entry.value or b"").decode()
                    await self._lose(f"{self.holder or 'another ingest'} holds the lead")
                    return
            self._renewed_at = time.monotonic()
            return
        try:
            entry = await kv.get(LEADER_KEY)
        except KeyNotFoundError:  # nobody leads (or the leader stepped down)
            await self._take(lambda: kv.create(LEADER_KEY, value))
            return
        self.holder = (entry.value or b"").decode()
        revision = entry.revision or 0
        if revision != self._revision:
            self._revision, self._seen_at = revision, now
        elif now - self._seen_at >= self.lease:
            log.warning(
                "ingest %s silent for %.1f s: taking the lead", self.holder, now - self._seen_at
            )
            await self._take(lambda: kv.update(LEADER_KEY, value, last=revision))

    async def _take(self, write: Callable[[], Awaitable[int]]) -> None:
        try:
            self._revision = await write()
        except KeyWrongLastSequenceError:
            return  # another standby was first
        self._renewed_at = time.monotonic()
        self.leader, self.holder = True, self.name
        self.changes += 1
        log.info("ingest %s leads", self.name)
        await self._on_gain()

    async def _lose(self, why: str) -> None:
        if not self.leader:
            return
        self.leader = False
        self._seen_at = time.monotonic()
        self.changes += 1
        log.warning("ingest %s no longer leads: %s", self.name, why)
        await self._on_loss()
