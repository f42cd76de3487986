"""The `tickwire` command: a live dashboard, snapshots, tickers, status, and scenario control."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections.abc import Sequence

from tickwire._errors import TickwireError

NEEDS_EXTRA = "tickwire: the tickwire command needs the cli extra: pip install 'tickwire[cli]'"


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--target", default="127.0.0.1:50051", help="server address")
    common.add_argument(
        "--token",
        default=os.environ.get("TICKWIRE_TOKEN") or None,
        help="bearer token sent with every call (default: $TICKWIRE_TOKEN)",
    )
    common.add_argument("--tls", action="store_true", help="connect with TLS")
    common.add_argument("--ca", metavar="FILE", help="PEM roots to trust (implies --tls)")
    common.add_argument("--cert", metavar="FILE", help="PEM client certificate, for mutual TLS")
    common.add_argument("--key", metavar="FILE", help="PEM key of --cert")
    common.add_argument("--timeout", type=float, default=10.0, help="seconds per call")

    parser = argparse.ArgumentParser(prog="tickwire", description="tickwire market-data client")
    commands = parser.add_subparsers(dest="command", required=True)
    watch = commands.add_parser("watch", parents=[common], help="live dashboard")
    watch.add_argument("tickers", nargs="+")
    watch.add_argument(
        "--move", type=float, default=0.5, help="log single moves of at least this many %%"
    )
    snapshot = commands.add_parser("snapshot", parents=[common], help="latest prices")
    snapshot.add_argument("tickers", nargs="*", help="none: every ticker with a price")
    snapshot.add_argument("--json", action="store_true", help="print JSON for scripts")
    commands.add_parser("tickers", parents=[common], help="the source's universe")
    commands.add_parser("status", parents=[common], help="market and source status")
    from tickwire._scenario_commands import add_parser  # argparse only: no extra needed

    add_parser(commands, common)
    from tickwire import _candle_args

    _candle_args.add_parser(commands, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `tickwire` console script."""
    args = _parser().parse_args(argv)
    try:
        from rich.console import Console

        from tickwire._commands import COMMANDS
    except ModuleNotFoundError as error:
        if (error.name or "").partition(".")[0] != "rich":
            raise
        print(NEEDS_EXTRA, file=sys.stderr)
        return 2
    if (args.cert is None) != (args.key is None):
        print("tickwire: --cert and --key go together (mutual TLS)", file=sys.stderr)
        return 2
    console = Console()
    try:
        with contextlib.suppress(KeyboardInterrupt):
            return asyncio.run(COMMANDS[args.command](args, console))
        return 0
    except TickwireError as error:
        print(f"tickwire: {args.target}: {error}", file=sys.stderr)
        return 1
    except OSError as error:  # a --ca, --cert or --key file
        print(f"tickwire: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
