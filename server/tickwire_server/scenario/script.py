"""Scenario files: a timeline of operations in YAML (or JSON), parsed and run against `Controls`.

```yaml
name: stale ticker
steps:
  - market: open
  - at: 2s
    push: {ticker: AAPL, price: 200.00}
  - stall: {ticker: AAPL, stale_after: 3s}
  - wait: 10s
  - resume: AAPL
  - repeat: 3            # or: forever
    steps:
      - burst: {tickers: [NVDA], hz: 50, for: 2s}
      - wait: 5s
```

A step is a mapping with one operation and, optionally, `at` (its offset
from the start of the scenario or of the current repeat round; offsets
never go back) and `comment`. A step with no `at` runs right after the one
before. Durations are numbers of seconds or strings such as "500ms", "2s",
"1.5m", "1h". Errors name the scenario, the line and the problem.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tickwire_server.domain import MarketState, SourceState
from tickwire_server.errors import TickwireError
from tickwire_server.scenario.controls import BadInput, Controls

MAX_TEXT = 1 << 20  # bytes of scenario text
MAX_STEPS = 10_000  # steps in one file, counting those inside repeats once
MAX_REPEAT = 1_000_000

MARKETS = {"open": MarketState.OPEN, "closed": MarketState.CLOSED, "close": MarketState.CLOSED}
MARKETS |= {"extended": MarketState.EXTENDED_HOURS, "extended-hours": MarketState.EXTENDED_HOURS}
HEALTH = {"healthy": SourceState.HEALTHY, "degraded": SourceState.DEGRADED}
HEALTH |= {"error": SourceState.ERROR}

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


class ScenarioError(TickwireError, ValueError):
    """A scenario that cannot run: where (`name:line`) and why."""

    def __init__(self, name: str, line: int, problem: str) -> None:
        super().__init__(f"{name}:{line}: {problem}" if line else f"{name}: {problem}")
        self.name = name
        self.line = line
        self.problem = problem


@dataclass(frozen=True, slots=True)
class Step:
    """One operation of a scenario (`op`, with its `args`), or a `repeat` of `steps`."""

    number: int  # its place in the file, from 1
    line: int
    op: str
    args: dict[str, Any] = field(default_factory=dict)
    at: float | None = None
    steps: tuple[Step, ...] = ()
    times: int | None = None  # a repeat's rounds; None: for ever


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str  # its own `name`, else where it came from
    steps: tuple[Step, ...]
    origin: str  # the file (or the name it was sent under), for errors


@dataclass(frozen=True, slots=True)
class Event:
    """Progress of a running scenario: what RunScenario streams."""

    kind: str  # "started", "step", "finished", "stopped"
    at: float  # seconds from the scenario's start
    step: int = 0
    line: int = 0
    op: str = ""
    detail: str = ""


class _Loader(yaml.SafeLoader):
    """A safe loader whose mappings remember the line they start on."""


class _Located(dict[str, Any]):
    line = 0


def _mapping(loader: _Loader, node: yaml.MappingNode) -> _Located:
    loader.flatten_mapping(node)
    located = _Located(loader.construct_pairs(node, deep=True))
    located.line = node.start_mark.line + 1
    return located


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def load(path: Path | str) -> Scenario:
    """Parse the scenario file at `path` (named by its path in errors)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(str(path), 0, f"cannot read it: {exc}") from exc
    return parse(text, str(path))


def parse(text: str, name: str = "<scenario>") -> Scenario:
    """Parse scenario `text` (YAML or JSON); `name` is what errors and events call it.

    Raises:
        ScenarioError: the text does not parse, or a step cannot work.
    """
    if len(text.encode()) > MAX_TEXT:
        raise ScenarioError(name, 0, f"larger than {MAX_TEXT:,} bytes")
    try:
        document = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        raise ScenarioError(name, line, f"not valid YAML: {exc.problem or exc}") from exc
    except yaml.YAMLError as exc:
        raise ScenarioError(name, 0, f"not valid YAML: {exc}") from exc
    if isinstance(document, list):
        document = _Located(steps=document)
        document.line = 1
    if not isinstance(document, _Located) or "steps" not in document:
        raise ScenarioError(name, 1, "a scenario is a mapping with a list of `steps`")
    extra = set(document) - {"name", "steps", "comment", "description"}
    if extra:
        raise ScenarioError(name, document.line, f"unknown key {sorted(extra)[0]!r}")
    title = str(document.get("name") or name)
    counter = _Counter()
    steps = _steps(document["steps"], name, document.line, counter)
    if not steps:
        raise ScenarioError(name, document.line, "the scenario has no steps")
    return Scenario(title, steps, name)


