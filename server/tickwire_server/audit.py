"""StreamLog: one INFO line when a stream opens and one when it closes, naming who and why.

Lines name the principal, the peer, the tickers held at the end, how long
the stream lasted and why it ended; never a token, at any level.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from tickwire_server.auth import Principal
from tickwire_server.errors import StreamEnded

log = logging.getLogger(__name__)


class StreamLog:
    """The open/close record of one stream; `close` once, whatever ends it."""

    __slots__ = ("method", "principal", "peer", "_started")

    def __init__(self, method: str, principal: Principal, context: Any) -> None:
        self.method = method
        self.principal = principal
        self.peer = context.peer() or "?"
        self._started = time.monotonic()
        log.info("%s opened by %s from %s", method, principal, self.peer)

    def close(self, tickers: int, ended: StreamEnded | None) -> None:
        """Log the end: `ended` is the server's reason, None when the client went away."""
        reason = ended.reason.value if ended is not None else "closed by the client"
        log.info(
            "%s of %s from %s closed after %.1f s with %d tickers: %s",
            self.method,
            self.principal,
            self.peer,
            time.monotonic() - self._started,
            tickers,
            reason,
        )
