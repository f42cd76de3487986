"""TLS and mutual TLS with certificates made at test time; a certificate re-read on SIGHUP."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import sys
from pathlib import Path

import grpc
import pytest
from certs import Authority, Issued
from helpers import next_message, subscribe

from tickwire import Client, RpcError
from tickwire.v1 import market_data_pb2_grpc as rpc
from tickwire_server.testing import serve_in_process

WAIT = 5.0
PRICES = {"AAPL": 190.0}


@pytest.fixture
def ca(tmp_path: Path) -> Authority:
    return Authority(tmp_path)


def _served(ca: Authority, folder: Path, name: str = "server") -> tuple[Path, Path]:
    """The server certificate and key, copied to the paths the server is told to read."""
    issued = ca.server(name)
    cert, key = folder / "served.pem", folder / "served.key"
    shutil.copy(issued.cert, cert)
    shutil.copy(issued.key, key)
    return cert, key


async def _price(target: str, ca_pem: bytes | None, client: Issued | None = None) -> float:
    """AAPL's price over TLS, trusting `ca_pem`, presenting `client`'s certificate if given."""
    async with Client(
        target,
        tls=True,
        root_certificates=ca_pem,
        certificate_chain=client.cert_pem if client else None,
        private_key=client.key_pem if client else None,
        timeout=2,
    ) as c:
        return (await c.snapshot("AAPL"))["AAPL"].price


async def test_a_client_trusting_the_ca_connects_and_one_that_does_not_is_refused(
    ca: Authority, tmp_path: Path
) -> None:
    cert, key = _served(ca, tmp_path)
    async with serve_in_process(PRICES, tls_cert=cert, tls_key=key) as server:
        assert await _price(server.target, ca.cert_pem) == 190.0
        other = Authority(tmp_path, "someone else's CA")
        with pytest.raises(RpcError) as info:
            await _price(server.target, other.cert_pem)
        assert info.value.code == "UNAVAILABLE"
        async with Client(server.target, timeout=2) as plain:  # no TLS at all
            with pytest.raises(RpcError):
                await plain.snapshot("AAPL")


async def test_mutual_tls_needs_a_client_certificate_signed_by_the_client_ca(
    ca: Authority, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tickwire_server.audit")
    cert, key = _served(ca, tmp_path)
    carol = ca.client("carol")
    stranger = Authority(tmp_path, "stranger CA").client("mallory")
    async with serve_in_process(
        PRICES, tls_cert=cert, tls_key=key, tls_client_ca=ca.cert
    ) as server:
        with pytest.raises(RpcError) as info:
            await _price(server.target, ca.cert_pem)
        assert info.value.code == "UNAVAILABLE"
        with pytest.raises(RpcError):
            await _price(server.target, ca.cert_pem, stranger)
        assert await _price(server.target, ca.cert_pem, carol) == 190.0
        async with Client(
            server.target,
            root_certificates=ca.cert_pem,
            certificate_chain=carol.cert_pem,
            private_key=carol.key_pem,
        ) as c:
            prices = c.subscribe("AAPL")
            assert (await asyncio.wait_for(anext(prices), WAIT)).price == 190.0
    assert any("opened by carol (certificate)" in r.getMessage() for r in caplog.records)


async def test_the_certificate_subject_stands_in_for_a_token(ca: Authority, tmp_path: Path) -> None:
    cert, key = _served(ca, tmp_path)
    carol, dave = ca.client("carol"), ca.client("dave")
    async with serve_in_process(
        PRICES,
        auth="jwt",
        tls_cert=cert,
        tls_key=key,
        tls_client_ca=ca.cert,
        tls_client_roles=["read"],
    ) as server:
        assert await _price(server.target, ca.cert_pem, carol) == 190.0  # no token needed
    async with serve_in_process(
        PRICES, auth="jwt", tls_cert=cert, tls_key=key, tls_client_ca=ca.cert, tls_client_roles=[]
    ) as server:
        with pytest.raises(RpcError) as info:
            await _price(server.target, ca.cert_pem, dave)
        assert info.value.code == "PERMISSION_DENIED" and "dave" in info.value.details


async def test_a_reloaded_certificate_serves_new_handshakes_and_open_streams_go_on(
    ca: Authority, tmp_path: Path
) -> None:
    cert, key = _served(ca, tmp_path)
    new_ca = Authority(tmp_path, "next year's CA")
    async with serve_in_process(PRICES, tls_cert=cert, tls_key=key) as server:
        credentials = grpc.ssl_channel_credentials(root_certificates=ca.cert_pem)
        async with grpc.aio.secure_channel(server.target, credentials) as channel:
            call = rpc.MarketDataStub(channel).Subscribe()
            await call.write(subscribe("AAPL"))
            await next_message(call, "prices")

            _served(new_ca, tmp_path)  # the files are replaced, as a certificate renewal does
            assert server.server.reload_tls()

            assert await _price(server.target, new_ca.cert_pem) == 190.0  # a new handshake
            with pytest.raises(RpcError):
                await _price(server.target, ca.cert_pem)
            server.push({"AAPL": 191.0})  # the stream opened before the reload goes on
            message = await next_message(call, "prices")
            assert message.prices.updates[0].price == 191.0
            call.cancel()


async def test_files_that_do_not_load_leave_the_certificate_in_use(
    ca: Authority, tmp_path: Path
) -> None:
    cert, key = _served(ca, tmp_path)
    async with serve_in_process(PRICES, tls_cert=cert, tls_key=key) as server:
        cert.write_text("not a certificate")
        assert not server.server.reload_tls()
        assert await _price(server.target, ca.cert_pem) == 190.0


async def test_sighup_makes_tickwire_server_read_its_certificate_again(
    ca: Authority, tmp_path: Path
) -> None:
    cert, key = _served(ca, tmp_path)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tickwire_server", "--port", "0",
        "--tls-cert", str(cert), "--tls-key", str(key),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "MASSIVE_API_KEY": ""},
    )  # fmt: skip
    assert process.stdout is not None and process.stderr is not None
    try:
        async with asyncio.timeout(20):
            line = (await process.stdout.readline()).decode()
        target = line.split(" serving on ")[1].split()[0]
        assert await _price(target, ca.cert_pem) > 0
        new_ca = Authority(tmp_path, "renewed CA")
        _served(new_ca, tmp_path)
        process.send_signal(signal.SIGHUP)
        async with asyncio.timeout(20):
            while b"TLS certificate reloaded" not in await process.stderr.readline():
                pass
        assert await _price(target, new_ca.cert_pem) > 0
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(20):
            await process.communicate()
    assert process.returncode == 0
