"""Principal: who makes a call, and the context variable a call's handlers read it from."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of one RPC.

    Attributes:
        subject: the token's `sub`, the client certificate's subject, or "anonymous".
        roles: what it may call (see `AccessControl`).
        via: "token", "certificate" or "anonymous".
        valid_until: Unix time past which its token is no longer accepted
            (its `exp` plus the leeway); None when nothing expires.
    """

    subject: str
    roles: frozenset[str] = frozenset()
    via: str = "anonymous"
    valid_until: float | None = None

    def __str__(self) -> str:
        return self.subject if self.via == "anonymous" else f"{self.subject} ({self.via})"


ANONYMOUS = Principal("anonymous")

# Set by `AccessControl` around each call's handler (its own task), read by the servicer.
current_principal: contextvars.ContextVar[Principal] = contextvars.ContextVar(
    "tickwire_principal", default=ANONYMOUS
)
