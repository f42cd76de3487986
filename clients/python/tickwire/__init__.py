"""tickwire: the Python client of the tickwire market-data server.

`Client` (asyncio) and `SyncClient` (blocking) call the server;
`Client.subscribe` gives a self-healing stream of `PriceUpdate`s;
`ScenarioClient` (and `SyncScenarioClient`) drive a synthetic source; the
generated messages live in `tickwire.v1`. For tests against a real server
in-process, see `tickwire_server.testing` (distribution tickwire-server).
"""

from tickwire._candles import CandleSubscription, IntervalInfo, interval_info
from tickwire._client import Client
from tickwire._errors import ClosedError, RpcError, SubscriptionError, TickwireError
from tickwire._scenario import ScenarioClient, SyncScenarioClient
from tickwire._subscription import Subscription
from tickwire._sync import SyncClient
from tickwire._types import (
    Backoff,
    ConnectionState,
    StateChange,
    StreamStats,
    TickerResult,
    TickerStatus,
)
from tickwire.v1.candles_pb2 import Candle
from tickwire.v1.market_data_pb2 import MarketStatus, PriceUpdate, TickerInfo

__all__ = [
    "Backoff",
    "Candle",
    "CandleSubscription",
    "Client",
    "ClosedError",
    "ConnectionState",
    "IntervalInfo",
    "MarketStatus",
    "PriceUpdate",
    "RpcError",
    "ScenarioClient",
    "StateChange",
    "StreamStats",
    "Subscription",
    "SubscriptionError",
    "SyncClient",
    "SyncScenarioClient",
    "TickerInfo",
    "TickerResult",
    "TickerStatus",
    "TickwireError",
    "interval_info",
]