class _Counter:
    def __init__(self) -> None:
        self.count = 0

    def next(self, name: str, line: int) -> int:
        self.count += 1
        if self.count > MAX_STEPS:
            raise ScenarioError(name, line, f"more than {MAX_STEPS:,} steps")
        return self.count


def _steps(raw: Any, name: str, line: int, counter: _Counter) -> tuple[Step, ...]:
    if not isinstance(raw, list):
        raise ScenarioError(name, line, "`steps` must be a list")
    steps: list[Step] = []
    last_at = 0.0
    for item in raw:
        if not isinstance(item, _Located):
            raise ScenarioError(name, line, f"a step is a mapping, not {item!r}")
        step = _step(item, name, counter)
        if step.at is not None:
            if step.at < last_at:
                raise ScenarioError(
                    name, step.line, f"at {step.at:g}s comes before an earlier step's {last_at:g}s"
                )
            last_at = step.at
        steps.append(step)
    return tuple(steps)


OPERATIONS = (
    "market",
    "push",
    "stall",
    "resume",
    "burst",
    "drop",
    "fault",
    "skip",
    "reset",
    "pause",
    "wait",
    "repeat",
)


def _step(item: _Located, name: str, counter: _Counter) -> Step:
    line = item.line
    ops = [key for key in item if key in OPERATIONS]
    extra = set(item) - {*OPERATIONS, "at", "comment", "steps"}
    if extra:
        wrong = sorted(extra)[0]
        raise ScenarioError(
            name, line, f"unknown operation {wrong!r} (one of {', '.join(OPERATIONS)})"
        )
    if len(ops) != 1:
        problem = "names no operation" if not ops else f"names {len(ops)} operations"
        raise ScenarioError(name, line, f"a step {problem}: one of {', '.join(OPERATIONS)}")
    op = ops[0]
    number = counter.next(name, line)
    at = _duration(item["at"], name, line, "at") if "at" in item else None
    if "steps" in item and op != "repeat":
        raise ScenarioError(name, line, "only a repeat has `steps`")
    try:
        if op == "repeat":
            times = _times(item["repeat"])
            inner = _steps(item.get("steps"), name, line, counter)
            if not inner:
                raise BadInput("a repeat needs `steps`")
            if times is None and not _takes_time(inner):
                raise BadInput("a repeat for ever needs a wait or an at among its steps")
            return Step(number, line, op, at=at, steps=inner, times=times)
        return Step(number, line, op, _arguments(op, item[op], name, line), at=at)
    except BadInput as exc:
        raise ScenarioError(name, line, str(exc)) from exc


def _takes_time(steps: tuple[Step, ...]) -> bool:
    return any(
        (s.op == "wait" and s.args["seconds"] > 0) or (s.at or 0) > 0 or _takes_time(s.steps)
        for s in steps
    )


def _times(value: Any) -> int | None:
    if value in ("forever", "for ever"):
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_REPEAT:
        raise BadInput(f"repeat takes a count from 1 to {MAX_REPEAT:,} or 'forever', not {value!r}")
    return value


