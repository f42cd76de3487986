"""tickwire-server: a live market-data server over one protobuf contract.

`TickwireServer(Settings())` serves the tickwire.v1 contract from a price
source (the GBM simulator by default, or anything that implements
`PriceSource`); `tickwire_server.testing` runs one inside a test. The domain
types here are what sources produce and the server reports.
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

from tickwire_server.config import Settings
from tickwire_server.domain import (
    MarketState,
    Quote,
    SourceState,
    SourceStatus,
    TickerMeta,
    TickerResult,
    TickerStatus,
)
from tickwire_server.errors import ConfigError, TickwireError
from tickwire_server.sources.base import PriceSink, PriceSource

if _TYPE_CHECKING:
    from tickwire_server.app import TickwireServer

_LAZY = ("TickwireServer",)  # public, loaded on first use


def __getattr__(name: str) -> _Any:
    # TickwireServer loads grpc: only when asked for, so that the command can
    # refuse bad settings before grpc core starts (and races its own exit).
    if name == "TickwireServer":
        from tickwire_server.app import TickwireServer

        return TickwireServer
    raise AttributeError(f"module 'tickwire_server' has no attribute {name!r}")


__all__ = [
    "ConfigError",
    "MarketState",
    "PriceSink",
    "PriceSource",
    "Quote",
    "Settings",
    "SourceState",
    "SourceStatus",
    "TickerMeta",
    "TickerResult",
    "TickerStatus",
    "TickwireError",
    "TickwireServer",
]
