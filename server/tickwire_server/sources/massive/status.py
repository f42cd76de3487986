"""Market status: poll `GET /v1/marketstatus/now` and report changes of MarketState."""

from __future__ import annotations

from collections.abc import Callable

from tickwire_server.domain import MarketState
from tickwire_server.sources.massive.api import RestApi
from tickwire_server.sources.massive.breaker import RetryDelays
from tickwire_server.sources.massive.feed import Outlet, Part, poll_forever


class MarketStatusPoller:
    """Asks Massive whether the market is open, closed or in extended hours, on a cadence.

    Every answer goes to `on_market` (the source pushes a status only when it
    changed); failures back off like any other Massive call.
    """

    def __init__(
        self,
        api: RestApi,
        outlet: Outlet,
        on_market: Callable[[MarketState], None],
        *,
        interval: float,
        backoff: RetryDelays,
    ) -> None:
        self._api = api
        self._outlet = outlet
        self._on_market = on_market
        self._interval = interval
        self._backoff = backoff

    async def run(self, first_delay: float = 0.0) -> None:
        """Poll until cancelled, the first time after `first_delay` seconds."""
        await poll_forever(
            Part.MARKET,
            self.poll_once,
            interval=self._interval,
            backoff=self._backoff,
            outlet=self._outlet,
            first_delay=first_delay,
        )

    async def poll_once(self) -> None:
        """Ask once and report the answer.

        Raises:
            UpstreamError: the call failed (already translated).
        """
        self._on_market(await self._api.market_status())
