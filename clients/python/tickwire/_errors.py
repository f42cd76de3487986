"""Exceptions of the tickwire client.

    TickwireError          base of everything the client raises on purpose
    ├── RpcError           a call failed; `code` is the gRPC status name
    ├── SubscriptionError  tickers were rejected (strict mode); `results` says why
    └── ClosedError        the client or subscription is closed

gRPC's own exceptions are translated here once, at the client's boundary.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import grpc

if TYPE_CHECKING:
    from tickwire._types import TickerResult


class TickwireError(Exception):
    """Base of the tickwire client's exceptions."""


class RpcError(TickwireError):
    """A call to the server failed.

    Attributes:
        code: the gRPC status code name, e.g. "UNAVAILABLE".
        details: the server's message.
    """

    def __init__(self, code: str, details: str) -> None:
        super().__init__(f"{code}: {details}")
        self.code = code
        self.details = details

    @classmethod
    def from_grpc(cls, error: grpc.aio.AioRpcError | grpc.RpcError) -> RpcError:
        code = error.code() if hasattr(error, "code") else None
        details = error.details() if hasattr(error, "details") else None
        name = code.name if isinstance(code, grpc.StatusCode) else "UNKNOWN"
        return cls(name, details or str(error))


class SubscriptionError(TickwireError):
    """Some requested tickers were not accepted; `results` holds every outcome."""

    def __init__(self, results: Sequence[TickerResult]) -> None:
        self.results = list(results)
        rejected = [r for r in self.results if not r.ok]
        super().__init__(
            "rejected: " + "; ".join(f"{r.ticker}: {r.message or r.status.value}" for r in rejected)
        )

    @property
    def rejected(self) -> list[TickerResult]:
        return [r for r in self.results if not r.ok]


class ClosedError(TickwireError):
    """The client or subscription was closed."""
