import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from tickwire.v1 import market_data_pb2 as _market_data_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ScenarioEventKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SCENARIO_EVENT_KIND_UNSPECIFIED: _ClassVar[ScenarioEventKind]
    SCENARIO_EVENT_KIND_STARTED: _ClassVar[ScenarioEventKind]
    SCENARIO_EVENT_KIND_STEP: _ClassVar[ScenarioEventKind]
    SCENARIO_EVENT_KIND_FINISHED: _ClassVar[ScenarioEventKind]
    SCENARIO_EVENT_KIND_STOPPED: _ClassVar[ScenarioEventKind]
SCENARIO_EVENT_KIND_UNSPECIFIED: ScenarioEventKind
SCENARIO_EVENT_KIND_STARTED: ScenarioEventKind
SCENARIO_EVENT_KIND_STEP: ScenarioEventKind
SCENARIO_EVENT_KIND_FINISHED: ScenarioEventKind
SCENARIO_EVENT_KIND_STOPPED: ScenarioEventKind

class SetMarketStateRequest(_message.Message):
    __slots__ = ("market",)
    MARKET_FIELD_NUMBER: _ClassVar[int]
    market: _market_data_pb2.MarketState
    def __init__(self, market: _Optional[_Union[_market_data_pb2.MarketState, str]] = ...) -> None: ...

class SetMarketStateResponse(_message.Message):
    __slots__ = ("status",)
    STATUS_FIELD_NUMBER: _ClassVar[int]
    status: _market_data_pb2.MarketStatus
    def __init__(self, status: _Optional[_Union[_market_data_pb2.MarketStatus, _Mapping]] = ...) -> None: ...

class PushPriceRequest(_message.Message):
    __slots__ = ("ticker", "price", "open", "high", "low", "volume", "vwap", "transactions")
    TICKER_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    OPEN_FIELD_NUMBER: _ClassVar[int]
    HIGH_FIELD_NUMBER: _ClassVar[int]
    LOW_FIELD_NUMBER: _ClassVar[int]
    VOLUME_FIELD_NUMBER: _ClassVar[int]
    VWAP_FIELD_NUMBER: _ClassVar[int]
    TRANSACTIONS_FIELD_NUMBER: _ClassVar[int]
    ticker: str
    price: float
    open: float
    high: float
    low: float
    volume: float
    vwap: float
    transactions: int
    def __init__(self, ticker: _Optional[str] = ..., price: _Optional[float] = ..., open: _Optional[float] = ..., high: _Optional[float] = ..., low: _Optional[float] = ..., volume: _Optional[float] = ..., vwap: _Optional[float] = ..., transactions: _Optional[int] = ...) -> None: ...

class PushPriceResponse(_message.Message):
    __slots__ = ("sequence",)
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    def __init__(self, sequence: _Optional[int] = ...) -> None: ...

