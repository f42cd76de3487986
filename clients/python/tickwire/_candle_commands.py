"""`tickwire candles`: stored and forming bars as a table, JSON, or a chart in the terminal."""

from __future__ import annotations

import argparse
import datetime as dt
import json

from google.protobuf.json_format import MessageToDict
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from tickwire import _convert
from tickwire._client import Client
from tickwire.v1 import candles_pb2 as cpb

CHART_ROWS = 14


async def candles(args: argparse.Namespace, console: Console) -> int:
    """Print the bars; exit 1 when the range holds none."""
    end = args.end or dt.datetime.now(dt.UTC)
    start = args.start or end - (args.last or dt.timedelta(hours=1))
    async with Client(args.target, **_convert.command_line_options(args)) as client:
        bars = await client.candles(args.ticker, args.interval, start, end)
    if args.json:
        for bar in bars:
            print(json.dumps(MessageToDict(bar, preserving_proto_field_name=True), sort_keys=True))
    elif args.chart:
        console.print(chart(bars, console.width))
    else:
        console.print(table(bars))
    if not bars:
        console.print(
            f"no {args.interval} bars of {args.ticker.upper()} from {start:%Y-%m-%d %H:%M} UTC"
        )
        return 1
    return 0


def table(bars: list[cpb.Candle]) -> Table:
    first = bars[0].interval if bars else cpb.CANDLE_INTERVAL_1_MIN
    shape = (
        "%Y-%m-%d"
        if first >= cpb.CANDLE_INTERVAL_1_DAY
        else "%m-%d %H:%M"
        if first >= cpb.CANDLE_INTERVAL_1_MIN
        else "%m-%d %H:%M:%S"
    )
    out = Table(box=box.SIMPLE_HEAD, pad_edge=False, caption_justify="left")
    out.add_column("Start (UTC)", no_wrap=True)
    for name in ("Open", "High", "Low", "Close", "Volume", "VWAP", "Trades"):
        out.add_column(name, justify="right", no_wrap=True)
    for bar in bars:
        style = "green" if bar.close >= bar.open else "red"
        mark = "*" if not bar.complete else ("'" * min(bar.revision, 3))
        start = bar.start.ToDatetime()
        out.add_row(
            start.strftime(shape) + mark,
            f"{bar.open:,.2f}",
            f"{bar.high:,.2f}",
            f"{bar.low:,.2f}",
            Text(f"{bar.close:,.2f}", style=style),
            compact(bar.volume),
            f"{bar.vwap:,.2f}",
            f"{bar.transactions:,}",
        )
    if bars:
        out.caption = "* still forming; ' corrected by a late price (one per revision)"
    return out


def compact(value: float) -> str:
    """12,345 -> 12.3k; 4,636,600 -> 4.64M."""
    for size, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.3g}{unit}"
    return f"{value:,.0f}"


def chart(bars: list[cpb.Candle], width: int, rows: int = CHART_ROWS) -> Text:
    """The last bars that fit `width`, as candles: │ the high-low range, █ the body."""
    shown = bars[-max(1, width - 12) :]
    out = Text()
    if not shown:
        return out
    top = max(b.high for b in shown)
    bottom = min(b.low for b in shown)
    scale = (top - bottom) / (rows - 1) if top > bottom else 1.0

    def row_of(price: float) -> int:
        return round((top - price) / scale)

    for r in range(rows):
        label = top - r * scale
        out.append(f"{label:>10.2f} ", style="dim")
        for bar in shown:
            high, low = row_of(bar.high), row_of(bar.low)
            body_top, body_bottom = sorted((row_of(bar.open), row_of(bar.close)))
            style = "green" if bar.close >= bar.open else "red"
            if body_top <= r <= body_bottom:
                out.append("█", style=style)
            elif high <= r <= low:
                out.append("│", style=style)
            else:
                out.append(" ")
        out.append("\n")
    first, last = shown[0].start.ToDatetime(), shown[-1].start.ToDatetime()
    out.append(
        f"{'':>11}{first:%m-%d %H:%M} … {last:%m-%d %H:%M} UTC, {len(shown)} bars", style="dim"
    )
    return out