def _arguments(op: str, value: Any, name: str, line: int) -> dict[str, Any]:
    """The operation's arguments, checked for shape (Controls checks the values)."""
    if op == "market":
        return {"market": _choice(value, MARKETS, "market")}
    if op == "push":
        args = _fields(
            value, {"ticker", "price", "open", "high", "low", "volume", "vwap", "transactions"}
        )
        _require(args, "push", "ticker", "price")
        return {k: v if k == "ticker" else _number(v, k) for k, v in args.items()}
    if op in ("stall", "resume"):
        args = (
            {"ticker": value}
            if isinstance(value, str)
            else _fields(value, {"ticker", "stale_after"})
        )
        _require(args, op, "ticker")
        if op == "stall":
            args["stale_after"] = _duration(args.get("stale_after", 0), name, line, "stale_after")
        return args
    if op == "burst":
        args = _fields(value, {"tickers", "hz", "for"})
        _require(args, "burst", "hz", "for")
        tickers = args.get("tickers", [])
        tickers = [tickers] if isinstance(tickers, str) else tickers
        if not isinstance(tickers, list) or not all(isinstance(t, str) for t in tickers):
            raise BadInput("burst tickers are a list of symbols")
        return {
            "tickers": tickers,
            "hz": _number(args["hz"], "hz"),
            "duration": _duration(args["for"], name, line, "for"),
        }
    if op == "drop":
        args = {} if value in (None, True) else _fields(value, {"refuse_for", "principal"})
        return {
            "refuse_for": _duration(args.get("refuse_for", 0), name, line, "refuse_for"),
            "principal": str(args.get("principal", "")),
        }
    if op == "fault":
        args = {"state": value} if isinstance(value, str) else _fields(value, {"state", "message"})
        _require(args, "fault", "state")
        return {
            "state": _choice(args["state"], HEALTH, "state"),
            "message": str(args.get("message", "")),
        }
    if op == "skip":
        args = _fields(value, {"ticker", "count"})
        _require(args, "skip", "ticker")
        count = args.get("count", 1)
        if isinstance(count, bool) or not isinstance(count, int):
            raise BadInput(f"skip count is a whole number, not {count!r}")
        return {"ticker": args["ticker"], "count": count}
    if op == "reset":
        return {}
    if op == "pause":
        if not isinstance(value, bool):
            raise BadInput(f"pause takes true or false, not {value!r}")
        return {"paused": value}
    assert op == "wait"
    return {"seconds": _duration(value, name, line, "wait")}


