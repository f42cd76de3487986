import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from tickwire.v1 import candles_pb2 as _candles_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Direction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DIRECTION_UNSPECIFIED: _ClassVar[Direction]
    DIRECTION_UP: _ClassVar[Direction]
    DIRECTION_DOWN: _ClassVar[Direction]
    DIRECTION_FLAT: _ClassVar[Direction]

class DataState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DATA_STATE_UNSPECIFIED: _ClassVar[DataState]
    DATA_STATE_LIVE: _ClassVar[DataState]
    DATA_STATE_SNAPSHOT: _ClassVar[DataState]
    DATA_STATE_STALE: _ClassVar[DataState]

class SubscriptionAction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SUBSCRIPTION_ACTION_UNSPECIFIED: _ClassVar[SubscriptionAction]
    SUBSCRIPTION_ACTION_SUBSCRIBE: _ClassVar[SubscriptionAction]
    SUBSCRIPTION_ACTION_UNSUBSCRIBE: _ClassVar[SubscriptionAction]
    SUBSCRIPTION_ACTION_SERVER: _ClassVar[SubscriptionAction]
    SUBSCRIPTION_ACTION_SUBSCRIBE_CANDLES: _ClassVar[SubscriptionAction]
    SUBSCRIPTION_ACTION_UNSUBSCRIBE_CANDLES: _ClassVar[SubscriptionAction]

class TickerStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TICKER_STATUS_UNSPECIFIED: _ClassVar[TickerStatus]
    TICKER_STATUS_OK: _ClassVar[TickerStatus]
    TICKER_STATUS_INVALID_SYMBOL: _ClassVar[TickerStatus]
    TICKER_STATUS_UNKNOWN_TICKER: _ClassVar[TickerStatus]
    TICKER_STATUS_LIMIT_EXCEEDED: _ClassVar[TickerStatus]
    TICKER_STATUS_NOT_SUBSCRIBED: _ClassVar[TickerStatus]
    TICKER_STATUS_NO_DATA: _ClassVar[TickerStatus]
    TICKER_STATUS_RATE_LIMITED: _ClassVar[TickerStatus]

class MarketState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MARKET_STATE_UNSPECIFIED: _ClassVar[MarketState]
    MARKET_STATE_OPEN: _ClassVar[MarketState]
    MARKET_STATE_CLOSED: _ClassVar[MarketState]
    MARKET_STATE_EXTENDED_HOURS: _ClassVar[MarketState]

class SourceState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SOURCE_STATE_UNSPECIFIED: _ClassVar[SourceState]
    SOURCE_STATE_STARTING: _ClassVar[SourceState]
    SOURCE_STATE_HEALTHY: _ClassVar[SourceState]
    SOURCE_STATE_DEGRADED: _ClassVar[SourceState]
    SOURCE_STATE_ERROR: _ClassVar[SourceState]
    SOURCE_STATE_STOPPED: _ClassVar[SourceState]
DIRECTION_UNSPECIFIED: Direction
DIRECTION_UP: Direction
DIRECTION_DOWN: Direction
DIRECTION_FLAT: Direction
DATA_STATE_UNSPECIFIED: DataState
DATA_STATE_LIVE: DataState
DATA_STATE_SNAPSHOT: DataState
DATA_STATE_STALE: DataState
SUBSCRIPTION_ACTION_UNSPECIFIED: SubscriptionAction
SUBSCRIPTION_ACTION_SUBSCRIBE: SubscriptionAction
SUBSCRIPTION_ACTION_UNSUBSCRIBE: SubscriptionAction
SUBSCRIPTION_ACTION_SERVER: SubscriptionAction
SUBSCRIPTION_ACTION_SUBSCRIBE_CANDLES: SubscriptionAction
SUBSCRIPTION_ACTION_UNSUBSCRIBE_CANDLES: SubscriptionAction
TICKER_STATUS_UNSPECIFIED: TickerStatus
TICKER_STATUS_OK: TickerStatus
TICKER_STATUS_INVALID_SYMBOL: TickerStatus
TICKER_STATUS_UNKNOWN_TICKER: TickerStatus
TICKER_STATUS_LIMIT_EXCEEDED: TickerStatus
TICKER_STATUS_NOT_SUBSCRIBED: TickerStatus
TICKER_STATUS_NO_DATA: TickerStatus
TICKER_STATUS_RATE_LIMITED: TickerStatus
MARKET_STATE_UNSPECIFIED: MarketState
MARKET_STATE_OPEN: MarketState
MARKET_STATE_CLOSED: MarketState
MARKET_STATE_EXTENDED_HOURS: MarketState
SOURCE_STATE_UNSPECIFIED: SourceState
SOURCE_STATE_STARTING: SourceState
SOURCE_STATE_HEALTHY: SourceState
SOURCE_STATE_DEGRADED: SourceState
SOURCE_STATE_ERROR: SourceState
SOURCE_STATE_STOPPED: SourceState

