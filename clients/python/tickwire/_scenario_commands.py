"""`tickwire scenario ...`: one subcommand per ScenarioControl operation.

The parser needs argparse only; the commands print with rich (the `cli` extra).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import TYPE_CHECKING

from tickwire import _convert
from tickwire._scenario import ScenarioClient
from tickwire.v1 import market_data_pb2 as pb
from tickwire.v1 import scenario_pb2 as spb

if TYPE_CHECKING:
    from rich.console import Console

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h)?")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def duration(text: str) -> float:
    """Seconds from "5", "5s", "500ms", "1.5m" or "1h" (an argparse type)."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration such as 5s, 500ms or 1m")
    return float(match[1]) * _UNITS[match[2]]


def add_parser(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    """Add `scenario` and its operations to the `tickwire` command's subparsers."""
    scenario = commands.add_parser(
        "scenario", help="drive a synthetic source (ScenarioControl; needs role admin)"
    )
    ops = scenario.add_subparsers(dest="operation", required=True)
    for market in ("open", "close", "extended"):
        ops.add_parser(market, parents=[common], help=f"set the market {market}")
    push = ops.add_parser("push", parents=[common], help="publish an exact price now")
    push.add_argument("ticker")
    push.add_argument("price", type=float)
    push.add_argument("--volume", type=float)
    stall = ops.add_parser("stall", parents=[common], help="stop a ticker; stale after a while")
    stall.add_argument("ticker")
    stall.add_argument("--stale-after", type=duration, default=0.0, metavar="DURATION")
    resume = ops.add_parser("resume", parents=[common], help="undo stall")
    resume.add_argument("ticker")
    burst = ops.add_parser("burst", parents=[common], help="tick faster for a while")
    burst.add_argument("tickers", nargs="*", help="none: every ticker")
    burst.add_argument("--hz", type=float, required=True)
    burst.add_argument("--for", dest="duration", type=duration, required=True, metavar="DURATION")
    drop = ops.add_parser("drop", parents=[common], help="end every stream UNAVAILABLE")
    drop.add_argument("--refuse-for", type=duration, default=0.0, metavar="DURATION")
    drop.add_argument("--principal", default="", help="only this principal's streams")
    fault = ops.add_parser(
        "fault", parents=[common], help="set the source healthy, degraded or error"
    )
    fault.add_argument("state", choices=["healthy", "degraded", "error"])
    fault.add_argument("message", nargs="?", default="")
    skip = ops.add_parser("skip", parents=[common], help="skip sequence numbers (a gap)")
    skip.add_argument("ticker")
    skip.add_argument("count", type=int, nargs="?", default=1)
    ops.add_parser("reset", parents=[common], help="back to the seed state")
    pause = ops.add_parser("pause", parents=[common], help="stop the source's clock")
    pause.add_argument("--off", action="store_true", help="let it run again")
    advance = ops.add_parser("advance", parents=[common], help="step a manual clock")
    advance.add_argument("by", type=duration, metavar="DURATION")
    run = ops.add_parser("run", parents=[common], help="run a scenario file, showing its steps")
    run.add_argument("file", type=Path)
    ops.add_parser("state", parents=[common], help="what is in force now")


def _client(args: argparse.Namespace) -> ScenarioClient:
    return ScenarioClient(args.target, **_convert.command_line_options(args))


def _status(status: pb.MarketStatus) -> str:
    market = pb.MarketState.Name(status.market).removeprefix("MARKET_STATE_").lower()
    state = pb.SourceState.Name(status.source_state).removeprefix("SOURCE_STATE_").lower()
    return f"market {market}, source {state}" + (f" ({status.message})" if status.message else "")


async def scenario(args: argparse.Namespace, console: Console) -> int:
    """Carry out one operation and print what the server answered."""
    op = args.operation
    async with _client(args) as client:
        if op in ("open", "close", "extended"):
            console.print(_status(await client.set_market(op)))
        elif op == "push":
            sequence = await client.push(args.ticker, args.price, volume=args.volume)
            console.print(f"{args.ticker.upper()} {args.price:,.2f} sequence {sequence}")
        elif op == "stall":
            await client.stall(args.ticker, stale_after=args.stale_after)
            console.print(f"{args.ticker.upper()} stalled, stale after {args.stale_after:g}s")
        elif op == "resume":
            sequence = await client.resume(args.ticker)
            console.print(
                f"{args.ticker.upper()} resumed"
                + (f", sequence {sequence}" if sequence else " (was not stalled)")
            )
        elif op == "burst":
            ends = await client.burst(*args.tickers, hz=args.hz, duration=args.duration)
            console.print(f"burst at {args.hz:g} Hz until {ends:%H:%M:%S} UTC")
        elif op == "drop":
            dropped = await client.drop(refuse_for=args.refuse_for, principal=args.principal)
            console.print(f"{dropped} streams dropped, refusing new ones for {args.refuse_for:g}s")
        elif op == "fault":
            console.print(_status(await client.set_source_state(args.state, args.message)))
        elif op == "skip":
            console.print(f"next sequence {await client.skip(args.ticker, args.count)}")
        elif op == "reset":
            await client.reset()
            console.print("back to the seed state")
        elif op == "pause":
            await client.set_paused(not args.off)
            console.print("running" if args.off else "paused")
        elif op == "advance":
            console.print(f"clock at {await client.advance(args.by):%Y-%m-%d %H:%M:%S} UTC")
        elif op == "run":
            return await _run(client, args.file, console)
        else:
            _print_state(await client.state(), console)
    return 0


async def _run(client: ScenarioClient, file: Path, console: Console) -> int:
    """Run `file`, a line per event; 1 when it stopped before the end."""
    kind = spb.ScenarioEventKind
    last = spb.SCENARIO_EVENT_KIND_UNSPECIFIED
    async for event in client.run(file):
        last = event.kind
        at = event.at.ToTimedelta().total_seconds()
        name = kind.Name(event.kind).removeprefix("SCENARIO_EVENT_KIND_").lower()
        where = f"line {event.line} " if event.line else ""
        console.print(f"{at:8.3f}s {name:<8} {where}{event.operation} {event.detail}".rstrip())
    return 0 if last == spb.SCENARIO_EVENT_KIND_FINISHED else 1


def _print_state(state: spb.GetScenarioStateResponse, console: Console) -> None:
    from rich.table import Table

    table = Table(show_header=False)
    table.add_row("status", _status(state.status))
    clock = "manual" if state.manual_clock else "real"
    paused = ", paused" if state.paused else ""
    table.add_row("clock", f"{state.clock.ToDatetime():%Y-%m-%d %H:%M:%S} UTC ({clock}{paused})")
    table.add_row("seed", str(state.seed))
    for stall in state.stalled:
        table.add_row("stalled", stall.ticker + (" (stale)" if stall.stale else ""))
    for burst in state.bursts:
        until = f"{burst.ends_at.ToDatetime():%H:%M:%S}"
        table.add_row("burst", f"{', '.join(burst.tickers)} at {burst.hz:g} Hz until {until}")
    refusing = state.refusing_for.ToTimedelta().total_seconds()
    if refusing:
        table.add_row("refusing", f"new streams for {refusing:.1f}s more")
    if state.scenario:
        table.add_row("scenario", f"{state.scenario} ({state.scenario_steps_done} steps done)")
    console.print(table)
