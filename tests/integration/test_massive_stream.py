"""The Massive source in WebSocket mode, end to end: a real server on the fake feed and REST API."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections.abc import Callable
from typing import cast

import pytest
from fakes import FAKE_KEY, Action, FakeMassiveFeed, FakeMassiveRest
from grpc_health.v1 import health_pb2
from helpers import (
    has,
    health,
    market_status,
    next_message,
    prices_until,
    serving,
    source_state,
    subscribe,
    unsubscribe,
    until,
    update_of,
)

from tickwire.v1 import market_data_pb2 as pb
from tickwire_server.app import TickwireServer
from tickwire_server.config import Settings
from tickwire_server.domain import SourceState, SourceStatus
from tickwire_server.sources.massive import MassiveSource

MassiveSettings = Callable[..., Settings]
DEFAULTS = {"A.AAPL", "A.MSFT"}


def _ws(massive_settings: MassiveSettings, **overrides: object) -> Settings:
    return massive_settings(massive_mode="websocket", **overrides)


async def hub_status(server: TickwireServer, check: Callable[[SourceStatus], bool]) -> SourceStatus:
    """The hub's source status once `check` holds (now, or at a later change)."""
    changed = asyncio.Event()
    server.hub.on_status(lambda _: changed.set())
    async with asyncio.timeout(5):
        while not check(server.hub.status):
            changed.clear()
            await changed.wait()
    return server.hub.status


def _actions(log: list[Action], action: str) -> list[Action]:
    return [a for a in log if a.action == action]


async def test_websocket_mode_streams_aggregates_with_their_bar(
    feed: FakeMassiveFeed, massive_settings: MassiveSettings
) -> None:
    async with serving(_ws(massive_settings)) as (server, channel, stub):
        call = stub.Subscribe()
        await call.write(subscribe("AAPL"))
        await feed.wait_subscribed(DEFAULTS)
        await prices_until(call, has("AAPL", 190.0))  # backfilled from one snapshot

        end_ms = time.time_ns() // 1_000_000 + 1000
        await feed.aggregate("AAPL", 191.5, o=191.0, h=191.9, l=190.8, v=1200, vw=191.4, e=end_ms)
        update = [u for u in await prices_until(call, has("AAPL", 191.5)) if u.price == 191.5][0]
        assert update.state == pb.DATA_STATE_LIVE
        assert (update.open, update.high, update.low, update.close) == (191.0, 191.9, 190.8, 191.5)
        assert (update.volume, update.vwap) == (1200, 191.4)
        assert update.timestamp.ToMilliseconds() == end_ms
        assert _actions(feed.log, "auth") == _actions(feed.log, "auth")[:1]  # one connection
        call.cancel()


async def test_trades_are_streamed_when_configured(
    feed: FakeMassiveFeed, massive_settings: MassiveSettings
) -> None:
    async with serving(_ws(massive_settings, massive_trades=True)) as (server, channel, stub):
        call = stub.Subscribe()
        await call.write(subscribe("MSFT"))
        await next_message(call, "ack")
        await feed.wait_subscribed({"A.AAPL", "T.AAPL", "A.MSFT", "T.MSFT"})
        await feed.trade("MSFT", 411.5)
        update = [u for u in await prices_until(call, has("MSFT", 411.5)) if u.price == 411.5][0]
        assert update.state == pb.DATA_STATE_LIVE and not update.HasField("open")
        call.cancel()


async def test_subscriptions_follow_the_ticker_set_across_a_dropped_connection(
    feed: FakeMassiveFeed, massive_settings: MassiveSettings
) -> None:
    async with serving(_ws(massive_settings)) as (server, channel, stub):
        call = stub.Subscribe()
        await call.write(subscribe("NVDA"))
        await feed.wait_subscribed(DEFAULTS | {"A.NVDA"})
        await prices_until(call, has("NVDA", 120.0))

        feed.drop()
        await until(call, source_state(pb.SOURCE_STATE_DEGRADED, "dropped the connection"))
        await until(call, update_of("NVDA", pb.DATA_STATE_STALE, 120.0))
        log = await feed.wait_for(
            lambda log: any(
                a.connection == 2 and a.channels == DEFAULTS | {"A.NVDA"}
                for a in _actions(log, "subscribe")
            )
        )
        dropped_at = _actions(log, "drop")[0].at
        assert _actions(log, "connect")[1].at - dropped_at >= 0.025  # backed off, not at once
        await until(call, source_state(pb.SOURCE_STATE_HEALTHY))

        await feed.aggregate("NVDA", 121.0)
        await until(call, update_of("NVDA", pb.DATA_STATE_LIVE, 121.0))
        await call.write(unsubscribe("NVDA"))
        await next_message(call, "ack")
        await feed.wait_subscribed(DEFAULTS)  # released after the grace, on the live connection
        assert _actions(feed.log, "max_connections") == []  # never two connections at once
        call.cancel()


