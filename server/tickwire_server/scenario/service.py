"""tickwire.v1.ScenarioControl over `Controls`, and the runner that keeps one scenario going."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import DecodeError, Message
from google.protobuf.timestamp_pb2 import Timestamp

from tickwire.v1 import scenario_pb2 as spb
from tickwire_server import codec
from tickwire_server.domain import SourceState
from tickwire_server.scenario.controls import BadInput, Controls, NotPossible
from tickwire_server.scenario.script import Event, Scenario, ScenarioError, parse, run

log = logging.getLogger(__name__)

SERVICE_NAME = spb.DESCRIPTOR.services_by_name["ScenarioControl"].full_name
_MARKETS = {v: k for k, v in codec.MARKET_STATES.items()}
_SOURCE_STATES = {v: k for k, v in codec.SOURCE_STATES.items()}
_EVENT_KINDS = {
    "started": spb.SCENARIO_EVENT_KIND_STARTED,
    "step": spb.SCENARIO_EVENT_KIND_STEP,
    "finished": spb.SCENARIO_EVENT_KIND_FINISHED,
    "stopped": spb.SCENARIO_EVENT_KIND_STOPPED,
}

if TYPE_CHECKING:
    Context = grpc.aio.ServicerContext[Any, Any]


class ScenarioRunner:
    """Runs one scenario at a time; a new one replaces the one running.

    `start` runs a scenario in the background and returns a queue of its
    events (None ends it); `running` names the one running, `steps_done`
    counts its steps.
    """

    def __init__(self, controls: Controls) -> None:
        self._controls = controls
        self._task: asyncio.Task[None] | None = None
        self.running = ""
        self.steps_done = 0

    def start(self, scenario: Scenario) -> asyncio.Queue[Event | None]:
        self.stop(f"replaced by {scenario.name}")
        events: asyncio.Queue[Event | None] = asyncio.Queue(maxsize=1024)
        self._task = asyncio.create_task(self._run(scenario, events), name=scenario.name)
        return events

    def stop(self, why: str = "stopped") -> None:
        """Stop the running scenario, if any (its listener gets a last "stopped" event)."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel(why)

    async def close(self) -> None:
        task = self._task
        self.stop()
        if task is not None:
            await asyncio.wait([task])

    async def _run(self, scenario: Scenario, events: asyncio.Queue[Event | None]) -> None:
        self.running, self.steps_done = scenario.name, 0
        last = Event("stopped", 0.0, detail="stopped")

        def tell(event: Event | None) -> None:
            if events.full():  # a caller that does not read loses the oldest (the log has it)
                events.get_nowait()
            events.put_nowait(event)

        try:
            async for event in run(scenario, self._controls):
                last = event
                if event.kind == "step":
                    self.steps_done += 1
                log.info("scenario %s: %s %s %s", scenario.name, event.kind, event.op, event.detail)
                tell(event)
        except asyncio.CancelledError as exc:
            why = str(exc.args[0]) if exc.args else "stopped"
            tell(Event("stopped", last.at, detail=why))
            log.info("scenario %s: %s", scenario.name, why)
            raise
        finally:
            if self._task is None or self._task is asyncio.current_task():
                self.running = ""  # not replaced: nothing runs now
            tell(None)


def _unavailable(name: str) -> Callable[..., Awaitable[Any]]:
    async def unimplemented(request: Message, context: Context) -> Any:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, name)

    return unimplemented


