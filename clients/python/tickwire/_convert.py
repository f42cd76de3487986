"""Shared by the async and sync clients: channels, metadata, response unpacking."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import grpc

from tickwire._errors import SubscriptionError
from tickwire._types import TickerResult, is_address_list
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


def secure(tls: bool, certificate_chain: bytes | None, private_key: bytes | None) -> bool:
    """Whether a client with these options dials with TLS (a client certificate implies it)."""
    return tls or certificate_chain is not None or private_key is not None


def aio_channel(
    target: str,
    *,
    tls: bool,
    root_certificates: bytes | None,
    certificate_chain: bytes | None,
    private_key: bytes | None,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
) -> grpc.aio.Channel:
    """An asyncio channel to `target` with the client options, over TLS when asked."""
    tls = secure(tls, certificate_chain, private_key)
    channel: grpc.aio.Channel = _dial(
        grpc.aio, target, tls, root_certificates, certificate_chain, private_key, max_message_bytes
    )
    return channel


def sync_channel(
    target: str,
    *,
    tls: bool,
    root_certificates: bytes | None,
    certificate_chain: bytes | None,
    private_key: bytes | None,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
) -> grpc.Channel:
    """A blocking channel to `target`, as `aio_channel` makes an asyncio one."""
    tls = secure(tls, certificate_chain, private_key)
    channel: grpc.Channel = _dial(
        grpc, target, tls, root_certificates, certificate_chain, private_key, max_message_bytes
    )
    return channel


def _dial(
    module: Any,
    target: str,
    tls: bool,
    root_certificates: bytes | None,
    certificate_chain: bytes | None,
    private_key: bytes | None,
    max_message_bytes: int,
) -> Any:
    """A channel from `module` (grpc or grpc.aio, which have the same two constructors)."""
    options: list[tuple[str, int | str]] = [*channel_options(max_message_bytes)]
    if is_address_list(target):  # several servers: spread calls, leave a dead one
        options.append(("grpc.lb_policy_name", "round_robin"))
    if not tls:
        return module.insecure_channel(target, options=options)
    creds = credentials(root_certificates, certificate_chain, private_key)
    return module.secure_channel(target, creds, options=options)


def command_line_options(args: Any) -> dict[str, Any]:
    """A client's connection options from the `tickwire` command's common flags."""

    def read(path: str | None) -> bytes | None:
        return Path(path).read_bytes() if path else None

    return {
        "token": args.token,
        "tls": args.tls or any((args.ca, args.cert, args.key)),
        "root_certificates": read(args.ca),
        "certificate_chain": read(args.cert),
        "private_key": read(args.key),
        "timeout": args.timeout,
    }


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
