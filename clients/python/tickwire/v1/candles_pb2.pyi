import datetime

from google.protobuf import descriptor_pb2 as _descriptor_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CandleInterval(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CANDLE_INTERVAL_UNSPECIFIED: _ClassVar[CandleInterval]
    CANDLE_INTERVAL_5_SEC: _ClassVar[CandleInterval]
    CANDLE_INTERVAL_10_SEC: _ClassVar[CandleInterval]
    CANDLE_INTERVAL_30_SEC: _ClassVar[CandleInterval]
    CANDLE_INTERVAL_1_MIN: _ClassVar[CandleInterval]
    CANDLE_INTERVAL_2_MIN: _ClassVar[CandleInterval]
    CANDLE_INTERVAL_3_MIN: _ClassVar[CandleInterval]
    CANDLE_INTERVAL_5_MIN: _ClassVar[CandleInterval]
    CANDLE_INTERVAL_10_MIN: _ClassVar[CandleInterval]
    CANDLE_INTERVAL_15_MIN: _ClassVar[CandleInterval]
    CANDLE_INTERVAL_30_MIN: _ClassVar[CandleInterval]
    CANDLE_INTERVAL_1_HOUR: _ClassVar[CandleInterval]
    CANDLE_INTERVAL_2_HOUR: _ClassVar[CandleInterval]
    CANDLE_INTERVAL_4_HOUR: _ClassVar[CandleInterval]
    CANDLE_INTERVAL_1_DAY: _ClassVar[CandleInterval]
    CANDLE_INTERVAL_1_WEEK: _ClassVar[CandleInterval]
    CANDLE_INTERVAL_1_MONTH: _ClassVar[CandleInterval]

class CandleSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CANDLE_SOURCE_UNSPECIFIED: _ClassVar[CandleSource]
    CANDLE_SOURCE_LIVE: _ClassVar[CandleSource]
    CANDLE_SOURCE_BACKFILL: _ClassVar[CandleSource]
    CANDLE_SOURCE_SYNTHETIC: _ClassVar[CandleSource]
CANDLE_INTERVAL_UNSPECIFIED: CandleInterval
CANDLE_INTERVAL_5_SEC: CandleInterval
CANDLE_INTERVAL_10_SEC: CandleInterval
CANDLE_INTERVAL_30_SEC: CandleInterval
CANDLE_INTERVAL_1_MIN: CandleInterval
CANDLE_INTERVAL_2_MIN: CandleInterval
CANDLE_INTERVAL_3_MIN: CandleInterval
CANDLE_INTERVAL_5_MIN: CandleInterval
CANDLE_INTERVAL_10_MIN: CandleInterval
CANDLE_INTERVAL_15_MIN: CandleInterval
CANDLE_INTERVAL_30_MIN: CandleInterval
CANDLE_INTERVAL_1_HOUR: CandleInterval
CANDLE_INTERVAL_2_HOUR: CandleInterval
CANDLE_INTERVAL_4_HOUR: CandleInterval
CANDLE_INTERVAL_1_DAY: CandleInterval
CANDLE_INTERVAL_1_WEEK: CandleInterval
CANDLE_INTERVAL_1_MONTH: CandleInterval
CANDLE_SOURCE_UNSPECIFIED: CandleSource
CANDLE_SOURCE_LIVE: CandleSource
CANDLE_SOURCE_BACKFILL: CandleSource
CANDLE_SOURCE_SYNTHETIC: CandleSource
INTERVAL_LIMITS_FIELD_NUMBER: _ClassVar[int]
interval_limits: _descriptor.FieldDescriptor

class IntervalLimits(_message.Message):
    __slots__ = ("seconds", "max_range_seconds", "max_limit", "name")
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    MAX_RANGE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MAX_LIMIT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    seconds: int
    max_range_seconds: int
    max_limit: int
    name: str
    def __init__(self, seconds: _Optional[int] = ..., max_range_seconds: _Optional[int] = ..., max_limit: _Optional[int] = ..., name: _Optional[str] = ...) -> None: ...

class Candle(_message.Message):
    __slots__ = ("ticker", "interval", "start", "open", "high", "low", "close", "volume", "vwap", "transactions", "complete", "revision", "source", "end")
    TICKER_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    OPEN_FIELD_NUMBER: _ClassVar[int]
    HIGH_FIELD_NUMBER: _ClassVar[int]
    LOW_FIELD_NUMBER: _ClassVar[int]
    CLOSE_FIELD_NUMBER: _ClassVar[int]
    VOLUME_FIELD_NUMBER: _ClassVar[int]
    VWAP_FIELD_NUMBER: _ClassVar[int]
    TRANSACTIONS_FIELD_NUMBER: _ClassVar[int]
    COMPLETE_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    ticker: str
    interval: CandleInterval
    start: _timestamp_pb2.Timestamp
    open: float
    high: float
    low: float
    close: float
    volume: float
    vwap: float
    transactions: int
    complete: bool
    revision: int
    source: CandleSource
    end: _timestamp_pb2.Timestamp
    def __init__(self, ticker: _Optional[str] = ..., interval: _Optional[_Union[CandleInterval, str]] = ..., start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., open: _Optional[float] = ..., high: _Optional[float] = ..., low: _Optional[float] = ..., close: _Optional[float] = ..., volume: _Optional[float] = ..., vwap: _Optional[float] = ..., transactions: _Optional[int] = ..., complete: _Optional[bool] = ..., revision: _Optional[int] = ..., source: _Optional[_Union[CandleSource, str]] = ..., end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SubscribeCandles(_message.Message):
    __slots__ = ("tickers", "interval", "closed_only", "request_id")
    TICKERS_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    CLOSED_ONLY_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    tickers: _containers.RepeatedScalarFieldContainer[str]
    interval: CandleInterval
    closed_only: bool
    request_id: str
    def __init__(self, tickers: _Optional[_Iterable[str]] = ..., interval: _Optional[_Union[CandleInterval, str]] = ..., closed_only: _Optional[bool] = ..., request_id: _Optional[str] = ...) -> None: ...

class UnsubscribeCandles(_message.Message):
    __slots__ = ("tickers", "interval", "request_id")
    TICKERS_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    tickers: _containers.RepeatedScalarFieldContainer[str]
    interval: CandleInterval
    request_id: str
    def __init__(self, tickers: _Optional[_Iterable[str]] = ..., interval: _Optional[_Union[CandleInterval, str]] = ..., request_id: _Optional[str] = ...) -> None: ...

class StreamCandlesRequest(_message.Message):
    __slots__ = ("tickers", "interval", "closed_only")
    TICKERS_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    CLOSED_ONLY_FIELD_NUMBER: _ClassVar[int]
    tickers: _containers.RepeatedScalarFieldContainer[str]
    interval: CandleInterval
    closed_only: bool
    def __init__(self, tickers: _Optional[_Iterable[str]] = ..., interval: _Optional[_Union[CandleInterval, str]] = ..., closed_only: _Optional[bool] = ...) -> None: ...

class GetCandlesRequest(_message.Message):
    __slots__ = ("ticker", "interval", "start", "end", "limit", "page_token")
    TICKER_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ticker: str
    interval: CandleInterval
    start: _timestamp_pb2.Timestamp
    end: _timestamp_pb2.Timestamp
    limit: int
    page_token: str
    def __init__(self, ticker: _Optional[str] = ..., interval: _Optional[_Union[CandleInterval, str]] = ..., start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., limit: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class GetCandlesResponse(_message.Message):
    __slots__ = ("candles", "next_page_token")
    CANDLES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    candles: _containers.RepeatedCompositeFieldContainer[Candle]
    next_page_token: str
    def __init__(self, candles: _Optional[_Iterable[_Union[Candle, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