async def test_a_silent_feed_is_treated_as_dead_and_a_hanging_connect_is_bounded(
    feed: FakeMassiveFeed, massive_settings: MassiveSettings
) -> None:
    settings = _ws(massive_settings, massive_idle_timeout=0.3, massive_timeout=0.3)
    async with serving(settings) as (server, channel, stub):
        call = stub.Subscribe()
        await call.write(subscribe("AAPL"))
        await feed.wait_subscribed(DEFAULTS)
        await prices_until(call, has("AAPL", 190.0))

        feed.silent = True  # the open connection goes quiet; new ones never say "connected"
        await until(call, source_state(pb.SOURCE_STATE_DEGRADED, "silent for 0.3 s"))
        await until(call, update_of("AAPL", pb.DATA_STATE_STALE, 190.0))
        await until(call, source_state(pb.SOURCE_STATE_ERROR, "no answer from ws://"))
        assert await health(channel) == health_pb2.HealthCheckResponse.NOT_SERVING
        connects = _actions(feed.log, "connect")
        assert len(connects) >= 3
        assert all(b.at - a.at >= 0.3 for a, b in zip(connects[1:], connects[2:], strict=False))

        feed.silent = False
        await until(call, source_state(pb.SOURCE_STATE_HEALTHY))
        await feed.wait_subscribed(DEFAULTS)
        await feed.aggregate("AAPL", 192.0)
        await until(call, update_of("AAPL", pb.DATA_STATE_LIVE, 192.0))
        call.cancel()


async def test_silence_is_normal_while_the_market_is_closed(
    rest: FakeMassiveRest, feed: FakeMassiveFeed, massive_settings: MassiveSettings
) -> None:
    rest.market = "closed"
    async with serving(_ws(massive_settings, massive_idle_timeout=0.2)) as (server, _, _):
        await feed.wait_subscribed(DEFAULTS)
        asked = len(rest.requests)
        await rest.wait_for(lambda r: len(r) >= asked + 8)  # >= 0.35 s of status polls
        assert len(feed.connections()) == 1
        assert server.hub.status.market.value == "closed"

        rest.market = "open"  # now silence means a dead feed
        await feed.wait_for(lambda log: len(_actions(log, "connect")) >= 2)


async def test_auth_failed_later_turns_error_backs_off_and_recovers(
    feed: FakeMassiveFeed, massive_settings: MassiveSettings
) -> None:
    async with serving(_ws(massive_settings)) as (server, channel, stub):
        call = stub.Subscribe()
        await call.write(subscribe("AAPL"))
        await next_message(call, "ack")
        await feed.wait_subscribed(DEFAULTS)

        feed.fail_auth = True
        feed.drop()
        await until(call, source_state(pb.SOURCE_STATE_DEGRADED, "dropped the connection"))
        status = (await next_message(call, "market_status")).market_status
        assert status.source_state == pb.SOURCE_STATE_ERROR  # the first auth_failed, no waiting
        assert "rejected the API key on the WebSocket feed" in status.message
        assert await health(channel) == health_pb2.HealthCheckResponse.NOT_SERVING
        assert (await market_status(stub)).source_state == pb.SOURCE_STATE_ERROR
        log = await feed.wait_for(lambda log: len(_actions(log, "auth")) >= 4)
        first, second, third = _actions(log, "auth")[1:4]
        assert second.at - first.at >= 0.05  # retry n waits at least 0.05 * 2**n / 2
        assert third.at - second.at >= 0.1

        feed.fail_auth = False
        await until(call, source_state(pb.SOURCE_STATE_HEALTHY))
        assert await health(channel) == health_pb2.HealthCheckResponse.SERVING
        call.cancel()


async def test_malformed_events_are_skipped_and_counted_without_dropping_the_feed(
    feed: FakeMassiveFeed, massive_settings: MassiveSettings
) -> None:
    async with serving(_ws(massive_settings)) as (server, channel, stub):
        call = stub.Subscribe()
        await call.write(subscribe("AAPL"))
        await feed.wait_subscribed(DEFAULTS)
        await prices_until(call, has("AAPL", 190.0))
        assert isinstance(server.source, MassiveSource)
        before = server.source.skipped

        now_ms = time.time_ns() // 1_000_000 + 1000
        await feed.send_raw("not json")
        await feed.send_raw(
            json.dumps(
                [
                    {"ev": "A", "sym": "AAPL", "c": "oops", "e": now_ms},
                    {"ev": "A", "c": 1.0, "e": now_ms},
                    42,
                    {"ev": "XQ", "sym": "AAPL"},
                    {"ev": "A", "sym": "AAPL", "c": 201.0, "e": now_ms},
                ]
            )
        )
        await prices_until(call, has("AAPL", 201.0))
        assert server.source.skipped - before == 5
        assert len(feed.connections()) == 1
        assert (await market_status(stub)).source_state == (pb.SOURCE_STATE_HEALTHY)
        call.cancel()


