"""Tokens verified with keys from a JWKS endpoint on 127.0.0.1: rotation and outage."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from tickwire.v1 import market_data_pb2 as pb
from tickwire.v1 import market_data_pb2_grpc as rpc
from tickwire_server.testing import serve_in_process

WAIT = 5.0


class FakeJwks:
    """A JWKS endpoint: `keys` by kid are served at `url`; `down` makes it answer 503."""

    def __init__(self) -> None:
        self.keys: dict[str, ec.EllipticCurvePrivateKey] = {}
        self.down = False
        self.fetches = 0
        jwks = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
                jwks.fetches += 1
                if jwks.down:
                    self.send_error(503, "down for maintenance")
                    return
                body = json.dumps({"keys": jwks.public_keys()}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/.well-known/jwks.json"

    def add_key(self, kid: str) -> None:
        self.keys[kid] = ec.generate_private_key(ec.SECP256R1())

    def public_keys(self) -> list[dict[str, Any]]:
        out = []
        for kid, key in self.keys.items():
            jwk = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
            out.append({**jwk, "kid": kid, "alg": "ES256", "use": "sig"})
        return out

    def token(self, kid: str, subject: str = "alice") -> str:
        claims = {"sub": subject, "exp": int(time.time()) + 300, "roles": ["read"]}
        return jwt.encode(claims, self.keys[kid], algorithm="ES256", headers={"kid": kid})

    @contextlib.contextmanager
    def serving(self) -> Iterator[FakeJwks]:
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
            thread.join(WAIT)


@pytest.fixture
def jwks() -> Iterator[FakeJwks]:
    fake = FakeJwks()
    fake.add_key("2026-a")
    with fake.serving():
        yield fake


async def _status(stub: rpc.MarketDataStub, token: str) -> grpc.StatusCode:
    try:
        await stub.GetMarketStatus(
            pb.GetMarketStatusRequest(),
            metadata=(("authorization", f"Bearer {token}"),),
            timeout=WAIT,
        )
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


async def test_a_rotated_key_is_fetched_on_its_first_token_without_a_restart(
    jwks: FakeJwks,
) -> None:
    async with (
        serve_in_process(auth="jwt", jwt_jwks_url=jwks.url, jwt_jwks_cooldown=0) as server,
        grpc.aio.insecure_channel(server.target) as channel,
    ):
        stub = rpc.MarketDataStub(channel)
        assert await _status(stub, jwks.token("2026-a")) == grpc.StatusCode.OK
        fetched = jwks.fetches
        assert await _status(stub, jwks.token("2026-a", "bob")) == grpc.StatusCode.OK
        assert jwks.fetches == fetched  # a known key: no fetch
        jwks.add_key("2026-b")  # rotation: the identity provider signs with a new key
        del jwks.keys["2026-a"]
        assert await _status(stub, jwks.token("2026-b")) == grpc.StatusCode.OK
        assert jwks.fetches == fetched + 1
        forged = jwt.encode(
            {"sub": "mallory", "exp": int(time.time()) + 60, "roles": ["read"]},
            ec.generate_private_key(ec.SECP256R1()),
            algorithm="ES256",
            headers={"kid": "2026-b"},
        )
        assert await _status(stub, forged) == grpc.StatusCode.UNAUTHENTICATED  # bad signature
        jwks.add_key("never-published")
        unknown = jwks.token("never-published")
        del jwks.keys["never-published"]
        assert await _status(stub, unknown) == grpc.StatusCode.UNAUTHENTICATED  # no such kid


async def test_known_keys_keep_working_while_the_endpoint_is_down(jwks: FakeJwks) -> None:
    async with (
        serve_in_process(auth="jwt", jwt_jwks_url=jwks.url, jwt_jwks_cooldown=0) as server,
        grpc.aio.insecure_channel(server.target) as channel,
    ):
        stub = rpc.MarketDataStub(channel)
        assert await _status(stub, jwks.token("2026-a")) == grpc.StatusCode.OK
        jwks.down = True
        assert await _status(stub, jwks.token("2026-a", "bob")) == grpc.StatusCode.OK
        jwks.add_key("2026-c")  # a key the server could not fetch: it cannot tell, so it says so
        assert await _status(stub, jwks.token("2026-c")) == grpc.StatusCode.UNAVAILABLE
        jwks.down = False
        assert await _status(stub, jwks.token("2026-c")) == grpc.StatusCode.OK


async def test_an_endpoint_down_from_the_start_is_unavailable_not_unauthenticated(
    jwks: FakeJwks,
) -> None:
    jwks.down = True
    async with (
        serve_in_process(auth="jwt", jwt_jwks_url=jwks.url, jwt_jwks_cooldown=0) as server,
        grpc.aio.insecure_channel(server.target) as channel,
    ):
        stub = rpc.MarketDataStub(channel)
        assert await _status(stub, jwks.token("2026-a")) == grpc.StatusCode.UNAVAILABLE