def _fields(value: Any, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadInput(f"takes a mapping of {', '.join(sorted(allowed))}, not {value!r}")
    extra = set(value) - allowed
    if extra:
        raise BadInput(f"unknown field {sorted(extra)[0]!r} (one of {', '.join(sorted(allowed))})")
    return dict(value)


def _require(args: dict[str, Any], op: str, *names: str) -> None:
    for key in names:
        if key not in args:
            raise BadInput(f"{op} needs {key}")


def _choice(value: Any, choices: dict[str, Any], what: str) -> Any:
    key = str(value).lower()
    if key not in choices:
        raise BadInput(f"{what} is one of {', '.join(choices)}, not {value!r}")
    return choices[key]


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadInput(f"{what} is a number, not {value!r}")
    return float(value)


def _duration(value: Any, name: str, line: int, what: str) -> float:
    """Seconds from 2, 2.5, "2s", "500ms", "1.5m" or "1h"."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.fullmatch(value.strip())):
        seconds = float(match[1]) * _UNITS[match[2]]
    else:
        raise ScenarioError(
            name, line, f"{what} is a duration such as 2s, 500ms, 1.5m or 1h, not {value!r}"
        )
    if not (math.isfinite(seconds) and seconds >= 0):
        raise ScenarioError(name, line, f"{what} must not be negative, not {value!r}")
    return seconds


class Timeline:
    """Where a running scenario reads and waits for time.

    On the real clock it sleeps; on a manual clock it moves the clock
    itself, so a scenario runs as fast as the machine and gives the same
    series every time.
    """

    def __init__(self, controls: Controls) -> None:
        self._controls = controls
        self._manual = controls.source.clock.manual
        self._loop = asyncio.get_running_loop()
        self._start = self._now()

    def _now(self) -> float:
        if self._manual:
            return self._controls.source.clock.now_ns() / 1e9
        return self._loop.time()

    def elapsed(self) -> float:
        return self._now() - self._start

    async def sleep_until(self, elapsed: float) -> None:
        seconds = elapsed - self.elapsed()
        if seconds <= 0:
            await asyncio.sleep(0)
        elif self._manual:
            self._controls.advance_clock(seconds)
            await asyncio.sleep(0)  # let the streams take what the step produced
        else:
            await asyncio.sleep(seconds)


async def run(scenario: Scenario, controls: Controls) -> AsyncIterator[Event]:
    """Carry out `scenario`; yield an event as it starts, after each step and at the end.

    A step whose input the controls refuse stops the scenario: the last
    event is then "stopped", naming the step's line and the reason.
    """
    timeline = Timeline(controls)
    count = _count(scenario.steps)
    yield Event("started", 0.0, detail=f"{scenario.name}: {count} steps")
    try:
        async for event in _run_steps(scenario, scenario.steps, controls, timeline, 0.0):
            yield event
    except TickwireError as exc:
        yield Event("stopped", timeline.elapsed(), detail=str(exc))
        return
    yield Event("finished", timeline.elapsed(), detail=scenario.name)


def _count(steps: tuple[Step, ...]) -> int:
    return sum(1 + _count(s.steps) for s in steps)


async def _run_steps(
    scenario: Scenario,
    steps: tuple[Step, ...],
    controls: Controls,
    timeline: Timeline,
    start: float,
) -> AsyncIterator[Event]:
    for step in steps:
        if step.at is not None:
            await timeline.sleep_until(start + step.at)
        if step.op == "repeat":
            rounds = 0
            while step.times is None or rounds < step.times:
                rounds += 1
                inner = _run_steps(scenario, step.steps, controls, timeline, timeline.elapsed())
                async for event in inner:
                    yield event
            continue
        if step.op == "wait":
            await timeline.sleep_until(timeline.elapsed() + step.args["seconds"])
            detail = f"{step.args['seconds']:g}s"
        else:
            try:
                detail = _APPLY[step.op](controls, step.args)
            except BadInput as exc:
                raise ScenarioError(scenario.origin, step.line, f"{step.op}: {exc}") from exc
        yield Event("step", timeline.elapsed(), step.number, step.line, step.op, detail)


def _push(c: Controls, a: dict[str, Any]) -> str:
    bar = {k: v for k, v in a.items() if k not in ("ticker", "price")}
    sequence = c.push(a["ticker"], a["price"], **bar)
    return f"{a['ticker']} {a['price']:.2f} (sequence {sequence})"


def _stall(c: Controls, a: dict[str, Any]) -> str:
    c.stall(a["ticker"], a["stale_after"])
    return f"{a['ticker']}, stale after {a['stale_after']:g}s"


def _burst(c: Controls, a: dict[str, Any]) -> str:
    burst = c.burst(a["tickers"], a["hz"], a["duration"])
    return f"{', '.join(burst.tickers)} at {a['hz']:g} Hz for {a['duration']:g}s"


def _drop(c: Controls, a: dict[str, Any]) -> str:
    dropped = c.drop(a["refuse_for"], a["principal"])
    return f"{dropped} streams dropped, refusing for {a['refuse_for']:g}s"


def _market(c: Controls, a: dict[str, Any]) -> str:
    return c.set_market(a["market"]).market.value


def _fault(c: Controls, a: dict[str, Any]) -> str:
    return c.set_health(a["state"], a["message"]).state.value


def _skip(c: Controls, a: dict[str, Any]) -> str:
    return f"{a['ticker']} next sequence {c.skip(a['ticker'], a['count'])}"


def _resume(c: Controls, a: dict[str, Any]) -> str:
    return f"{a['ticker']} (sequence {c.resume(a['ticker'])})"


def _reset(c: Controls, a: dict[str, Any]) -> str:
    c.reset()
    return "seed state"


def _pause(c: Controls, a: dict[str, Any]) -> str:
    c.set_paused(a["paused"])
    return "paused" if a["paused"] else "running"


_APPLY: dict[str, Callable[[Controls, dict[str, Any]], str]] = {
    "market": _market,
    "push": _push,
    "stall": _stall,
    "resume": _resume,
    "burst": _burst,
    "drop": _drop,
    "fault": _fault,
    "skip": _skip,
    "reset": _reset,
    "pause": _pause,
}
