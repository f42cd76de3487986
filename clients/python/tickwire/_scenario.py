"""ScenarioClient and SyncScenarioClient: drive a server's synthetic source (ScenarioControl)."""

from __future__ import annotations

import datetime
from collections.abc import AsyncGenerator, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import grpc
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message

from tickwire import _convert
from tickwire._errors import ClosedError, RpcError
from tickwire._types import Target, target_of
from tickwire.v1 import market_data_pb2 as pb
from tickwire.v1 import scenario_pb2 as spb
from tickwire.v1 import scenario_pb2_grpc as srpc

Seconds = float | datetime.timedelta
_R = TypeVar("_R")

MARKETS = {
    "open": pb.MARKET_STATE_OPEN,
    "closed": pb.MARKET_STATE_CLOSED,
    "close": pb.MARKET_STATE_CLOSED,
    "extended": pb.MARKET_STATE_EXTENDED_HOURS,
}
SOURCE_STATES = {
    "healthy": pb.SOURCE_STATE_HEALTHY,
    "degraded": pb.SOURCE_STATE_DEGRADED,
    "error": pb.SOURCE_STATE_ERROR,
}


def _duration(seconds: Seconds) -> Duration:
    duration = Duration()
    if isinstance(seconds, datetime.timedelta):
        duration.FromTimedelta(seconds)
    else:
        duration.FromNanoseconds(round(seconds * 1e9))
    return duration


def _enum(value: str | int, names: Mapping[str, int], what: str) -> int:
    if isinstance(value, int):
        return value
    try:
        return names[value.lower()]
    except KeyError:
        raise ValueError(f"{what} is one of {', '.join(names)}, not {value!r}") from None


def _scenario_text(scenario: str | Path) -> tuple[str, str]:
    """(text, name): a Path is read and named by its file name; a string is the scenario."""
    if isinstance(scenario, Path):
        return scenario.read_text(encoding="utf-8"), scenario.name
    return scenario, ""


class _Requests:
    """One request per operation, shared by the async and the blocking client."""

    @staticmethod
    def market(market: str | int) -> spb.SetMarketStateRequest:
        return spb.SetMarketStateRequest(market=_enum(market, MARKETS, "market"))  # type: ignore[arg-type]

    @staticmethod
    def push(ticker: str, price: float, bar: dict[str, float | int | None]) -> spb.PushPriceRequest:
        """The request of `push`: `bar` is its keyword arguments (None: left out)."""
        fields = {name: value for name, value in bar.items() if value is not None}
        return spb.PushPriceRequest(ticker=ticker, price=price, **fields)  # type: ignore[arg-type]

    @staticmethod
    def stall(ticker: str, stale_after: Seconds) -> spb.StallTickerRequest:
        return spb.StallTickerRequest(ticker=ticker, stale_after=_duration(stale_after))

    @staticmethod
    def burst(tickers: tuple[str, ...], hz: float, duration: Seconds) -> spb.StartBurstRequest:
        return spb.StartBurstRequest(tickers=tickers, hz=hz, duration=_duration(duration))

    @staticmethod
    def drop(refuse_for: Seconds, principal: str) -> spb.DropStreamsRequest:
        return spb.DropStreamsRequest(refuse_for=_duration(refuse_for), principal=principal)

    @staticmethod
    def source_state(state: str | int, message: str) -> spb.SetSourceStateRequest:
        value = _enum(state, SOURCE_STATES, "state")
        return spb.SetSourceStateRequest(state=value, message=message)  # type: ignore[arg-type]

    @staticmethod
    def run(scenario: str | Path, name: str | None) -> spb.RunScenarioRequest:
        text, default_name = _scenario_text(scenario)
        return spb.RunScenarioRequest(scenario=text, name=name or default_name)