class StallTickerRequest(_message.Message):
    __slots__ = ("ticker", "stale_after")
    TICKER_FIELD_NUMBER: _ClassVar[int]
    STALE_AFTER_FIELD_NUMBER: _ClassVar[int]
    ticker: str
    stale_after: _duration_pb2.Duration
    def __init__(self, ticker: _Optional[str] = ..., stale_after: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class StallTickerResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ResumeTickerRequest(_message.Message):
    __slots__ = ("ticker",)
    TICKER_FIELD_NUMBER: _ClassVar[int]
    ticker: str
    def __init__(self, ticker: _Optional[str] = ...) -> None: ...

class ResumeTickerResponse(_message.Message):
    __slots__ = ("sequence",)
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    def __init__(self, sequence: _Optional[int] = ...) -> None: ...

class StartBurstRequest(_message.Message):
    __slots__ = ("tickers", "hz", "duration")
    TICKERS_FIELD_NUMBER: _ClassVar[int]
    HZ_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    tickers: _containers.RepeatedScalarFieldContainer[str]
    hz: float
    duration: _duration_pb2.Duration
    def __init__(self, tickers: _Optional[_Iterable[str]] = ..., hz: _Optional[float] = ..., duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class StartBurstResponse(_message.Message):
    __slots__ = ("ends_at",)
    ENDS_AT_FIELD_NUMBER: _ClassVar[int]
    ends_at: _timestamp_pb2.Timestamp
    def __init__(self, ends_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class DropStreamsRequest(_message.Message):
    __slots__ = ("refuse_for", "principal")
    REFUSE_FOR_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    refuse_for: _duration_pb2.Duration
    principal: str
    def __init__(self, refuse_for: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., principal: _Optional[str] = ...) -> None: ...

class DropStreamsResponse(_message.Message):
    __slots__ = ("dropped",)
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    dropped: int
    def __init__(self, dropped: _Optional[int] = ...) -> None: ...

class SetSourceStateRequest(_message.Message):
    __slots__ = ("state", "message")
    STATE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    state: _market_data_pb2.SourceState
    message: str
    def __init__(self, state: _Optional[_Union[_market_data_pb2.SourceState, str]] = ..., message: _Optional[str] = ...) -> None: ...

class SetSourceStateResponse(_message.Message):
    __slots__ = ("status",)
    STATUS_FIELD_NUMBER: _ClassVar[int]
    status: _market_data_pb2.MarketStatus
    def __init__(self, status: _Optional[_Union[_market_data_pb2.MarketStatus, _Mapping]] = ...) -> None: ...

class SkipSequenceRequest(_message.Message):
    __slots__ = ("ticker", "count")
    TICKER_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    ticker: str
    count: int
    def __init__(self, ticker: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...

class SkipSequenceResponse(_message.Message):
    __slots__ = ("next_sequence",)
    NEXT_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    next_sequence: int
    def __init__(self, next_sequence: _Optional[int] = ...) -> None: ...

class ResetRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ResetResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SetPausedRequest(_message.Message):
    __slots__ = ("paused",)
    PAUSED_FIELD_NUMBER: _ClassVar[int]
    paused: bool
    def __init__(self, paused: _Optional[bool] = ...) -> None: ...

class SetPausedResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class AdvanceClockRequest(_message.Message):
    __slots__ = ("by",)
    BY_FIELD_NUMBER: _ClassVar[int]
    by: _duration_pb2.Duration
    def __init__(self, by: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class AdvanceClockResponse(_message.Message):
    __slots__ = ("now",)
    NOW_FIELD_NUMBER: _ClassVar[int]
    now: _timestamp_pb2.Timestamp
    def __init__(self, now: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RunScenarioRequest(_message.Message):
    __slots__ = ("scenario", "name")
    SCENARIO_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    scenario: str
    name: str
    def __init__(self, scenario: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class RunScenarioResponse(_message.Message):
    __slots__ = ("kind", "step", "operation", "at", "detail", "line")
    KIND_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    LINE_FIELD_NUMBER: _ClassVar[int]
    kind: ScenarioEventKind
    step: int
    operation: str
    at: _duration_pb2.Duration
    detail: str
    line: int
    def __init__(self, kind: _Optional[_Union[ScenarioEventKind, str]] = ..., step: _Optional[int] = ..., operation: _Optional[str] = ..., at: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., detail: _Optional[str] = ..., line: _Optional[int] = ...) -> None: ...

class GetScenarioStateRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class StalledTicker(_message.Message):
    __slots__ = ("ticker", "since", "stale")
    TICKER_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    STALE_FIELD_NUMBER: _ClassVar[int]
    ticker: str
    since: _timestamp_pb2.Timestamp
    stale: bool
    def __init__(self, ticker: _Optional[str] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., stale: _Optional[bool] = ...) -> None: ...

class Burst(_message.Message):
    __slots__ = ("tickers", "hz", "ends_at")
    TICKERS_FIELD_NUMBER: _ClassVar[int]
    HZ_FIELD_NUMBER: _ClassVar[int]
    ENDS_AT_FIELD_NUMBER: _ClassVar[int]
    tickers: _containers.RepeatedScalarFieldContainer[str]
    hz: float
    ends_at: _timestamp_pb2.Timestamp
    def __init__(self, tickers: _Optional[_Iterable[str]] = ..., hz: _Optional[float] = ..., ends_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetScenarioStateResponse(_message.Message):
    __slots__ = ("status", "clock", "manual_clock", "seed", "stalled", "bursts", "refusing_for", "scenario", "scenario_steps_done", "paused")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CLOCK_FIELD_NUMBER: _ClassVar[int]
    MANUAL_CLOCK_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    STALLED_FIELD_NUMBER: _ClassVar[int]
    BURSTS_FIELD_NUMBER: _ClassVar[int]
    REFUSING_FOR_FIELD_NUMBER: _ClassVar[int]
    SCENARIO_FIELD_NUMBER: _ClassVar[int]
    SCENARIO_STEPS_DONE_FIELD_NUMBER: _ClassVar[int]
    PAUSED_FIELD_NUMBER: _ClassVar[int]
    status: _market_data_pb2.MarketStatus
    clock: _timestamp_pb2.Timestamp
    manual_clock: bool
    seed: int
    stalled: _containers.RepeatedCompositeFieldContainer[StalledTicker]
    bursts: _containers.RepeatedCompositeFieldContainer[Burst]
    refusing_for: _duration_pb2.Duration
    scenario: str
    scenario_steps_done: int
    paused: bool
    def __init__(self, status: _Optional[_Union[_market_data_pb2.MarketStatus, _Mapping]] = ..., clock: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., manual_clock: _Optional[bool] = ..., seed: _Optional[int] = ..., stalled: _Optional[_Iterable[_Union[StalledTicker, _Mapping]]] = ..., bursts: _Optional[_Iterable[_Union[Burst, _Mapping]]] = ..., refusing_for: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., scenario: _Optional[str] = ..., scenario_steps_done: _Optional[int] = ..., paused: _Optional[bool] = ...) -> None: ...
