"""The Massive source in REST mode, end to end: a real server on the fake Massive REST API."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from fakes import FAKE_KEY as KEY
from fakes import SNAPSHOT_PATH, FakeMassiveRest, Reply, Request
from grpc_health.v1 import health_pb2
from helpers import (
    Check,
    has,
    health,
    market_status,
    next_message,
    prices_until,
    serving,
    source_state,
    statuses,
    subscribe,
    unsubscribe,
    until,
    until_all,
    update_of,
)

from tickwire.v1 import market_data_pb2 as pb
from tickwire_server.config import Settings
from tickwire_server.sources.massive import MassiveSource

WAIT = 5.0
MassiveSettings = Callable[..., Settings]


async def test_rest_mode_streams_the_fakes_prices_with_the_day_bar(
    rest: FakeMassiveRest, massive_settings: MassiveSettings
) -> None:
    async with serving(massive_settings()) as (server, channel, stub):
        assert server.source.name == "massive"
        call = stub.Subscribe()
        await call.write(subscribe("AAPL"))
        assert statuses((await next_message(call, "ack")).ack) == {"AAPL": "TICKER_STATUS_OK"}
        await prices_until(call, has("AAPL", 190.0))

        seconds = time.time_ns() // 1_000_000_000 + 1  # newer than the first trade
        rest.set_price("AAPL", 191.25, t=seconds * 1_000_000_000 + 123_456_789)
        [update] = [u for u in await prices_until(call, has("AAPL", 191.25)) if u.price == 191.25]
        assert update.state == pb.DATA_STATE_LIVE
        assert (update.timestamp.seconds, update.timestamp.nanos) == (seconds, 123_456_789)
        assert update.open == pytest.approx(191.25 * 0.99)
        assert (update.high, update.low) == pytest.approx((191.25 * 1.01, 191.25 * 0.98))
        assert (update.volume, update.vwap) == pytest.approx((1_000_000.0, 191.25 * 0.995))

        status = await market_status(stub)
        assert (status.source, status.market) == ("massive", pb.MARKET_STATE_OPEN)
        assert status.source_state == pb.SOURCE_STATE_HEALTHY
        request = rest.snapshot_requests()[-1]
        assert request.authorization == f"Bearer {KEY}"
        assert request.tickers == ["AAPL", "MSFT"]  # the defaults; AAPL is also subscribed
        call.cancel()


async def test_ref_counting_reaches_the_upstream_ticker_set(
    rest: FakeMassiveRest, massive_settings: MassiveSettings
) -> None:
    async with serving(massive_settings()) as (server, channel, stub):
        call = stub.Subscribe()
        await call.write(subscribe("NVDA"))
        await next_message(call, "ack")
        await rest.next_snapshot(tickers=["AAPL", "MSFT", "NVDA"])
        await prices_until(call, has("NVDA", 120.0))

        await call.write(unsubscribe("NVDA"))
        await next_message(call, "ack")
        await rest.next_snapshot(tickers=["AAPL", "MSFT"])  # released after the grace
        call.cancel()


async def test_a_ticker_massive_does_not_return_is_reported_unknown(
    rest: FakeMassiveRest, massive_settings: MassiveSettings
) -> None:
    async with serving(massive_settings()) as (server, channel, stub):
        call = stub.Subscribe()
        await call.write(subscribe("NVDA", "ZZZZ"))
        await next_message(call, "ack")
        ack = (await next_message(call, "ack")).ack  # the server's own, after the poll
        assert ack.action == pb.SUBSCRIPTION_ACTION_SERVER
        assert statuses(ack) == {"ZZZZ": "TICKER_STATUS_UNKNOWN_TICKER"}
        assert list(ack.tickers) == ["NVDA"]
        await prices_until(call, has("NVDA"))

        await call.write(subscribe("ZZZZ"))
        assert statuses((await next_message(call, "ack")).ack) == {
            "ZZZZ": "TICKER_STATUS_UNKNOWN_TICKER"
        }
        snapshot = await stub.GetSnapshot(pb.GetSnapshotRequest(tickers=["ZZZZ"]), timeout=WAIT)
        assert statuses(snapshot) == {"ZZZZ": "TICKER_STATUS_UNKNOWN_TICKER"}
        await rest.next_snapshot(tickers=["AAPL", "MSFT", "NVDA"])  # no longer asked for
        call.cancel()


async def test_records_without_a_price_or_malformed_are_skipped_and_counted(
    rest: FakeMassiveRest, massive_settings: MassiveSettings
) -> None:
    rest.set_no_trade("NEWCO")
    rest.extra_records = ["garbage", {"ticker": "BAD", "lastTrade": "x"}, {"lastTrade": {}}]
    async with serving(massive_settings()) as (server, channel, stub):
        call = stub.Subscribe()
        await call.write(subscribe("NEWCO", "AAPL"))
        await next_message(call, "ack")
        await rest.next_snapshot(tickers=["AAPL", "MSFT", "NEWCO"])
        rest.set_price("AAPL", 195.0)
        updates = await prices_until(call, has("AAPL", 195.0))
        assert "NEWCO" not in {u.ticker for u in updates}  # known, but no trade yet
        assert isinstance(server.source, MassiveSource)
        assert server.source.skipped >= 4  # NEWCO + three malformed records, every poll
        assert (await market_status(stub)).source_state == pb.SOURCE_STATE_HEALTHY

        rest.set_price("NEWCO", 12.5)
        await prices_until(call, has("NEWCO", 12.5))
        call.cancel()


async def test_rate_limit_honours_retry_after_marks_prices_stale_and_recovers(
    rest: FakeMassiveRest, massive_settings: MassiveSettings
) -> None:
    async with serving(massive_settings()) as (server, channel, stub):
        call = stub.Subscribe()
        await call.write(subscribe("AAPL"))
        await prices_until(call, has("AAPL", 190.0))

        too_many = "You've exceeded the maximum requests per minute"
        rest.queue(SNAPSHOT_PATH, Reply.error(429, too_many, retry_after="1"))
        first = await rest.next_snapshot(status=429)
        await until(call, source_state(pb.SOURCE_STATE_DEGRADED, "HTTP 429"))
        await until(call, update_of("AAPL", pb.DATA_STATE_STALE, 190.0))
        snapshot = await stub.GetSnapshot(pb.GetSnapshotRequest(tickers=["AAPL"]), timeout=WAIT)
        assert snapshot.prices[0].state == pb.DATA_STATE_STALE

        await until_all(
            call,
            source_state(pb.SOURCE_STATE_HEALTHY),
            update_of("AAPL", pb.DATA_STATE_LIVE, 190.0),
        )
        after = [r for r in rest.requests if r.at > first.at]
        assert after[0].at - first.at >= 0.98  # nobody called before Retry-After ran out
        call.cancel()


def _gaps(requests: list[Request]) -> list[float]:
    return [b.at - a.at for a, b in zip(requests, requests[1:], strict=False)]


async def test_an_outage_backs_off_opens_the_circuit_and_recovers_while_clients_stay(
    rest: FakeMassiveRest, massive_settings: MassiveSettings
) -> None:
    settings = massive_settings(massive_poll_interval=0.01, massive_status_interval=0.01)
    async with serving(settings) as (server, channel, stub):
        watcher, other = stub.Subscribe(), stub.Subscribe()
        await watcher.write(subscribe("AAPL"))
        await other.write(subscribe("MSFT"))
        await prices_until(watcher, has("AAPL", 190.0))
        await prices_until(other, has("MSFT", 410.0))

        rest.outage = Reply.error(503, "Service Unavailable")
        await until(watcher, update_of("AAPL", pb.DATA_STATE_STALE))  # at the first failure
        await until(watcher, source_state(pb.SOURCE_STATE_ERROR, "HTTP 503"))
        assert await health(channel) == health_pb2.HealthCheckResponse.NOT_SERVING
        status = await market_status(stub)
        assert status.source_state == pb.SOURCE_STATE_ERROR and "HTTP 503" in status.message

        # The circuit is open (it opened at least once): from now on one probe per
        # cool-down, whoever asks. Cool-down n lies in [c/2, c], c = min(0.4, 0.05 * 2**n),
        # so three in a row starting at n >= 1 are each >= 0.05 s, the last >= 0.2 s --
        # against a normal cadence of 0.01 s per poller.
        opened = len(rest.requests)
        probes = (await rest.wait_for(lambda r: len(r) >= opened + 4, wait=WAIT))[opened:]
        assert all(p.status == 503 for p in probes)
        gaps = _gaps(probes[:4])
        assert min(gaps) >= 0.049
        assert max(gaps) >= 0.199

        # The server keeps serving: a ping is answered, a new client gets the stale price.
        await other.write(pb.SubscribeRequest(ping=pb.Ping(id="p1")))
        assert (await next_message(other, "heartbeat")).heartbeat.ping_id == "p1"
        late = stub.StreamPrices(pb.StreamPricesRequest(tickers=["AAPL"]))
        await until(late, update_of("AAPL", pb.DATA_STATE_STALE, 190.0))

        rest.outage = None
        rest.set_price("AAPL", 190.5)
        await until_all(
            watcher,
            source_state(pb.SOURCE_STATE_HEALTHY),
            update_of("AAPL", pb.DATA_STATE_LIVE, 190.5),
        )
        await until(other, update_of("MSFT", pb.DATA_STATE_LIVE, 410.0))
        assert await health(channel) == health_pb2.HealthCheckResponse.SERVING
        for call in (watcher, other, late):
            call.cancel()


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (Reply.error(500, "Internal Server Error"), "HTTP 500"),
        (Reply(body=b"<html>502 Bad Gateway</html>"), "malformed answer"),
        (Reply(body=b'{"status": "OK"}'), "malformed snapshot"),
        (Reply(drop=True), "cannot reach Massive"),
        (Reply(delay=1.5), "ReadTimeoutError"),
    ],
    ids=["500", "not-json", "no-tickers-key", "dropped", "slow"],
)
async def test_a_failed_poll_marks_prices_stale_then_recovers(
    rest: FakeMassiveRest, massive_settings: MassiveSettings, reply: Reply, message: str
) -> None:
    async with serving(massive_settings(massive_timeout=0.3)) as (server, channel, stub):
        call = stub.Subscribe()
        await call.write(subscribe("AAPL"))
        await prices_until(call, has("AAPL", 190.0))

        rest.queue(SNAPSHOT_PATH, reply)
        await until(call, source_state(pb.SOURCE_STATE_DEGRADED, message))
        await until(call, update_of("AAPL", pb.DATA_STATE_STALE, 190.0))
        await until_all(
            call,
            source_state(pb.SOURCE_STATE_HEALTHY),
            update_of("AAPL", pb.DATA_STATE_LIVE, 190.0),
        )
        call.cancel()


async def test_a_key_rejected_later_turns_the_source_to_error_until_it_works_again(
    rest: FakeMassiveRest, massive_settings: MassiveSettings
) -> None:
    async with serving(massive_settings()) as (server, channel, stub):
        call = stub.Subscribe()
        await call.write(subscribe("AAPL"))
        await prices_until(call, has("AAPL", 190.0))

        rest.api_key = "rotated"
        status = (await next_message(call, "market_status")).market_status
        assert status.source_state == pb.SOURCE_STATE_ERROR  # at once, not after retries
        assert "rejected the API key (HTTP 401: Unknown API Key)" in status.message
        assert await health(channel) == health_pb2.HealthCheckResponse.NOT_SERVING
        assert (await market_status(stub)).source_state == pb.SOURCE_STATE_ERROR

        rest.api_key = KEY
        await until(call, source_state(pb.SOURCE_STATE_HEALTHY))
        assert await health(channel) == health_pb2.HealthCheckResponse.SERVING
        call.cancel()


async def test_market_status_changes_reach_the_stream_and_get_market_status(
    rest: FakeMassiveRest, massive_settings: MassiveSettings
) -> None:
    async with serving(massive_settings()) as (server, channel, stub):
        call = stub.Subscribe()
        await call.write(subscribe("AAPL"))
        await next_message(call, "ack")
        for market, expected in [
            ("closed", pb.MARKET_STATE_CLOSED),
            ("extended-hours", pb.MARKET_STATE_EXTENDED_HOURS),
            ("open", pb.MARKET_STATE_OPEN),
        ]:
            rest.market = market
            await until(call, _market_is(expected))
            assert (await market_status(stub)).market == expected
        call.cancel()


def _market_is(state: int) -> Check:
    return lambda m: m.HasField("market_status") and m.market_status.market == state