async def test_an_unreachable_feed_is_reported_and_stops_cleanly(
    rest: FakeMassiveRest, massive_settings: MassiveSettings
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again below: nothing listens there
    settings = _ws(massive_settings, massive_ws_url=f"ws://127.0.0.1:{port}", massive_timeout=0.2)
    async with asyncio.timeout(10), serving(settings) as (server, _, stub):
        status = await hub_status(server, lambda s: s.state is SourceState.DEGRADED)
        assert status.message == f"prices: no answer from ws://127.0.0.1:{port} within 0.2 s"
        reported = await market_status(stub)
        assert reported.source_state == pb.SOURCE_STATE_DEGRADED
        assert reported.market == pb.MARKET_STATE_OPEN  # the REST side still answers
    leftover = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert leftover == []


async def test_the_api_key_never_reaches_the_logs_at_debug(
    feed: FakeMassiveFeed, massive_settings: MassiveSettings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with serving(_ws(massive_settings)) as (server, _, _):
        await feed.wait_subscribed(DEFAULTS)
        await hub_status(server, lambda s: s.state is SourceState.HEALTHY)
        feed.drop()  # the reconnect authenticates again
        await feed.wait_for(lambda log: len(_actions(log, "subscribe")) >= 2)
    assert len(_actions(feed.log, "auth")) >= 2  # the key did go over the wire, twice
    ours = [r for r in caplog.records if not r.name.startswith("fakes.")]  # the fake receives it
    assert any(r.levelno == logging.DEBUG for r in ours)  # DEBUG was captured
    assert not [r.name for r in ours if FAKE_KEY in caplog.handler.format(r)]


def _failure_reports(caplog: pytest.LogCaptureFixture) -> list[tuple[int, float]]:
    """(failures in a row, next delay) of every "Massive prices failed" warning."""
    return [
        (int(cast(int, r.args[2])), float(cast(float, r.args[3])))  # type: ignore[index]
        for r in caplog.records
        if r.name.endswith("massive.source")
        and r.msg.startswith("Massive %s failed")
        and r.args[0] == "prices"  # type: ignore[index]
    ]


async def test_drops_with_the_market_closed_never_reach_error_when_each_reconnect_subscribes(
    rest: FakeMassiveRest,
    feed: FakeMassiveFeed,
    massive_settings: MassiveSettings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    rest.market = "closed"  # no quotes between the drops, and silence is normal
    caplog.set_level(logging.WARNING, logger="tickwire_server.sources.massive.source")
    settings = _ws(massive_settings)
    drops = 2 * settings.massive_breaker_threshold
    async with serving(settings) as (server, _, _):
        states: list[SourceState] = []
        server.hub.on_status(lambda s: states.append(s.state))
        await feed.wait_subscribed(DEFAULTS)
        await hub_status(server, lambda s: s.state is SourceState.HEALTHY)
        for _ in range(drops):
            feed.drop()
            await hub_status(server, lambda s: s.state is not SourceState.HEALTHY)
            await hub_status(server, lambda s: s.state is SourceState.HEALTHY)  # resubscribed
        assert server.hub.status.market.value == "closed"
    assert SourceState.ERROR not in states
    assert len(_actions(feed.log, "subscribe")) == drops + 1
    reports = _failure_reports(caplog)
    assert len(reports) == drops
    assert all(failures == 1 for failures, _ in reports)
    assert all(delay <= settings.massive_backoff_base for _, delay in reports)  # the first step


async def test_a_feed_that_subscribes_but_stays_silent_while_open_still_reaches_error(
    feed: FakeMassiveFeed, massive_settings: MassiveSettings, caplog: pytest.LogCaptureFixture
) -> None:
    # The fake acks every subscription but sends no aggregate: connected, yet dead.
    caplog.set_level(logging.WARNING, logger="tickwire_server.sources.massive.source")
    settings = _ws(massive_settings, massive_idle_timeout=0.1)
    async with serving(settings) as (server, _, _):
        status = await hub_status(server, lambda s: s.state is SourceState.ERROR)
        assert "silent for 0.1 s" in status.message
    assert [f for f, _ in _failure_reports(caplog)][:3] == [1, 2, 3]