class ScenarioClient:
    """An asyncio client of ScenarioControl: one method per operation.

    ```python
    async with ScenarioClient("127.0.0.1:50051") as scenario:
        await scenario.set_market("open")
        sequence = await scenario.push("AAPL", 200.00)
        await scenario.drop(refuse_for=3)
    ```

    The server must run the synthetic source (`--source synthetic`); with
    auth on, the token needs role `admin`. Durations are seconds or
    `timedelta`s. Every failure raises `RpcError` with the server's status:
    INVALID_ARGUMENT for bad input (nothing changed), UNIMPLEMENTED for
    another source. The connection options are those of `Client`.
    """

    def __init__(
        self,
        target: Target = _convert.DEFAULT_TARGET,
        *,
        token: _convert.TokenSource = None,
        tls: bool = False,
        root_certificates: bytes | None = None,
        certificate_chain: bytes | None = None,
        private_key: bytes | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.target = target_of(target)
        self.timeout = timeout
        self._token = token
        self._channel = _convert.aio_channel(
            self.target,
            tls=tls,
            root_certificates=root_certificates,
            certificate_chain=certificate_chain,
            private_key=private_key,
        )
        self._stub = srpc.ScenarioControlStub(self._channel)
        self._closed = False

    async def set_market(self, market: str | int) -> pb.MarketStatus:
        """ "open", "closed" or "extended" (or a `MarketState`); the status streams now see."""
        response = await self._call(self._stub.SetMarketState, _Requests.market(market))
        status: pb.MarketStatus = response.status
        return status

    async def push(
        self,
        ticker: str,
        price: float,
        *,
        open: float | None = None,  # noqa: A002 - the bar field's name
        high: float | None = None,
        low: float | None = None,
        volume: float | None = None,
        vwap: float | None = None,
        transactions: int | None = None,
    ) -> int:
        """Publish `price` as `ticker`'s next update now; the sequence number it was given."""
        bar = {"open": open, "high": high, "low": low, "volume": volume, "vwap": vwap}
        request = _Requests.push(ticker, price, bar | {"transactions": transactions})
        response = await self._call(self._stub.PushPrice, request)
        return int(response.sequence)

    async def stall(self, ticker: str, *, stale_after: Seconds = 0.0) -> None:
        """Stop `ticker`'s updates; `stale_after` on, its price is re-sent DATA_STATE_STALE."""
        await self._call(self._stub.StallTicker, _Requests.stall(ticker, stale_after))

    async def resume(self, ticker: str) -> int:
        """Update `ticker` again; the sequence of the update that did it (0: was not stalled)."""
        response = await self._call(self._stub.ResumeTicker, spb.ResumeTickerRequest(ticker=ticker))
        return int(response.sequence)

    async def burst(self, *tickers: str, hz: float, duration: Seconds) -> datetime.datetime:
        """Tick `tickers` (none: all) `hz` times a second for `duration`; when it ends."""
        response = await self._call(self._stub.StartBurst, _Requests.burst(tickers, hz, duration))
        ends: datetime.datetime = response.ends_at.ToDatetime(datetime.UTC)
        return ends

    async def drop(self, *, refuse_for: Seconds = 0.0, principal: str = "") -> int:
        """End every stream (or `principal`'s) UNAVAILABLE; refuse new ones for `refuse_for`."""
        response = await self._call(self._stub.DropStreams, _Requests.drop(refuse_for, principal))
        return int(response.dropped)

    async def set_source_state(self, state: str | int, message: str = "") -> pb.MarketStatus:
        """ "healthy", "degraded" or "error" (prices stop and turn stale until healthy again)."""
        response = await self._call(
            self._stub.SetSourceState, _Requests.source_state(state, message)
        )
        status: pb.MarketStatus = response.status
        return status

    async def skip(self, ticker: str, count: int = 1) -> int:
        """Skip `count` sequence numbers of `ticker`; the number its next update carries."""
        request = spb.SkipSequenceRequest(ticker=ticker, count=count)
        response = await self._call(self._stub.SkipSequence, request)
        return int(response.next_sequence)

    async def reset(self) -> None:
        """Back to the seed state (sequences keep rising)."""
        await self._call(self._stub.Reset, spb.ResetRequest())

    async def set_paused(self, paused: bool = True) -> None:
        """Stop the source's clock (`False`: let it run again)."""
        await self._call(self._stub.SetPaused, spb.SetPausedRequest(paused=paused))

    async def advance(self, seconds: Seconds) -> datetime.datetime:
        """Move a manual clock forward (`--synthetic-clock manual`); its new time."""
        request = spb.AdvanceClockRequest(by=_duration(seconds))
        response = await self._call(self._stub.AdvanceClock, request)
        now: datetime.datetime = response.now.ToDatetime(datetime.UTC)
        return now

    async def state(self) -> spb.GetScenarioStateResponse:
        """What is in force now: status, clock, stalls, bursts, refusals, the running scenario."""
        response: spb.GetScenarioStateResponse = await self._call(
            self._stub.GetScenarioState, spb.GetScenarioStateRequest()
        )
        return response

    async def run(
        self, scenario: str | Path, *, name: str | None = None
    ) -> AsyncGenerator[spb.RunScenarioResponse, None]:
        """Run a scenario (its text, or a `Path` to read); yield its progress events.

        The server stops the scenario when the iteration is abandoned.
        """
        if self._closed:
            raise ClosedError("the client is closed")
        metadata = await _convert.token_metadata(self._token)
        call = self._stub.RunScenario(_Requests.run(scenario, name), metadata=metadata)
        try:
            async for event in call:
                yield event
        except grpc.aio.AioRpcError as error:
            raise RpcError.from_grpc(error) from None
        finally:
            call.cancel()

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self._channel.close(None)

    async def __aenter__(self) -> ScenarioClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _call(self, method: Callable[..., Any], request: Message) -> Any:
        if self._closed:
            raise ClosedError("the client is closed")
        try:
            metadata = await _convert.token_metadata(self._token)
            return await method(request, timeout=self.timeout, metadata=metadata)
        except grpc.aio.AioRpcError as error:
            raise RpcError.from_grpc(error) from None


class SyncScenarioClient:
    """The blocking ScenarioClient, for scripts and test fixtures; the same methods.

    ```python
    with SyncScenarioClient("127.0.0.1:50051") as scenario:
        scenario.push("AAPL", 200.00)
    ```

    A token function must be a plain one here.
    """

    def __init__(
        self,
        target: Target = _convert.DEFAULT_TARGET,
        *,
        token: str | Callable[[], str] | None = None,
        tls: bool = False,
        root_certificates: bytes | None = None,
        certificate_chain: bytes | None = None,
        private_key: bytes | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.target = target_of(target)
        self.timeout = timeout
        self._token = token
        self._channel = _convert.sync_channel(
            self.target,
            tls=tls,
            root_certificates=root_certificates,
            certificate_chain=certificate_chain,
            private_key=private_key,
        )
        self._stub = srpc.ScenarioControlStub(self._channel)
        self._closed = False

    def set_market(self, market: str | int) -> pb.MarketStatus:
        status: pb.MarketStatus = self._call(
            self._stub.SetMarketState, _Requests.market(market)
        ).status
        return status

    def push(
        self,
        ticker: str,
        price: float,
        *,
        open: float | None = None,  # noqa: A002 - the bar field's name
        high: float | None = None,
        low: float | None = None,
        volume: float | None = None,
        vwap: float | None = None,
        transactions: int | None = None,
    ) -> int:
        bar = {"open": open, "high": high, "low": low, "volume": volume, "vwap": vwap}
        request = _Requests.push(ticker, price, bar | {"transactions": transactions})
        return int(self._call(self._stub.PushPrice, request).sequence)

    def stall(self, ticker: str, *, stale_after: Seconds = 0.0) -> None:
        self._call(self._stub.StallTicker, _Requests.stall(ticker, stale_after))

    def resume(self, ticker: str) -> int:
        request = spb.ResumeTickerRequest(ticker=ticker)
        return int(self._call(self._stub.ResumeTicker, request).sequence)

    def burst(self, *tickers: str, hz: float, duration: Seconds) -> datetime.datetime:
        response = self._call(self._stub.StartBurst, _Requests.burst(tickers, hz, duration))
        ends: datetime.datetime = response.ends_at.ToDatetime(datetime.UTC)
        return ends

    def drop(self, *, refuse_for: Seconds = 0.0, principal: str = "") -> int:
        return int(
            self._call(self._stub.DropStreams, _Requests.drop(refuse_for, principal)).dropped
        )

    def set_source_state(self, state: str | int, message: str = "") -> pb.MarketStatus:
        request = _Requests.source_state(state, message)
        status: pb.MarketStatus = self._call(self._stub.SetSourceState, request).status
        return status

    def skip(self, ticker: str, count: int = 1) -> int:
        request = spb.SkipSequenceRequest(ticker=ticker, count=count)
        return int(self._call(self._stub.SkipSequence, request).next_sequence)

    def reset(self) -> None:
        self._call(self._stub.Reset, spb.ResetRequest())

    def set_paused(self, paused: bool = True) -> None:
        self._call(self._stub.SetPaused, spb.SetPausedRequest(paused=paused))

    def advance(self, seconds: Seconds) -> datetime.datetime:
        response = self._call(
            self._stub.AdvanceClock, spb.AdvanceClockRequest(by=_duration(seconds))
        )
        now: datetime.datetime = response.now.ToDatetime(datetime.UTC)
        return now

    def state(self) -> spb.GetScenarioStateResponse:
        response: spb.GetScenarioStateResponse = self._call(
            self._stub.GetScenarioState, spb.GetScenarioStateRequest()
        )
        return response

    def run(
        self, scenario: str | Path, *, name: str | None = None
    ) -> Iterator[spb.RunScenarioResponse]:
        """Run a scenario; yield its progress events (closing the iterator stops it)."""
        if self._closed:
            raise ClosedError("the client is closed")
        call = self._stub.RunScenario(_Requests.run(scenario, name), metadata=self._metadata())
        try:
            yield from call
        except grpc.RpcError as error:
            raise RpcError.from_grpc(error) from None
        finally:
            call.cancel()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._channel.close()

    def __enter__(self) -> SyncScenarioClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _metadata(self) -> tuple[tuple[str, str], ...]:
        token = self._token() if callable(self._token) else self._token
        return _convert.metadata(token)

    def _call(self, method: Callable[..., _R], request: Message) -> _R:
        if self._closed:
            raise ClosedError("the client is closed")
        try:
            return method(request, timeout=self.timeout, metadata=self._metadata())
        except grpc.RpcError as error:
            raise RpcError.from_grpc(error) from None
