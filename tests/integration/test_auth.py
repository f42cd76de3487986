"""Access control on a real server with real tokens: every refusal, roles, expiry, the client."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from helpers import StateLog, health, next_message, price_reaches, subscribe

from tickwire import Client, ConnectionState, RpcError
from tickwire.v1 import market_data_pb2 as pb
from tickwire.v1 import market_data_pb2_grpc as rpc
from tickwire_server.testing import InProcessServer, serve_in_process

WAIT = 5.0
ISSUER = "tickwire-tests"
AUDIENCE = "prices"
PRICES = {"AAPL": 190.0, "MSFT": 420.0}


@pytest.fixture
async def server() -> AsyncIterator[InProcessServer]:
    async with serve_in_process(
        PRICES, auth="jwt", jwt_issuer=ISSUER, jwt_audience=AUDIENCE, jwt_leeway=0.0
    ) as running:
        yield running


def _secret(server: InProcessServer) -> str:
    secret = server.server.settings.jwt_secret
    assert secret is not None
    return secret.get_secret_value()


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"sub": "alice", "exp": now + 300, "iss": ISSUER, "aud": AUDIENCE, "roles": ["read"]}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


# name -> (authorization value made from the server's secret, status, words of the message)
Case = tuple[Callable[[str], str | None], grpc.StatusCode, str]
UNAUTH, DENIED = grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED
CASES: dict[str, Case] = {
    "none": (lambda s: None, UNAUTH, "no credentials"),
    "not-bearer": (lambda s: "Basic YWxpY2U6cHc=", UNAUTH, "expected 'Bearer <token>'"),
    "garbage": (lambda s: "Bearer garbage", UNAUTH, "malformed token"),
    "bad-signature": (
        lambda s: "Bearer " + jwt.encode(_claims(), s + "!", algorithm="HS256"),
        UNAUTH,
        "bad signature",
    ),
    "alg-none": (
        lambda s: "Bearer " + jwt.encode(_claims(), "", algorithm="none"),
        UNAUTH,
        "algorithm not accepted",
    ),
    "expired": (
        lambda s: "Bearer " + jwt.encode(_claims(exp=int(time.time()) - 60), s),
        UNAUTH,
        "token expired",
    ),
    "nbf-future": (
        lambda s: "Bearer " + jwt.encode(_claims(nbf=int(time.time()) + 600), s),
        UNAUTH,
        "token not valid yet",
    ),
    "wrong-issuer": (
        lambda s: "Bearer " + jwt.encode(_claims(iss="elsewhere"), s),
        UNAUTH,
        "wrong issuer",
    ),
    "wrong-audience": (
        lambda s: "Bearer " + jwt.encode(_claims(aud="orders"), s),
        UNAUTH,
        "wrong audience",
    ),
    "no-sub": (lambda s: "Bearer " + jwt.encode(_claims(sub=None), s), UNAUTH, "no sub claim"),
    "no-role": (
        lambda s: "Bearer " + jwt.encode(_claims(roles=["admin"]), s),
        DENIED,
        "alice lacks the role 'read'",
    ),
}


def _metadata(value: str | None) -> tuple[tuple[str, str], ...]:
    return (("authorization", value),) if value is not None else ()


async def _refusal(call: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        async with asyncio.timeout(WAIT):
            if isinstance(call, grpc.aio.UnaryUnaryCall):
                await call
            else:
                await call.read()
    return info.value


@pytest.mark.parametrize("case", list(CASES))
async def test_each_bad_credential_is_refused_on_every_kind_of_method(
    case: str, server: InProcessServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    make, code, words = CASES[case]
    value = make(_secret(server))
    metadata = _metadata(value)
    async with grpc.aio.insecure_channel(server.target) as channel:
        stub = rpc.MarketDataStub(channel)
        calls = {
            "unary": stub.GetMarketStatus(pb.GetMarketStatusRequest(), metadata=metadata),
            "bidi": stub.Subscribe(metadata=metadata),  # refused before any request is read
            "server stream": stub.StreamPrices(
                pb.StreamPricesRequest(tickers=["AAPL"]), metadata=metadata
            ),
        }
        for kind, call in calls.items():
            error = await _refusal(call)
            assert error.code() == code, (kind, error)
            assert words in (error.details() or ""), (kind, error.details())
            if value is not None:
                token = value.partition(" ")[2]
                assert token not in (error.details() or "")
    if value is not None:
        token = value.partition(" ")[2]
        assert not [r for r in caplog.records if token in r.getMessage()]


async def test_a_token_with_the_role_is_served_everywhere(server: InProcessServer) -> None:
    metadata = _metadata("Bearer " + jwt.encode(_claims(), _secret(server)))
    async with grpc.aio.insecure_channel(server.target) as channel:
        stub = rpc.MarketDataStub(channel)
        status = await stub.GetMarketStatus(
            pb.GetMarketStatusRequest(), metadata=metadata, timeout=WAIT
        )
        assert status.status.source == "synthetic"
        stream = stub.StreamPrices(pb.StreamPricesRequest(tickers=["AAPL"]), metadata=metadata)
        assert (await next_message(stream, "prices")).prices.updates[0].price == 190.0
        stream.cancel()
        call = stub.Subscribe(metadata=metadata)
        await call.write(subscribe("MSFT"))
        assert (await next_message(call, "prices")).prices.updates[0].ticker == "MSFT"
        call.cancel()


async def test_the_token_helper_and_the_python_client(server: InProcessServer) -> None:
    async with Client(server, token=server.token("bob")) as client:
        assert (await client.snapshot("AAPL"))["AAPL"].price == 190.0
    async with Client(server, token=server.token("eve", roles=["admin"])) as client:
        with pytest.raises(RpcError) as info:
            await client.tickers()
        assert info.value.code == "PERMISSION_DENIED"


async def test_health_stays_open_and_reflection_is_open_by_default(
    server: InProcessServer,
) -> None:
    async with grpc.aio.insecure_channel(server.target) as channel:
        assert await health(channel) == health_pb2.HealthCheckResponse.SERVING
        assert "tickwire.v1.MarketData" in await _services(channel, ())


async def test_reflection_can_require_a_valid_token() -> None:
    async with (
        serve_in_process(PRICES, auth="jwt", reflection="authenticated") as server,
        grpc.aio.insecure_channel(server.target) as channel,
    ):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await _services(channel, ())
        assert info.value.code() == UNAUTH
        admin_only = server.token("ops", roles=["admin"])  # any role: reflection reads no data
        services = await _services(channel, _metadata(f"Bearer {admin_only}"))
        assert "tickwire.v1.MarketData" in services
        assert await health(channel) == health_pb2.HealthCheckResponse.SERVING


async def _services(channel: grpc.aio.Channel, metadata: Any) -> list[str]:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    call = stub.ServerReflectionInfo(iter([request]), metadata=metadata, timeout=WAIT)
    async for answer in call:
        return [s.name for s in answer.list_services_response.service]
    raise AssertionError("no reflection answer")


async def test_an_hs256_token_is_refused_where_es256_keys_are_configured(tmp_path: Any) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = tmp_path / "public.pem"
    pem.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    async with (
        serve_in_process(PRICES, auth="jwt", jwt_public_key=pem) as server,
        grpc.aio.insecure_channel(server.target) as channel,
    ):
        stub = rpc.MarketDataStub(channel)
        good = jwt.encode(_claims(aud=None, iss=None), key, algorithm="ES256")
        await stub.GetMarketStatus(
            pb.GetMarketStatusRequest(), metadata=_metadata(f"Bearer {good}"), timeout=WAIT
        )
        # The classic attack: HS256 signed with the public key as the HMAC secret.
        forged = _hs256(_claims(aud=None, iss=None), pem.read_bytes())
        error = await _refusal(
            stub.GetMarketStatus(
                pb.GetMarketStatusRequest(), metadata=_metadata(f"Bearer {forged}")
            )
        )
        assert (error.code(), error.details()) == (UNAUTH, "algorithm not accepted")


def _hs256(claims: dict[str, Any], secret: bytes) -> str:
    """An HS256 token signed by hand (pyjwt refuses a PEM key as an HMAC secret)."""

    def b64(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    signed = b64(b'{"alg":"HS256","typ":"JWT"}') + b"." + b64(json.dumps(claims).encode())
    signature = b64(hmac.new(secret, signed, hashlib.sha256).digest())
    return (signed + b"." + signature).decode()


async def test_a_stream_ends_unauthenticated_when_its_token_expires(
    server: InProcessServer,
) -> None:
    exp = int(time.time()) + 2
    token = jwt.encode(_claims(exp=exp), _secret(server))
    async with grpc.aio.insecure_channel(server.target) as channel:
        call = rpc.MarketDataStub(channel).Subscribe(metadata=_metadata(f"Bearer {token}"))
        await call.write(subscribe("AAPL"))
        await next_message(call, "prices")  # served while the token is good
        # Ended within a second of exp (the leeway is 0 here).
        with pytest.raises(grpc.aio.AioRpcError) as info:
            async with asyncio.timeout(exp - time.time() + 1.0):
                while isinstance(await call.read(), pb.SubscribeResponse):
                    pass
    assert (info.value.code(), info.value.details()) == (UNAUTH, "token expired")


async def test_the_client_reconnects_with_a_fresh_token_and_keeps_every_ticker(
    server: InProcessServer,
) -> None:
    issued: list[str] = []

    async def fresh_token() -> str:
        token = jwt.encode(_claims(exp=int(time.time()) + 2), _secret(server))
        issued.append(token)
        return token

    states = StateLog()
    async with Client(server, token=fresh_token, on_state=states) as client:
        prices = client.subscribe("AAPL", "MSFT")
        await price_reaches(prices, "MSFT", 420.0)
        opened = len(issued)
        await states.wait_for(ConnectionState.RECONNECTING, wait=WAIT)
        lost = next(c for c in states.changes if c.state is ConnectionState.RECONNECTING)
        assert "token expired" in lost.reason and lost.delay == 0.0  # at once, a new token
        await states.wait_for(ConnectionState.CONNECTED, count=2, wait=WAIT)
        assert len(issued) > opened
        server.push({"AAPL": 191.0, "MSFT": 421.0})
        await price_reaches(prices, "AAPL", 191.0)
        await price_reaches(prices, "MSFT", 421.0)
        assert prices.tickers == ["AAPL", "MSFT"]


async def test_a_token_refused_twice_in_a_row_is_raised_to_the_caller(
    server: InProcessServer,
) -> None:
    calls = 0

    def stale_token() -> str:
        nonlocal calls
        calls += 1
        return jwt.encode(_claims(exp=int(time.time()) - 60), _secret(server))

    async with Client(server, token=stale_token) as client:
        prices = client.subscribe("AAPL")
        with pytest.raises(RpcError) as info:
            async with asyncio.timeout(WAIT):
                await anext(prices)
    assert info.value.code == "UNAUTHENTICATED" and "token expired" in info.value.details
    assert calls == 2  # the first refusal got one retry with a fresh token, no more