class PriceUpdate(_message.Message):
    __slots__ = ("ticker", "price", "previous_price", "change", "change_percent", "direction", "timestamp", "sequence", "state", "open", "high", "low", "close", "volume", "vwap", "transactions")
    TICKER_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_PRICE_FIELD_NUMBER: _ClassVar[int]
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    CHANGE_PERCENT_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    OPEN_FIELD_NUMBER: _ClassVar[int]
    HIGH_FIELD_NUMBER: _ClassVar[int]
    LOW_FIELD_NUMBER: _ClassVar[int]
    CLOSE_FIELD_NUMBER: _ClassVar[int]
    VOLUME_FIELD_NUMBER: _ClassVar[int]
    VWAP_FIELD_NUMBER: _ClassVar[int]
    TRANSACTIONS_FIELD_NUMBER: _ClassVar[int]
    ticker: str
    price: float
    previous_price: float
    change: float
    change_percent: float
    direction: Direction
    timestamp: _timestamp_pb2.Timestamp
    sequence: int
    state: DataState
    open: float
    high: float
    low: float
    close: float
    volume: float
    vwap: float
    transactions: int
    def __init__(self, ticker: _Optional[str] = ..., price: _Optional[float] = ..., previous_price: _Optional[float] = ..., change: _Optional[float] = ..., change_percent: _Optional[float] = ..., direction: _Optional[_Union[Direction, str]] = ..., timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., sequence: _Optional[int] = ..., state: _Optional[_Union[DataState, str]] = ..., open: _Optional[float] = ..., high: _Optional[float] = ..., low: _Optional[float] = ..., close: _Optional[float] = ..., volume: _Optional[float] = ..., vwap: _Optional[float] = ..., transactions: _Optional[int] = ...) -> None: ...

class PriceBatch(_message.Message):
    __slots__ = ("updates", "conflated")
    UPDATES_FIELD_NUMBER: _ClassVar[int]
    CONFLATED_FIELD_NUMBER: _ClassVar[int]
    updates: _containers.RepeatedCompositeFieldContainer[PriceUpdate]
    conflated: int
    def __init__(self, updates: _Optional[_Iterable[_Union[PriceUpdate, _Mapping]]] = ..., conflated: _Optional[int] = ...) -> None: ...

class SubscribeRequest(_message.Message):
    __slots__ = ("subscribe", "unsubscribe", "ping", "subscribe_candles", "unsubscribe_candles")
    SUBSCRIBE_FIELD_NUMBER: _ClassVar[int]
    UNSUBSCRIBE_FIELD_NUMBER: _ClassVar[int]
    PING_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIBE_CANDLES_FIELD_NUMBER: _ClassVar[int]
    UNSUBSCRIBE_CANDLES_FIELD_NUMBER: _ClassVar[int]
    subscribe: SubscribeTickers
    unsubscribe: UnsubscribeTickers
    ping: Ping
    subscribe_candles: _candles_pb2.SubscribeCandles
    unsubscribe_candles: _candles_pb2.UnsubscribeCandles
    def __init__(self, subscribe: _Optional[_Union[SubscribeTickers, _Mapping]] = ..., unsubscribe: _Optional[_Union[UnsubscribeTickers, _Mapping]] = ..., ping: _Optional[_Union[Ping, _Mapping]] = ..., subscribe_candles: _Optional[_Union[_candles_pb2.SubscribeCandles, _Mapping]] = ..., unsubscribe_candles: _Optional[_Union[_candles_pb2.UnsubscribeCandles, _Mapping]] = ...) -> None: ...

class SubscribeTickers(_message.Message):
    __slots__ = ("tickers", "request_id")
    TICKERS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    tickers: _containers.RepeatedScalarFieldContainer[str]
    request_id: str
    def __init__(self, tickers: _Optional[_Iterable[str]] = ..., request_id: _Optional[str] = ...) -> None: ...

class UnsubscribeTickers(_message.Message):
    __slots__ = ("tickers", "request_id")
    TICKERS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    tickers: _containers.RepeatedScalarFieldContainer[str]
    request_id: str
    def __init__(self, tickers: _Optional[_Iterable[str]] = ..., request_id: _Optional[str] = ...) -> None: ...

