"""tickwire's exceptions.

    TickwireError            base of everything raised on purpose
    ├── ConfigError          settings that cannot work (bad value, missing key)
    ├── StreamEnded          a stream must end; `reason` says why
    │   reasons: LAGGING     the client stayed behind past the limit
    │            OVERFLOW    the client sent requests faster than it read answers
    │            BAD_REQUEST a request could not be parsed
    │            EXPIRED     the token the stream was opened with expired
    │            SHUTDOWN    the server is stopping
    │            INTERNAL    a bug while handling a request (logged)
    ├── AccessDenied         a call may not proceed (never carries the token)
    │   ├── Unauthenticated  no valid credentials: missing, malformed or rejected token
    │   ├── Forbidden        valid credentials without the role the method needs
    │   └── KeysUnavailable  the keys to verify with cannot be had (JWKS unreachable)
    └── UpstreamError        an upstream call failed; `retry_after` when it said when to retry
        ├── AuthError        the upstream rejected the API key (HTTP 401/403, auth_failed)
        ├── RateLimited      too many requests (HTTP 429), or waiting out its Retry-After
        ├── Unavailable      HTTP 5xx, a timeout, a refused, dropped or silent connection
        ├── MalformedAnswer  an answer not in the documented format
        └── CircuitOpen      no call made: the circuit breaker is open

Expected failures (a bad ticker, an upstream outage) are results or states,
not exceptions; these are for conditions that end something. Upstream errors
are raised by a source adapter's one translation boundary (third-party
exceptions never travel further) and turned into a source state there; only
an `AuthError` at start-up reaches the user, as one line.
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
    STALLED = "stalled"  # lagging, and the transport took not even the status
    OVERFLOW = "overflow"
    BAD_REQUEST = "bad request"
    EXPIRED = "token expired"
    SHUTDOWN = "shutdown"
    DROPPED = "dropped"  # by ScenarioControl.DropStreams
    INTERNAL = "internal"


class StreamEnded(TickwireError):
    """A stream must end now; carries the reason and a message for the client."""

    def __init__(self, reason: EndReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class AccessDenied(TickwireError):
    """A call may not proceed; the message says why, and never holds the token."""


class Unauthenticated(AccessDenied):
    """No valid credentials: the token is missing, malformed, or was rejected."""


class Forbidden(AccessDenied):
    """Valid credentials that lack the role the method needs."""


class KeysUnavailable(AccessDenied):
    """The keys that verify tokens cannot be had right now (the JWKS endpoint is down)."""


class UpstreamError(TickwireError):
    """An upstream call failed; expected, and turned into a source state by the adapter.

    `retry_after` is the delay in seconds the upstream (or the circuit breaker)
    asked for before the next call, when known.
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AuthError(UpstreamError):
    """The upstream rejected the API key."""


class RateLimited(UpstreamError):
    """The upstream refused the call for too many requests."""


class Unavailable(UpstreamError):
    """The upstream failed or could not be reached; trying later may work."""


class MalformedAnswer(UpstreamError):
    """The upstream answered in a format the adapter does not understand."""


class CircuitOpen(UpstreamError):
    """No call was made: the circuit breaker refuses calls for `retry_after` seconds."""
