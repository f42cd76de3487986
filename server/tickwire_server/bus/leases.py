"""Leases: which tickers each edge wants, each claim said again within its lease or dropped.

The ingest keeps `Leases` for the edges' prices (keyed by edge) and for
their candles (keyed by edge and interval). A claim is the whole set its
key wants now; an empty one lets go. Only while active (this ingest
leads) is a change passed on, as the tickers added and removed; becoming
active passes every claim on, and ceasing takes every one back. An edge
keeps its claims alive with `renewing`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from tickwire_server.bus.link import Link
from tickwire_server.bus.wire import INTEREST_BUCKET

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)
Change = Callable[[K, set[str], set[str]], None]  # (key, added, removed)


@dataclass(slots=True)
class _Claim:
    tickers: set[str] = field(default_factory=set)
    seen: float = 0.0


class Leases(Generic[K]):
    """Claims of tickers by key, leased (see the module's docstring).

    Args:
        lease: seconds a claim outlives its last renewal.
        change: called with (key, added, removed) while active.
        what: how the logs name a key ("edge", "candle interest").
    """

    def __init__(self, lease: float, change: Change[K], what: str) -> None:
        self.lease = lease
        self.active = False
        self._change = change
        self._what = what
        self._claims: dict[K, _Claim] = {}

    def claims(self) -> dict[K, set[str]]:
        """Every key's tickers now."""
        return {key: set(claim.tickers) for key, claim in self._claims.items()}

    def want(self, key: K, tickers: set[str]) -> None:
        """`key` wants `tickers` now (empty: nothing any more); renews its lease."""
        claim = self._claims.get(key)
        if claim is None:
            if not tickers:
                return
            claim = self._claims[key] = _Claim()
            log.info("%s %s joined with %d tickers", self._what, key, len(tickers))
        claim.seen = time.monotonic()
        if self.active:
            self._change(key, tickers - claim.tickers, claim.tickers - tickers)
        claim.tickers = tickers
        if not tickers:
            del self._claims[key]
            log.info("%s %s left", self._what, key)

    def activate(self) -> None:
        """Pass every claim on (this ingest leads now)."""
        if not self.active:
            self.active = True
            for key, claim in self._claims.items():
                self._change(key, set(claim.tickers), set())

    def deactivate(self) -> None:
        """Take every claim back (this ingest no longer leads)."""
        if self.active:
            for key, claim in self._claims.items():
                self._change(key, set(), set(claim.tickers))
            self.active = False

    async def expire(self) -> None:
        """Drop the claims not renewed within the lease, for as long as it runs."""
        while True:
            await asyncio.sleep(max(0.1, self.lease / 4))
            horizon = time.monotonic() - self.lease
            for key, claim in list(self._claims.items()):
                if claim.seen < horizon:
                    log.warning(
                        "%s %s silent for %.0f s: releasing its %d tickers",
                        self._what, key, self.lease, len(claim.tickers),
                    )  # fmt: skip
                    self.want(key, set())


async def renewing(
    link: Link, changed: asyncio.Event, lease: float, say: Callable[[bool], Awaitable[None]]
) -> None:
    """An edge's side: `say(renew)` on every change, and with `renew` within a third of the lease.

    Nothing is said while the link is down (the next connection says it
    all); a failure is tried again shortly.
    """
    last = 0.0
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(changed.wait(), lease / 3)
        changed.clear()
        if not link.connected:
            continue
        now = time.monotonic()
        renew = now - last >= lease / 3
        try:
            await say(renew)
        except Exception as exc:
            log.debug("bus: %s", exc)
            changed.set()
            await asyncio.sleep(0.2)
            continue
        if renew:
            last = now


async def claim(link: Link, subject: str, key: str, data: bytes) -> None:
    """Say a claim to the leader (`subject`) and keep it in the interest bucket (`key`)."""
    nc = link.nc
    assert nc is not None
    await nc.publish(subject, data)
    await nc.publish(f"$KV.{INTEREST_BUCKET}.{key}", data)