class Ping(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class SubscribeResponse(_message.Message):
    __slots__ = ("prices", "ack", "market_status", "heartbeat", "candle")
    PRICES_FIELD_NUMBER: _ClassVar[int]
    ACK_FIELD_NUMBER: _ClassVar[int]
    MARKET_STATUS_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    CANDLE_FIELD_NUMBER: _ClassVar[int]
    prices: PriceBatch
    ack: SubscriptionAck
    market_status: MarketStatus
    heartbeat: Heartbeat
    candle: _candles_pb2.Candle
    def __init__(self, prices: _Optional[_Union[PriceBatch, _Mapping]] = ..., ack: _Optional[_Union[SubscriptionAck, _Mapping]] = ..., market_status: _Optional[_Union[MarketStatus, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ..., candle: _Optional[_Union[_candles_pb2.Candle, _Mapping]] = ...) -> None: ...

class TickerResult(_message.Message):
    __slots__ = ("ticker", "status", "message")
    TICKER_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    ticker: str
    status: TickerStatus
    message: str
    def __init__(self, ticker: _Optional[str] = ..., status: _Optional[_Union[TickerStatus, str]] = ..., message: _Optional[str] = ...) -> None: ...

class SubscriptionAck(_message.Message):
    __slots__ = ("request_id", "action", "results", "tickers", "message", "interval")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    TICKERS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    action: SubscriptionAction
    results: _containers.RepeatedCompositeFieldContainer[TickerResult]
    tickers: _containers.RepeatedScalarFieldContainer[str]
    message: str
    interval: _candles_pb2.CandleInterval
    def __init__(self, request_id: _Optional[str] = ..., action: _Optional[_Union[SubscriptionAction, str]] = ..., results: _Optional[_Iterable[_Union[TickerResult, _Mapping]]] = ..., tickers: _Optional[_Iterable[str]] = ..., message: _Optional[str] = ..., interval: _Optional[_Union[_candles_pb2.CandleInterval, str]] = ...) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ("server_time", "ping_id")
    SERVER_TIME_FIELD_NUMBER: _ClassVar[int]
    PING_ID_FIELD_NUMBER: _ClassVar[int]
    server_time: _timestamp_pb2.Timestamp
    ping_id: str
    def __init__(self, server_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., ping_id: _Optional[str] = ...) -> None: ...

class MarketStatus(_message.Message):
    __slots__ = ("market", "source", "source_state", "message", "server_time")
    MARKET_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_STATE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    SERVER_TIME_FIELD_NUMBER: _ClassVar[int]
    market: MarketState
    source: str
    source_state: SourceState
    message: str
    server_time: _timestamp_pb2.Timestamp
    def __init__(self, market: _Optional[_Union[MarketState, str]] = ..., source: _Optional[str] = ..., source_state: _Optional[_Union[SourceState, str]] = ..., message: _Optional[str] = ..., server_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class StreamPricesRequest(_message.Message):
    __slots__ = ("tickers",)
    TICKERS_FIELD_NUMBER: _ClassVar[int]
    tickers: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, tickers: _Optional[_Iterable[str]] = ...) -> None: ...

class GetSnapshotRequest(_message.Message):
    __slots__ = ("tickers", "page_size", "page_token")
    TICKERS_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    tickers: _containers.RepeatedScalarFieldContainer[str]
    page_size: int
    page_token: str
    def __init__(self, tickers: _Optional[_Iterable[str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class GetSnapshotResponse(_message.Message):
    __slots__ = ("prices", "results", "next_page_token")
    PRICES_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    prices: _containers.RepeatedCompositeFieldContainer[PriceUpdate]
    results: _containers.RepeatedCompositeFieldContainer[TickerResult]
    next_page_token: str
    def __init__(self, prices: _Optional[_Iterable[_Union[PriceUpdate, _Mapping]]] = ..., results: _Optional[_Iterable[_Union[TickerResult, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListTickersRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class TickerInfo(_message.Message):
    __slots__ = ("ticker", "name", "sector", "seed_price", "active")
    TICKER_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SECTOR_FIELD_NUMBER: _ClassVar[int]
    SEED_PRICE_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    ticker: str
    name: str
    sector: str
    seed_price: float
    active: bool
    def __init__(self, ticker: _Optional[str] = ..., name: _Optional[str] = ..., sector: _Optional[str] = ..., seed_price: _Optional[float] = ..., active: _Optional[bool] = ...) -> None: ...

class ListTickersResponse(_message.Message):
    __slots__ = ("tickers",)
    TICKERS_FIELD_NUMBER: _ClassVar[int]
    tickers: _containers.RepeatedCompositeFieldContainer[TickerInfo]
    def __init__(self, tickers: _Optional[_Iterable[_Union[TickerInfo, _Mapping]]] = ...) -> None: ...

class GetMarketStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetMarketStatusResponse(_message.Message):
    __slots__ = ("status",)
    STATUS_FIELD_NUMBER: _ClassVar[int]
    status: MarketStatus
    def __init__(self, status: _Optional[_Union[MarketStatus, _Mapping]] = ...) -> None: ...
