"""Shared by the async and sync clients: channel options, metadata, response unpacking."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence

import grpc

from tickwire._errors import SubscriptionError
from tickwire._types import TickerResult
from tickwire.v1 import market_data_pb2 as pb

DEFAULT_TARGET = "127.0.0.1:50051"
DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024

# A bearer token, or a function (plain or async) that returns a fresh one for each call.
TokenSource = str | Callable[[], str] | Callable[[], Awaitable[str]] | None


def channel_options(max_message_bytes: int) -> list[tuple[str, int]]:
    """gRPC channel options for a tickwire client.

    Keepalive pings every 30 s (the server accepts one every 10 s, so it
    never answers GOAWAY for pinging too often), a dead connection noticed
    within 10 s more.
    """
    return [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.keepalive_time_ms", 30_000),
        ("grpc.keepalive_timeout_ms", 10_000),
        ("grpc.keepalive_permit_without_calls", 0),
        ("grpc.http2.max_pings_without_data", 0),
    ]


def metadata(token: str | None) -> tuple[tuple[str, str], ...]:
    """Call metadata: the bearer token, when there is one."""
    return (("authorization", f"Bearer {token}"),) if token else ()


async def token_metadata(source: TokenSource) -> tuple[tuple[str, str], ...]:
    """`metadata` for the token `source` gives now (a callable is called, awaited if async)."""
    if source is None or isinstance(source, str):
        return metadata(source)
    token = source()
    if inspect.isawaitable(token):
        token = await token
    return metadata(token)


def credentials(
    root_certificates: bytes | None,
    certificate_chain: bytes | None,
    private_key: bytes | None,
) -> grpc.ChannelCredentials:
    """TLS channel credentials; with a certificate chain and key, for mutual TLS.

    Raises:
        ValueError: only one of the certificate chain and the key was given.
    """
    if (certificate_chain is None) != (private_key is None):
        raise ValueError("mutual TLS needs both certificate_chain and private_key")
    return grpc.ssl_channel_credentials(
        root_certificates=root_certificates,
        private_key=private_key,
        certificate_chain=certificate_chain,
    )


def snapshot_prices(response: pb.GetSnapshotResponse, strict: bool) -> dict[str, pb.PriceUpdate]:
    """{ticker: latest update} from a GetSnapshot answer.

    Raises:
        SubscriptionError: strict and some ticker had no price (its status says why).
    """
    results = [TickerResult.from_proto(r) for r in response.results]
    if strict and any(not r.ok for r in results):
        raise SubscriptionError(results)
    return {update.ticker: update for update in response.prices}


def snapshot_request(tickers: Sequence[str]) -> pb.GetSnapshotRequest:
    return pb.GetSnapshotRequest(tickers=list(tickers))
