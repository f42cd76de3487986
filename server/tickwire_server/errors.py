"""tickwire's exceptions.

    TickwireError            base of everything raised on purpose
    ├── ConfigError          settings that cannot work (bad value, missing key)
    └── StreamEnded          a stream must end; `reason` says why
        reasons: LAGGING     the client stayed behind past the limit
                 OVERFLOW    the client sent requests faster than it read answers
                 BAD_REQUEST a request could not be parsed
                 SHUTDOWN    the server is stopping

Expected failures (a bad ticker, an upstream outage) are results or states,
not exceptions; these are for conditions that end something.
"""

from __future__ import annotations

import enum


class TickwireError(Exception):
    """Base of tickwire's own exceptions."""


class ConfigError(TickwireError):
    """Settings that cannot work; the message says which and why."""


class EndReason(enum.Enum):
    """Why a stream is ended by the server."""

    LAGGING = "lagging"
    OVERFLOW = "overflow"
    BAD_REQUEST = "bad request"
    SHUTDOWN = "shutdown"


class StreamEnded(TickwireError):
    """A stream must end now; carries the reason and a message for the client."""

    def __init__(self, reason: EndReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
