"""The replay source: a recording (see `tickwire_server.recording`) played back live.

It plays through the same path as any source: its updates are published
to the hub, which gives them sequence numbers of its own (a replay is a
new session: they start at 1, as after a restart). Updates keep their
recorded timestamps. Statuses are replayed where they were recorded. At
`speed` 1 the file plays at the pace it was recorded, at 10 ten times
faster; at `math.inf` ("max") as fast as the server takes it, a chunk at a
time. The scenario controls work during a replay (pause, push, stall,
faults, market state, drops), except bursts.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tickwire.v1 import market_data_pb2 as pb
from tickwire_server import codec, recording
from tickwire_server.domain import MarketState, Quote, SourceState, SourceStatus, TickerMeta
from tickwire_server.errors import ConfigError
from tickwire_server.sources.base import PriceSink
from tickwire_server.sources.synthetic import Burst, Clock, Stall, Stalls, SyntheticSource

log = logging.getLogger(__name__)

CHUNK = 256  # messages played per step at max speed, between which clients are served
BAR_FIELDS = ("open", "high", "low", "close", "volume", "vwap", "transactions")
_MARKETS = {v: k for k, v in codec.MARKET_STATES.items()}
_STATES = {v: k for k, v in codec.SOURCE_STATES.items()}
# Statuses a replay plays: the recording server's own start and stop are not the session's.
_PLAYED = {pb.SOURCE_STATE_HEALTHY, pb.SOURCE_STATE_DEGRADED, pb.SOURCE_STATE_ERROR}


@dataclass(frozen=True, slots=True)
class Contents:
    """What a first pass over a recording found."""

    messages: int
    tickers: frozenset[str]
    first_ns: int
    last_ns: int


def scan(path: Path) -> Contents:
    """Read the recording at `path` through once (ConfigError when it is not one)."""
    messages, tickers, times = 0, set[str](), []
    for message in recording.read(path):
        messages += 1
        for update in message.prices.updates:
            tickers.add(update.ticker)
        if message.prices.updates:
            times.append(message.prices.updates[0].timestamp.ToNanoseconds())
    if not tickers:
        raise ConfigError(f"the recording {path} holds no price")
    return Contents(messages, frozenset(tickers), min(times), max(times))


@dataclass(slots=True)
class _Event:
    at_ns: int  # on the recording's time
    quotes: list[Quote]
    stale: list[str]
    status: SourceStatus | None


class ReplayMarket:
    """The recording on the source's clock, with the controls a replay allows.

    It offers what `SyntheticSource` asks of its market; `due_events` gives
    the recorded events the clock has passed, in file order.
    """

    def __init__(self, path: Path, contents: Contents, *, speed: float, start_ns: int) -> None:
        if not (speed > 0):
            raise ValueError(f"the replay speed must be above 0, got {speed}")
        self.path = path
        self.contents = contents
        self.speed = speed
        self.hz = 1.0
        self.producing = True
        self.thin = False
        self.finished = False
        self._messages: Iterator[pb.SubscribeResponse] = recording.read(path)
        self._next: _Event | None = None
        self._clock_start = start_ns
        self._last: dict[str, Quote] = {}
        self._stalls = Stalls()
        self._at_ns = contents.first_ns  # the recording's time of the last message read
        self._read_ahead()

    def __contains__(self, ticker: object) -> bool:
        return ticker in self.contents.tickers

    @property
    def tickers(self) -> list[str]:
        """The tickers played so far (those with a price); `in` asks of the whole recording."""
        return sorted(self._last)

    @property
    def joined(self) -> list[str]:
        return []

    def join(self, ticker: str) -> None:
        raise KeyError(ticker)  # a replay's universe is its recording's

    # Time -----------------------------------------------------------------

    def due_events(self, now_ns: int) -> list[_Event]:
        """The events whose time the clock has passed (a chunk at a time at max speed)."""
        out: list[_Event] = []
        while self._next is not None and (
            (math.isinf(self.speed) and len(out) < CHUNK) or self._clock_ns(self._next) <= now_ns
        ):
            event = self._next
            self._read_ahead()
            if not self.producing and event.quotes:
                continue  # a closed market or a faulty source: those updates are lost
            event.quotes = [q for q in event.quotes if q.ticker not in self._stalls]
            for quote in event.quotes:
                self._last[quote.ticker] = quote
            out.append(event)
        if self._next is None and not self.finished:
            self.finished = True
            log.info("replay of %s finished", self.path)
        return out

    def stale_due(self, now_ns: int) -> list[str]:
        return self._stalls.stale_due(now_ns)

    def next_event_ns(self) -> int | None:
        times = self._stalls.next_stale_ns()
        if self._next is not None:
            times.append(
                self._clock_start if math.isinf(self.speed) else self._clock_ns(self._next)
            )
        return min(times, default=None)

    def _clock_ns(self, event: _Event) -> int:
        return self._clock_start + round((event.at_ns - self.contents.first_ns) / self.speed)

    def _read_ahead(self) -> None:
        """Take the next message a replay plays into `_next` (None at the end)."""
        self._next = None
        for message in self._messages:
            kind = message.WhichOneof("response")
            if kind == "prices" and message.prices.updates:
                updates = message.prices.updates
                self._at_ns = updates[0].timestamp.ToNanoseconds()
                live = [_quote(u) for u in updates if u.state != pb.DATA_STATE_STALE]
                stale = [u.ticker for u in updates if u.state == pb.DATA_STATE_STALE]
                self._next = _Event(self._at_ns, live, stale, None)
                return
            if kind == "market_status" and message.market_status.source_state in _PLAYED:
                s = message.market_status
                status = SourceStatus(
                    "replay",
                    _MARKETS.get(s.market, MarketState.OPEN),
                    _STATES.get(s.source_state, SourceState.HEALTHY),
                    s.message,
                )
                self._next = _Event(self._at_ns, [], [], status)  # where it was recorded
                return

    # Controls -------------------------------------------------------------

    def push(self, ticker: str, price: float, timestamp_ns: int, **bar: float | None) -> Quote:
        last = self._last.get(ticker)
        open_ = bar.get("open") or (last.price if last else price)
        quote = Quote(ticker, price, timestamp_ns, open=open_, close=price)
        quote.high = bar.get("high") or max(open_, price)
        quote.low = bar.get("low") or min(open_, price)
        if not quote.low <= min(open_, price) <= max(open_, price) <= quote.high:
            raise ValueError(f"the bar does not hold together: low {quote.low}, high {quote.high}")
        quote.volume, quote.vwap = bar.get("volume"), bar.get("vwap")
        transactions = bar.get("transactions")
        quote.transactions = None if transactions is None else round(transactions)
        self._last[ticker] = quote
        return quote

    def current(self, ticker: str, timestamp_ns: int) -> Quote:
        last = self._last.get(ticker)
        price = last.price if last else 0.0
        return Quote(ticker, price, timestamp_ns, close=price)

    def stall(self, ticker: str, now_ns: int, stale_after_ns: int) -> None:
        self._stalls.stall(ticker, now_ns, stale_after_ns)

    def resume(self, ticker: str) -> bool:
        return self._stalls.resume(ticker)

    def stalls(self) -> dict[str, Stall]:
        return dict(self._stalls)

    def burst(self, tickers: Sequence[str], hz: float, now_ns: int, duration_ns: int) -> Burst:
        raise NotImplementedError("a replay plays its recording: bursts need --source synthetic")

    def bursts(self) -> list[Burst]:
        return []


def _quote(update: pb.PriceUpdate) -> Quote:
    quote = Quote(update.ticker, update.price, update.timestamp.ToNanoseconds())
    for name in BAR_FIELDS:
        if update.HasField(name):
            setattr(quote, name, getattr(update, name))
    return quote


class ReplaySource(SyntheticSource):
    """A PriceSource that plays a recording, driven by the same controls as the synthetic one."""

    name = "replay"

    def __init__(self, path: Path, *, speed: float = 1.0, clock: Clock | None = None) -> None:
        super().__init__(tickers=(), clock=clock)
        self.path = path
        self.speed = speed
        self.contents = scan(path)
        self.market = self._new_market()
        log.info(
            "replaying %s: %d messages, %d tickers, %.1f s recorded, at %s speed",
            path,
            self.contents.messages,
            len(self.contents.tickers),
            (self.contents.last_ns - self.contents.first_ns) / 1e9,
            "max" if math.isinf(speed) else f"{speed:g}x",
        )

    def _new_market(self) -> ReplayMarket:
        return ReplayMarket(
            self.path, self.contents, speed=self.speed, start_ns=self.clock.now_ns()
        )

    @property
    def replay(self) -> ReplayMarket:
        market = self.market
        assert isinstance(market, ReplayMarket)
        return market

    async def start(self, sink: PriceSink) -> None:
        if self.running:
            return
        self.market = self._new_market()
        self._begin(sink, [], self._run())

    def knows(self, ticker: str) -> bool:
        return ticker in self.replay

    def tickers(self) -> list[TickerMeta]:
        return [TickerMeta(t, active=True) for t in sorted(self.contents.tickers)]

    def advance(self) -> None:
        """Play every recorded event the clock has passed."""
        if self._sink is None:
            return
        now = self.clock.now_ns()
        for event in self.replay.due_events(now):
            if event.quotes:
                self._sink.publish(event.quotes)
            if event.stale:
                self._sink.mark_stale(event.stale)
            if event.status is not None:
                self._set_status(event.status.state, event.status.market, event.status.message)
        stale = self.replay.stale_due(now)
        if stale:
            self._sink.mark_stale(stale)

    def reset(self) -> None:
        """Play the recording again from its start (open and healthy)."""
        self.clock.resume()
        self.market = self._new_market()
        self._set_status(SourceState.HEALTHY, MarketState.OPEN, "")
        self._wake.set()

    def _delay(self) -> float | None:
        if self.clock.manual or self.clock.paused:
            return None
        due = self.replay.next_event_ns()
        if due is None:
            return None  # the end: only the controls move anything now
        return max(0.0, (due - self.clock.now_ns()) / 1e9)
