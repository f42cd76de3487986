"""Controls: the scenario operations, checked, over the synthetic source, the hub and the cache.

ScenarioControl's methods and scenario files both come here, so there is
one way to push a tick, stall a ticker or drop every stream. Input that
cannot work raises `BadInput` (INVALID_ARGUMENT) before anything changes;
an operation the running source cannot do raises `NotPossible`
(FAILED_PRECONDITION).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

from tickwire_server import symbols
from tickwire_server.cache import PriceCache
from tickwire_server.domain import MarketState, Quote, SourceState, SourceStatus
from tickwire_server.errors import EndReason, StreamEnded, TickwireError
from tickwire_server.gate import StreamGate
from tickwire_server.hub import Hub
from tickwire_server.sources.synthetic import Burst, Stall, SyntheticSource

MAX_PRICE = 1e9  # dollars: above it a pushed price is a typo, not a test
MAX_HZ = 1000.0
MAX_BURST_S = 3600.0
MAX_WAIT_S = 86_400.0  # stale_after, refuse_for, a clock step
MAX_SKIP = 1_000_000
BAR_FIELDS = ("open", "high", "low", "volume", "vwap", "transactions")
HEALTH_STATES = (SourceState.HEALTHY, SourceState.DEGRADED, SourceState.ERROR)


class BadInput(TickwireError, ValueError):
    """The operation's input cannot work; nothing changed."""


class NotPossible(TickwireError):
    """The running source cannot do this operation."""


@dataclass(frozen=True, slots=True)
class ScenarioState:
    """What is in force now (GetScenarioState)."""

    status: SourceStatus
    clock_ns: int
    manual_clock: bool
    paused: bool
    seed: int
    stalled: dict[str, Stall]
    bursts: list[Burst]
    refusing_for: float


