"""What a Massive feed reports to its source (`Outlet`), and the shared poll-and-back-off loop."""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from tickwire_server.domain import Quote
from tickwire_server.errors import Unavailable, UpstreamError
from tickwire_server.sources.massive.breaker import RetryDelays

log = logging.getLogger(__name__)


class Part(enum.Enum):
    """The independently failing parts of the Massive source."""

    PRICES = "prices"
    MARKET = "market status"


class Outlet(Protocol):
    """The source as its feeds see it. Called on the event loop."""

    def wanted(self) -> list[str]:
        """The tickers to fetch now (subscribed plus defaults), sorted."""

    def offer(self, quotes: Sequence[Quote]) -> None:
        """Fresh quotes from the upstream (older or repeated ones are dropped)."""

    def reject(self, tickers: Sequence[str]) -> None:
        """Tickers the upstream does not know."""

    def count_skipped(self, records: int) -> None:
        """Upstream records skipped as malformed or without a price."""

    def succeeded(self, part: Part) -> None:
        """`part` works (again)."""

    def failed(self, part: Part, error: UpstreamError, delay: float, failures: int) -> None:
        """`part` failed `failures` times in a row; the next try is in `delay` seconds."""


async def poll_forever(
    part: Part,
    step: Callable[[], Awaitable[None]],
    *,
    interval: float,
    backoff: RetryDelays,
    outlet: Outlet,
    first_delay: float = 0.0,
) -> None:
    """Run `step` every `interval` seconds; after a failure wait a backoff delay instead.

    The delay honours the error's `retry_after` (Retry-After, or an open
    circuit's cool-down). An unexpected exception is logged and treated as an
    outage: the loop never dies of one.
    """
    failures = 0
    await asyncio.sleep(first_delay)
    while True:
        error: UpstreamError | None = None
        try:
            await step()
        except UpstreamError as exc:
            error = exc
        except Exception as exc:
            log.exception("Massive %s poll failed unexpectedly", part.value)
            error = Unavailable(f"internal error ({type(exc).__name__})")
        if error is None:
            failures = 0
            outlet.succeeded(part)
            await asyncio.sleep(interval)
            continue
        failures += 1
        delay = max(backoff.delay(failures - 1), error.retry_after or 0.0)
        outlet.failed(part, error, delay, failures)
        await asyncio.sleep(delay)
