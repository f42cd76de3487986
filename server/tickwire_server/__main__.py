"""`tickwire-server` / `python -m tickwire_server`: serve until SIGINT or SIGTERM.

SIGHUP re-reads the TLS certificate; `tickwire-server token` mints a dev token.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import signal
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from tickwire_server.app import TickwireServer, raise_open_file_limit, tune_gc
from tickwire_server.config import Settings, load
from tickwire_server.errors import TickwireError

log = logging.getLogger("tickwire_server")


async def serve(settings: Settings) -> None:
    """Run a server until SIGINT or SIGTERM, then shut it down gracefully."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    before, after = raise_open_file_limit()
    async with TickwireServer(settings) as server:
        # Said once serving, so that a failed start stays one line.
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        log.info("open files: soft limit %d, now %d (hard limit %d)", before, after, hard)
        loop.add_signal_handler(signal.SIGHUP, server.reload_tls)
        tune_gc()
        print(f"tickwire serving on {server.target} (source: {server.source.name})", flush=True)
        await stop.wait()
        log.info("signal received, shutting down")


def configure_logging(level: str) -> None:
    """Log to stderr at `level`; the `websockets` library never below INFO.

    At DEBUG websockets logs every frame, and the first one the Massive client
    sends holds the API key. The Massive source hands websockets a logger that
    drops those dumps; this is the second lock, for any connection made without it.
    """
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    root = logging.getLogger().getEffectiveLevel()
    logging.getLogger("websockets").setLevel(max(logging.INFO, root))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script (`tickwire-server token ...` mints a dev token)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["token"]:
        from tickwire_server import token_command

        return token_command.main(args[1:])
    try:
        settings = load(args)
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"]) or "settings"
            print(f"tickwire-server: {where}: {error['msg']}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(settings))
    except TickwireError as exc:
        print(f"tickwire-server: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
