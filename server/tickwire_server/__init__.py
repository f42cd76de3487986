"""tickwire-server: a live market-data server over one protobuf contract.

`TickwireServer(Settings())` serves the tickwire.v1 contract from a price
source (the GBM simulator by default, or anything that implements
`PriceSource`); `tickwire_server.testing` runs one inside a test. The domain
types here are what sources produce and the server reports.
"""

from tickwire_server.app import TickwireServer
from tickwire_server.config import Settings
from tickwire_server.domain import (
    MarketState,
    PriceBlock,
    Quote,
    SourceState,
    SourceStatus,
    TickerMeta,
    TickerResult,
    TickerStatus,
)
from tickwire_server.errors import ConfigError, TickwireError
from tickwire_server.sources.base import PriceSink, PriceSource

__all__ = [
    "ConfigError",
    "MarketState",
    "PriceBlock",
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
