"""StreamGate: refusing new price streams for a while (ScenarioControl.DropStreams)."""

from __future__ import annotations

import time


class StreamGate:
    """Refusals of new streams until a time, for everyone or for one principal.

    `refuse` sets one; `refusing(subject)` says how many seconds are left for
    a stream that subject opens now (0.0: let it in). Times are monotonic.
    """

    def __init__(self) -> None:
        self._everyone_until = 0.0
        self._until: dict[str, float] = {}

    def refuse(self, seconds: float, principal: str = "") -> None:
        """Refuse new streams (of `principal` only, when given) for `seconds` from now."""
        until = time.monotonic() + seconds
        if principal:
            self._until[principal] = until
        else:
            self._everyone_until = until

    def refusing(self, principal: str = "") -> float:
        """Seconds left of a refusal that applies to `principal` (or to everyone), else 0."""
        now = time.monotonic()
        if self._until:  # a handful at most
            self._until = {p: t for p, t in self._until.items() if t > now}
        until = max(self._everyone_until, self._until.get(principal, 0.0))
        return max(0.0, until - now)

    def clear(self) -> None:
        self._everyone_until = 0.0
        self._until.clear()
