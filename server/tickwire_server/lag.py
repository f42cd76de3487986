"""LagWatch: one timer for every stream, ending writes a client has not accepted in time."""

from __future__ import annotations

import asyncio
from typing import Any

Task = asyncio.Task[Any]


class LagWatch:
    """Cancels the send loop of a stream whose write has waited `max_lag` seconds or more.

    A send loop `register`s its task, calls `writing(task)` just before each
    write and `idle(task)` once its writes are done, and asks `lagging(task)`
    when it is cancelled. One timer, running only while loops are
    registered, checks every `every` seconds (`max_lag / 4` unless told): a
    stalled client is ended between `max_lag` and `max_lag + every` after
    its write began. This
    replaces a per-stream `asyncio.timeout` rescheduled around every write,
    which cost two timer-heap operations per frame sent.
    """

    def __init__(self, max_lag: float, every: float | None = None) -> None:
        self.max_lag = max_lag
        self.every = every if every is not None else max_lag / 4
        self._since: dict[Task, float] = {}  # loop time the pending write began, 0.0 if none
        self._lagging: set[Task] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def register(self, task: Task) -> None:
        """Start watching `task` (idle until `writing`)."""
        self._since[task] = 0.0
        if self._timer is None:
            self._loop = asyncio.get_running_loop()
            self._timer = self._loop.call_later(self.every, self._check)

    def writing(self, task: Task) -> None:
        """`task` begins a write now: it lags if the write is still waiting `max_lag` from now."""
        assert self._loop is not None, "register the task first"
        self._since[task] = self._loop.time()

    def idle(self, task: Task) -> None:
        """`task` has nothing being written: it cannot lag until its next `writing`."""
        self._since[task] = 0.0

    def unregister(self, task: Task) -> None:
        """Stop watching `task`; the timer stops with the last one."""
        self._since.pop(task, None)
        self._lagging.discard(task)
        if not self._since and self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def lagging(self, task: Task) -> bool:
        """True when this watch cancelled `task` for lagging."""
        return task in self._lagging

    @property
    def watched(self) -> int:
        """How many send loops are registered."""
        return len(self._since)

    def _check(self) -> None:
        loop = asyncio.get_running_loop()
        limit = loop.time() - self.max_lag
        for task, since in self._since.items():
            if since and since <= limit and task not in self._lagging:
                self._lagging.add(task)
                task.cancel()
        self._timer = loop.call_later(self.every, self._check) if self._since else None