class Controls:
    """The scenario operations on a running server's synthetic source.

    Every method checks its input first and raises `BadInput` with what was
    wrong; tickers are normalised as subscriptions normalise them.
    """

    def __init__(
        self, source: SyntheticSource, hub: Hub, cache: PriceCache, gate: StreamGate
    ) -> None:
        self.source = source
        self._hub = hub
        self._cache = cache
        self._gate = gate

    def set_market(self, market: MarketState) -> SourceStatus:
        return self.source.set_market(market)

    def push(self, ticker: str, price: float, **bar: float | None) -> int:
        """Publish `price` for `ticker` now; the sequence number it was given."""
        quote = Quote(ticker, price, self.source.clock.now_ns())
        for name, value in bar.items():
            if name not in BAR_FIELDS:
                raise BadInput(f"unknown bar field {name!r}: one of {', '.join(BAR_FIELDS)}")
            setattr(quote, name, value)
        return self.push_quotes([quote])[0]

    def push_quotes(self, quotes: Sequence[Quote]) -> list[int]:
        """Publish `quotes` in one batch (bar fields left out are derived); their sequences."""
        checked = []
        for quote in quotes:
            ticker = self._ticker(quote.ticker, joining=True)
            _price("price", quote.price)
            for name in BAR_FIELDS:
                value = getattr(quote, name)
                if value is None:
                    continue
                if name in ("volume", "transactions"):
                    if not (math.isfinite(value) and value >= 0):
                        raise BadInput(f"{name} must be a finite number, zero or more, not {value}")
                else:
                    _price(name, value)
            checked.append(dataclasses.replace(quote, ticker=ticker))
        try:
            self.source.push_quotes(checked)
        except ValueError as exc:
            raise BadInput(str(exc)) from exc
        sequences = []
        for quote in checked:
            entry = self._cache.get(quote.ticker)
            assert entry is not None  # published on this thread: the cache holds it now
            sequences.append(entry.sequence)
        return sequences

    def reject(self, tickers: Sequence[str], reason: str) -> None:
        """Make the source report `tickers` unknown to their subscribers."""
        self.source.reject([symbols.normalize(t) for t in tickers], reason)

    def stall(self, ticker: str, stale_after: float) -> None:
        ticker = self._ticker(ticker)
        self.source.stall(ticker, _seconds("stale_after", stale_after, MAX_WAIT_S))

    def resume(self, ticker: str) -> int:
        """Update `ticker` again; the sequence of the update that did it (0: it was not stalled)."""
        ticker = self._ticker(ticker)
        if not self.source.resume(ticker):
            return 0
        entry = self._cache.get(ticker)
        return entry.sequence if entry is not None else 0

    def burst(self, tickers: Sequence[str], hz: float, duration: float) -> Burst:
        names = list(dict.fromkeys(self._ticker(t) for t in tickers))
        if not (math.isfinite(hz) and 0.0 < hz <= MAX_HZ):
            raise BadInput(f"hz must be above 0 and at most {MAX_HZ:g}, not {hz}")
        duration = _seconds("duration", duration, MAX_BURST_S)
        if duration == 0.0:
            raise BadInput("a burst needs a duration above zero")
        try:
            return self.source.burst(names, hz, duration)
        except NotImplementedError as exc:
            raise NotPossible(str(exc)) from exc

    def drop(self, refuse_for: float = 0.0, principal: str = "") -> int:
        """End every stream (or `principal`'s) with UNAVAILABLE; refuse new ones for a while."""
        refuse_for = _seconds("refuse_for", refuse_for, MAX_WAIT_S)
        return drop_streams(self._hub, self._gate, refuse_for, principal)

    def set_health(
        self, state: SourceState, message: str = "", market: MarketState | None = None
    ) -> SourceStatus:
        if state not in HEALTH_STATES:
            names = ", ".join(s.name for s in HEALTH_STATES)
            raise BadInput(f"the source state must be one of {names}, not {state.name}")
        if len(message) > 200:
            raise BadInput(f"the message has {len(message)} characters; at most 200")
        return self.source.set_health(state, message, market)

    def skip(self, ticker: str, count: int) -> int:
        """Skip `count` sequence numbers of `ticker`; the number its next update carries."""
        ticker = self._ticker(ticker)
        if not 1 <= count <= MAX_SKIP:
            raise BadInput(f"count must be 1 to {MAX_SKIP:,}, not {count}")
        self.source.advance()  # what was due goes out before the gap
        return self._cache.skip(ticker, count)

    def reset(self) -> None:
        self._gate.clear()
        self.source.reset()

    def set_paused(self, paused: bool) -> None:
        self.source.set_paused(paused)

    def advance_clock(self, seconds: float) -> int:
        seconds = _seconds("the step", seconds, MAX_WAIT_S)
        if not self.source.clock.manual:
            raise NotPossible(
                "the source runs on the real clock; AdvanceClock needs --synthetic-clock manual"
            )
        return self.source.advance_clock(seconds)

    def state(self) -> ScenarioState:
        source = self.source
        return ScenarioState(
            status=source.status(),
            clock_ns=source.clock.now_ns(),
            manual_clock=source.clock.manual,
            paused=source.clock.paused,
            seed=source.seed,
            stalled=source.market.stalls(),
            bursts=source.market.bursts(),
            refusing_for=self._gate.refusing(),
        )

    def _ticker(self, raw: str, *, joining: bool = False) -> str:
        """`raw` normalised, when the source has it (or, `joining`, an open universe takes it)."""
        ticker = symbols.normalize(raw)
        if not symbols.is_valid(ticker):
            raise BadInput(f"{symbols.echo(raw)!r}: {symbols.invalid_reason(raw)}")
        if ticker in self.source.market or (joining and self.source.open_universe):
            return ticker
        shown = ", ".join(sorted(self.source.market.tickers)[:10])
        raise BadInput(
            f"unknown ticker {ticker}: not in the synthetic universe ({shown}, ...); "
            "set TICKWIRE_SYNTHETIC_TICKERS or --synthetic-open-universe"
        )


def _price(name: str, value: float) -> None:
    if not (math.isfinite(value) and 0.0 < value <= MAX_PRICE):
        raise BadInput(
            f"{name} must be a finite number above 0 and at most {MAX_PRICE:g}, not {value}"
        )


def _seconds(name: str, value: float, most: float) -> float:
    if not (math.isfinite(value) and 0.0 <= value <= most):
        raise BadInput(f"{name} must be 0 to {most:g} seconds, not {value}")
    return value


def drop_streams(hub: Hub, gate: StreamGate, refuse_for: float, principal: str = "") -> int:
    """End every stream of `hub` (or `principal`'s) with UNAVAILABLE; how many.

    New streams are refused for `refuse_for` seconds (checked by the caller).
    An edge does this when the leader forwards it a `DropStreams`.
    """
    if refuse_for:
        gate.refuse(refuse_for, principal)
    whose = f"{principal}'s streams" if principal else "every stream"
    ended = StreamEnded(EndReason.DROPPED, f"{whose} dropped by ScenarioControl.DropStreams")
    return hub.drop(ended, principal)
