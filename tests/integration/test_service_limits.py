"""Limits that protect everyone else, on a real server: request rate, streams per client."""

from __future__ import annotations

import asyncio

import grpc
from fakes.scripted import ScriptedSource
from helpers import ending, eventually, next_message, serving, statuses, subscribe

from tickwire.v1 import market_data_pb2 as pb
from tickwire_server.config import Settings
from tickwire_server.testing import serve_in_process

PRICES = {"AAPL": 190.0, "MSFT": 420.0}


async def test_a_request_storm_is_rate_limited_then_ended_while_others_are_served() -> None:
    settings = Settings(port=0, request_burst=5, max_requests_per_minute=60, heartbeat_interval=30)
    async with serving(settings, ScriptedSource(PRICES)) as (_, _, stub):
        canary = stub.StreamPrices(pb.StreamPricesRequest(tickers=["AAPL"]))
        await next_message(canary, "prices")
        storm = stub.Subscribe()
        answers: list[dict[str, str]] = []
        for n in range(5 + 5 + 1):  # the burst, as many refused, then one more
            await storm.write(subscribe(f"T{n}", request_id=f"r{n}"))
        error = None
        try:
            async with asyncio.timeout(5):
                while True:
                    message = await storm.read()
                    if isinstance(message, pb.SubscribeResponse) and message.HasField("ack"):
                        answers.append(statuses(message.ack))
        except grpc.aio.AioRpcError as exc:
            error = exc
        assert answers[:5] == [{f"T{n}": "TICKER_STATUS_OK"} for n in range(5)]
        assert answers[5:] == [{f"T{n}": "TICKER_STATUS_RATE_LIMITED"} for n in range(5, 10)]
        assert error is not None and error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "over the rate limit" in (error.details() or "")
        # The canary never noticed.
        ok = stub.Subscribe()
        await ok.write(subscribe("MSFT"))
        assert statuses((await next_message(ok, "ack")).ack) == {"MSFT": "TICKER_STATUS_OK"}
        ok.cancel()
        canary.cancel()


async def test_streams_past_the_per_client_cap_are_refused_until_one_closes() -> None:
    async with serve_in_process(PRICES, max_streams_per_client=2) as server:
        async with grpc.aio.insecure_channel(server.target) as channel:
            from tickwire.v1 import market_data_pb2_grpc as rpc

            stub = rpc.MarketDataStub(channel)
            open_ = [
                stub.StreamPrices(pb.StreamPricesRequest(tickers=[ticker]))
                for ticker in ("AAPL", "MSFT")
            ]
            for call in open_:
                await next_message(call, "prices")
            refused = await ending(stub.StreamPrices(pb.StreamPricesRequest(tickers=["AAPL"])))
            assert refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "already hold 2 streams" in (refused.details() or "")
            open_[0].cancel()
            # The server closed it: AAPL's last stream left, and it went from upstream.
            await eventually(lambda: not server.server.hub.is_upstream("AAPL"))
            again = stub.StreamPrices(pb.StreamPricesRequest(tickers=["AAPL"]))
            await next_message(again, "prices")  # the slot came back with the close
            again.cancel()
            open_[1].cancel()


async def test_each_principal_has_its_own_stream_slots() -> None:
    from helpers import StateLog

    from tickwire import Client, ConnectionState

    async with serve_in_process(PRICES, auth="jwt", max_streams_per_client=2) as server:
        clients = [Client(server, token=server.token("alice")) for _ in range(3)]
        bob = Client(server, token=server.token("bob"))
        try:
            for client in clients[:2]:
                await asyncio.wait_for(anext(client.subscribe("AAPL")), 5)
            states = StateLog()
            clients[2].subscribe("AAPL", on_state=states)  # alice's third: refused, retried
            await states.wait_for(ConnectionState.RECONNECTING, wait=5)
            reason = states.changes[-1].reason
            assert "RESOURCE_EXHAUSTED" in reason and "alice (token) already hold 2" in reason
            theirs = bob.subscribe("AAPL")  # bob's slots are his own
            assert (await asyncio.wait_for(anext(theirs), 5)).price == 190.0
        finally:
            for client in [*clients, bob]:
                await client.close()