class ScenarioControlService:
    """Implements tickwire.v1.ScenarioControl (see scenario.proto)."""

    def __init__(self, controls: Controls, runner: ScenarioRunner) -> None:
        self._c = controls
        self._runner = runner

    async def SetMarketState(
        self, request: spb.SetMarketStateRequest, context: Context
    ) -> spb.SetMarketStateResponse:
        market = _MARKETS.get(request.market)
        if market is None:
            raise BadInput("market must be MARKET_STATE_OPEN, _CLOSED or _EXTENDED_HOURS")
        status = self._c.set_market(market)
        return spb.SetMarketStateResponse(status=codec.market_status(status))

    async def PushPrice(
        self, request: spb.PushPriceRequest, context: Context
    ) -> spb.PushPriceResponse:
        bar: dict[str, float | None] = {
            name: getattr(request, name) if request.HasField(name) else None
            for name in ("open", "high", "low", "volume", "vwap", "transactions")
        }
        sequence = self._c.push(request.ticker, request.price, **bar)
        return spb.PushPriceResponse(sequence=sequence)

    async def StallTicker(
        self, request: spb.StallTickerRequest, context: Context
    ) -> spb.StallTickerResponse:
        self._c.stall(request.ticker, _seconds(request.stale_after, "stale_after"))
        return spb.StallTickerResponse()

    async def ResumeTicker(
        self, request: spb.ResumeTickerRequest, context: Context
    ) -> spb.ResumeTickerResponse:
        return spb.ResumeTickerResponse(sequence=self._c.resume(request.ticker))

    async def StartBurst(
        self, request: spb.StartBurstRequest, context: Context
    ) -> spb.StartBurstResponse:
        burst = self._c.burst(
            list(request.tickers), request.hz, _seconds(request.duration, "duration")
        )
        return spb.StartBurstResponse(ends_at=_timestamp(burst.ends_ns))

    async def DropStreams(
        self, request: spb.DropStreamsRequest, context: Context
    ) -> spb.DropStreamsResponse:
        dropped = self._c.drop(_seconds(request.refuse_for, "refuse_for"), request.principal)
        return spb.DropStreamsResponse(dropped=dropped)

    async def SetSourceState(
        self, request: spb.SetSourceStateRequest, context: Context
    ) -> spb.SetSourceStateResponse:
        state = _SOURCE_STATES.get(request.state, SourceState.STARTING)
        status = self._c.set_health(state, request.message)
        return spb.SetSourceStateResponse(status=codec.market_status(status))

    async def SkipSequence(
        self, request: spb.SkipSequenceRequest, context: Context
    ) -> spb.SkipSequenceResponse:
        return spb.SkipSequenceResponse(next_sequence=self._c.skip(request.ticker, request.count))

    async def Reset(self, request: spb.ResetRequest, context: Context) -> spb.ResetResponse:
        self._runner.stop("the scenario state was reset")
        self._c.reset()
        return spb.ResetResponse()

    async def SetPaused(
        self, request: spb.SetPausedRequest, context: Context
    ) -> spb.SetPausedResponse:
        self._c.set_paused(request.paused)
        return spb.SetPausedResponse()

    async def AdvanceClock(
        self, request: spb.AdvanceClockRequest, context: Context
    ) -> spb.AdvanceClockResponse:
        seconds = _seconds(request.by, "by")
        if seconds == 0.0:
            raise BadInput("by must be above zero")
        return spb.AdvanceClockResponse(now=_timestamp(self._c.advance_clock(seconds)))

    async def RunScenario(
        self, request: spb.RunScenarioRequest, context: Context
    ) -> AsyncIterator[spb.RunScenarioResponse]:
        try:
            scenario = parse(request.scenario, request.name or "<request>")
        except ScenarioError as exc:
            raise BadInput(str(exc)) from exc
        events = self._runner.start(scenario)
        finished = False
        try:
            while (event := await events.get()) is not None:
                yield spb.RunScenarioResponse(
                    kind=_EVENT_KINDS[event.kind],
                    step=event.step,
                    operation=event.op,
                    at=_duration(event.at),
                    detail=event.detail,
                    line=event.line,
                )
            finished = True
        finally:
            if not finished:  # the caller went away: so does its scenario
                self._runner.stop("the caller cancelled RunScenario")

    async def GetScenarioState(
        self, request: spb.GetScenarioStateRequest, context: Context
    ) -> spb.GetScenarioStateResponse:
        state = self._c.state()
        return spb.GetScenarioStateResponse(
            status=codec.market_status(state.status),
            clock=_timestamp(state.clock_ns),
            manual_clock=state.manual_clock,
            paused=state.paused,
            seed=state.seed,
            stalled=[
                spb.StalledTicker(ticker=t, since=_timestamp(s.since_ns), stale=s.stale)
                for t, s in sorted(state.stalled.items())
            ],
            bursts=[
                spb.Burst(tickers=b.tickers, hz=b.hz, ends_at=_timestamp(b.ends_ns))
                for b in state.bursts
            ],
            refusing_for=_duration(state.refusing_for),
            scenario=self._runner.running,
            scenario_steps_done=self._runner.steps_done,
        )


