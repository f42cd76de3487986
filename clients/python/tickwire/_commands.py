"""The `tickwire` command's subcommands, drawn with rich (the `cli` extra)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from google.protobuf.json_format import MessageToDict
from rich.console import Console
from rich.live import Live
from rich.table import Table

from tickwire import _convert
from tickwire._candle_commands import candles
from tickwire._client import Client
from tickwire._dashboard import Dashboard
from tickwire._scenario_commands import scenario
from tickwire.v1 import market_data_pb2 as pb

REFRESH_SECONDS = 0.125


def _client(args: argparse.Namespace, dashboard: Dashboard | None = None) -> Client:
    return Client(
        args.target,
        on_state=dashboard.on_state if dashboard else None,
        **_convert.command_line_options(args),
    )


async def watch(args: argparse.Namespace, console: Console) -> int:
    """Run the dashboard until Ctrl+C; reconnects are shown, not fatal."""
    dashboard = Dashboard(args.tickers, target=args.target, move_threshold=args.move)
    async with _client(args, dashboard) as client:
        subscription = client.subscribe(*args.tickers)
        with Live(dashboard.render(), console=console, auto_refresh=False) as live:

            async def refresh() -> None:
                while True:
                    dashboard.set_stats(subscription.stats)
                    dashboard.set_refused(subscription.rejected)
                    live.update(dashboard.render(), refresh=True)
                    await asyncio.sleep(REFRESH_SECONDS)

            painter = asyncio.create_task(refresh())
            try:
                async for update in subscription:
                    dashboard.apply(update)
            finally:
                painter.cancel()
                dashboard.set_stats(subscription.stats)
                dashboard.set_refused(subscription.rejected)
                live.update(dashboard.render(), refresh=True)
    return 0


async def snapshot(args: argparse.Namespace, console: Console) -> int:
    """Print the latest prices; exit 1 when a named ticker has none."""
    async with _client(args) as client:
        prices = await client.snapshot(*args.tickers)
    missing = [t for t in (x.strip().upper() for x in args.tickers) if t not in prices]
    if args.json:
        body = {t: MessageToDict(u, preserving_proto_field_name=True) for t, u in prices.items()}
        print(json.dumps(body, indent=2, sort_keys=True))
    else:
        table = Table("Ticker", "Price", "Change", "Change %", "Time", "Seq")
        for ticker, u in sorted(prices.items()):
            stamp = u.timestamp.ToDatetime().strftime("%H:%M:%S.%f")[:-3]
            table.add_row(
                ticker,
                f"{u.price:,.2f}",
                f"{u.change:+,.4f}",
                f"{u.change_percent:+.4f}%",
                stamp,
                str(u.sequence),
            )
        console.print(table)
    for ticker in missing:
        print(f"tickwire: no price for {ticker}", file=sys.stderr)
    return 1 if missing else 0


async def tickers(args: argparse.Namespace, console: Console) -> int:
    async with _client(args) as client:
        universe = await client.tickers()
    table = Table("Ticker", "Name", "Sector", "Seed price", "Active")
    for info in universe:
        table.add_row(
            info.ticker, info.name, info.sector, f"{info.seed_price:,.2f}", "yes" * info.active
        )
    console.print(table)
    return 0


async def status(args: argparse.Namespace, console: Console) -> int:
    async with _client(args) as client:
        market = await client.market_status()
    table = Table(show_header=False)
    table.add_row("market", pb.MarketState.Name(market.market).removeprefix("MARKET_STATE_"))
    table.add_row("source", market.source)
    table.add_row("state", pb.SourceState.Name(market.source_state).removeprefix("SOURCE_STATE_"))
    if market.message:
        table.add_row("message", market.message)
    table.add_row("server time", market.server_time.ToDatetime().isoformat() + "Z")
    console.print(table)
    return 0


COMMANDS = {
    "watch": watch,
    "snapshot": snapshot,
    "tickers": tickers,
    "status": status,
    "scenario": scenario,
    "candles": candles,
}
