"""REST mode: poll the all-tickers snapshot for exactly the wanted tickers."""

from __future__ import annotations

import logging

from tickwire_server.sources.massive.api import RestApi
from tickwire_server.sources.massive.breaker import RetryDelays
from tickwire_server.sources.massive.feed import Outlet, Part, poll_forever

log = logging.getLogger(__name__)


class SnapshotPoller:
    """Fetches `GET /v2/snapshot/locale/us/markets/stocks/tickers?tickers=…` on a cadence.

    Each poll names exactly the tickers the outlet wants (in calls of at most
    `wire.SNAPSHOT_MAX_TICKERS`, merged into one answer). Quotes go to the
    outlet; a snapshot without a usable price is skipped and counted; tickers
    the answer leaves out are rejected as unknown, unless the answer holds no
    ticker at all (Massive clears snapshots overnight, and an empty answer must
    not reject the whole universe). The test is on the merged answer, so a call
    whose tickers are all unknown still rejects them.
    """

    def __init__(self, api: RestApi, outlet: Outlet, *, interval: float, backoff: RetryDelays):
        self._api = api
        self._outlet = outlet
        self._interval = interval
        self._backoff = backoff

    async def run(self) -> None:
        """Poll until cancelled; failures back off (see `poll_forever`)."""
        await poll_forever(
            Part.PRICES,
            self.poll_once,
            interval=self._interval,
            backoff=self._backoff,
            outlet=self._outlet,
        )

    async def poll_once(self) -> None:
        """One snapshot of the wanted tickers, handed to the outlet.

        Raises:
            UpstreamError: the call failed (already translated).
        """
        tickers = self._outlet.wanted()
        if not tickers:
            return
        answer = await self._api.snapshot(tickers)
        if answer.malformed:
            log.warning("Massive snapshot: skipped %d malformed record(s)", answer.malformed)
        if answer.no_price:
            log.debug("Massive snapshot: %d ticker(s) without a last trade", answer.no_price)
        if answer.malformed or answer.no_price:
            self._outlet.count_skipped(answer.malformed + answer.no_price)
        self._outlet.offer(answer.quotes)
        missing = [t for t in tickers if t not in answer.returned]
        if missing and answer.returned:
            self._outlet.reject(missing)
