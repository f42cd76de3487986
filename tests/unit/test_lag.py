"""Tests of LagWatch: a stalled write is cancelled, idle and quick ones never are."""

from __future__ import annotations

import asyncio

from tickwire_server.lag import LagWatch

TIMEOUT = 5.0


async def test_a_write_pending_past_max_lag_is_cancelled_and_flagged() -> None:
    watch = LagWatch(0.05)
    stalled = asyncio.Event()

    async def writer() -> str:
        task = asyncio.current_task()
        assert task is not None
        watch.register(task)
        try:
            watch.writing(task)
            stalled.set()
            await asyncio.Event().wait()  # a write the client never accepts
            return "written"
        except asyncio.CancelledError:
            return "lagging" if watch.lagging(task) else "cancelled"
        finally:
            watch.unregister(task)

    async with asyncio.timeout(TIMEOUT):
        assert await asyncio.create_task(writer()) == "lagging"
    assert watch.watched == 0


async def test_an_idle_stream_is_never_cancelled_and_the_timer_stops_with_the_last() -> None:
    watch = LagWatch(0.02)
    done = asyncio.Event()

    async def idle() -> None:
        task = asyncio.current_task()
        assert task is not None
        watch.register(task)
        try:
            await asyncio.sleep(0.1)  # waiting for data, not writing
        finally:
            watch.unregister(task)
            done.set()

    async with asyncio.timeout(TIMEOUT):
        await asyncio.create_task(idle())
    assert watch._timer is None


async def test_a_loop_idle_again_after_its_write_is_never_cancelled() -> None:
    watch = LagWatch(0.02)

    async def quick_writer() -> str:
        task = asyncio.current_task()
        assert task is not None
        watch.register(task)
        try:
            watch.writing(task)
            watch.idle(task)  # the write went through at once
            await asyncio.sleep(0.1)  # five checks pass while it waits for data
            return "idle"
        except asyncio.CancelledError:
            return "cancelled"
        finally:
            watch.unregister(task)

    async with asyncio.timeout(TIMEOUT):
        assert await asyncio.create_task(quick_writer()) == "idle"
