"""The collector tuning `tickwire-server` applies to its own process, and only there."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from tickwire_server.app import GC_THRESHOLD, tune_gc
from tickwire_server.testing import serve_in_process


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_tune_gc_freezes_what_lives_now_and_raises_the_young_threshold(restored_gc: None) -> None:
    gc.unfreeze()
    tune_gc()
    assert gc.get_threshold()[0] == GC_THRESHOLD > 700
    assert gc.get_freeze_count() > 0  # startup objects left out of every later collection


async def test_an_in_process_server_leaves_the_host_process_collector_alone() -> None:
    threshold, frozen = gc.get_threshold(), gc.get_freeze_count()
    async with serve_in_process({"AAPL": 190.0}):
        assert (gc.get_threshold(), gc.get_freeze_count()) == (threshold, frozen)
