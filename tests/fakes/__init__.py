"""Fake upstreams that speak the real wire formats, for tests: Massive REST and WebSocket."""

from __future__ import annotations

from fakes.massive_rest import (
    AGGS_PATH,
    FAKE_KEY,
    SNAPSHOT_PATH,
    STATUS_PATH,
    FakeMassiveRest,
    Reply,
    Request,
)
from fakes.massive_ws import Action, FakeMassiveFeed

__all__ = [
    "FAKE_KEY",
    "AGGS_PATH",
    "SNAPSHOT_PATH",
    "STATUS_PATH",
    "Action",
    "FakeMassiveFeed",
    "FakeMassiveRest",
    "Reply",
    "Request",
]
