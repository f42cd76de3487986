"""StreamLog: one INFO line when a stream opens and one when it closes, naming who and why.

It also counts the stream open, then ended by reason, in the server's stats.

Lines name the principal, the peer, the tickers held at the end, how long
the stream lasted and why it ended; never a token, at any level.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from tickwire_server.auth import Principal
from tickwire_server.errors import EndReason, StreamEnded
from tickwire_server.stats import ServerStats

log = logging.getLogger(__name__)

_BEHIND = frozenset({EndReason.LAGGING, EndReason.STALLED})


class StreamLog:
    """The open/close record of one stream; `close` once, whatever ends it."""

    __slots__ = ("method", "principal", "peer", "_started", "_stats")

    def __init__(self, method: str, principal: Principal, context: Any, stats: ServerStats) -> None:
        self.method = method
        self.principal = principal
        self.peer = context.peer() or "?"
        self._started = time.monotonic()
        self._stats = stats
        stats.opened(method)
        log.info("%s opened by %s from %s", method, principal, self.peer)

    def close(self, tickers: int, ended: StreamEnded | None) -> None:
        """Log the end: `ended` is the server's reason, None when the client went away.

        One line whatever the reason; a warning when the client fell behind.
        """
        self._stats.ended(self.method, ended.reason if ended is not None else None)
        if ended is None:
            reason = "closed by the client"
        else:
            reason = f"{ended.reason.value}: {ended.message}"
        level = logging.WARNING if ended is not None and ended.reason in _BEHIND else logging.INFO
        log.log(
            level,
            "%s of %s from %s closed after %.1f s with %d tickers, %s",
            self.method,
            self.principal,
            self.peer,
            time.monotonic() - self._started,
            tickers,
            reason,
        )