def _seconds(duration: Duration, name: str) -> float:
    nanos = duration.ToNanoseconds()
    if nanos < 0:
        raise BadInput(f"{name} must not be negative")
    return nanos / 1e9


def _duration(seconds: float) -> Duration:
    duration = Duration()
    duration.FromNanoseconds(round(seconds * 1e9))
    return duration


def _timestamp(ns: int) -> Timestamp:
    stamp = Timestamp()
    stamp.FromNanoseconds(ns)
    return stamp


def _served(method: Callable[..., Any], request_type: type[Message]) -> Callable[..., Any]:
    """`method` taking raw bytes, with every refusal a clear status.

    A request that does not parse, and `BadInput`, are INVALID_ARGUMENT;
    `NotPossible` is FAILED_PRECONDITION.
    """
    name = request_type.DESCRIPTOR.name

    async def fail(context: Context, exc: Exception) -> None:
        code = (
            grpc.StatusCode.FAILED_PRECONDITION
            if isinstance(exc, NotPossible)
            else grpc.StatusCode.INVALID_ARGUMENT
        )
        await context.abort(code, str(exc))

    def request_of(raw: bytes) -> Message:
        try:
            return request_type.FromString(raw)
        except DecodeError as exc:
            raise BadInput(f"malformed {name}: {exc}") from exc

    if inspect.isasyncgenfunction(method):

        async def stream(raw: bytes, context: Context) -> AsyncIterator[Message]:
            try:
                async for item in method(request_of(raw), context):
                    yield item
            except (BadInput, NotPossible) as exc:
                await fail(context, exc)

        return stream

    async def unary(raw: bytes, context: Context) -> Message:
        try:
            result: Message = await method(request_of(raw), context)
        except (BadInput, NotPossible) as exc:
            await fail(context, exc)
        return result

    return unary


def handler(
    service: ScenarioControlService | None, source_name: str, why: str = ""
) -> grpc.GenericRpcHandler[bytes, bytes]:
    """The handler table of ScenarioControl: `service`'s methods, or UNIMPLEMENTED ones.

    Without a service (the running source is not the synthetic one) every
    method answers UNIMPLEMENTED with `why`, by default naming the flag that serves it.
    """
    why = why or (
        f"ScenarioControl drives the synthetic and replay sources; this server runs the "
        f"{source_name} source (start it with --source synthetic)"
    )
    methods: dict[str, grpc.RpcMethodHandler[bytes, bytes]] = {}
    for method in spb.DESCRIPTOR.services_by_name["ScenarioControl"].methods:
        request = getattr(spb, method.input_type.name)
        response = getattr(spb, method.output_type.name)
        impl = (
            _served(getattr(service, method.name), request)
            if service is not None
            else _unavailable(why)
        )
        make = (
            grpc.unary_stream_rpc_method_handler
            if method.server_streaming
            else grpc.unary_unary_rpc_method_handler
        )
        methods[method.name] = make(
            impl,
            request_deserializer=None,
            response_serializer=response.SerializeToString,
        )
    return grpc.method_handlers_generic_handler(SERVICE_NAME, methods)
