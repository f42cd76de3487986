"""Blocking calls, for scripts and notebooks: `python snapshot_sync.py [TARGET]`."""

from __future__ import annotations

import sys

from tickwire import SyncClient

target = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:50051"
with SyncClient(target) as client:
    status = client.market_status()
    print(f"source {status.source}, market state {status.market}")
    for ticker, update in sorted(client.snapshot("AAPL", "MSFT", "NVDA").items()):
        print(f"{ticker:6} {update.price:10.2f} (sequence {update.sequence})")
    for info in client.tickers()[:3]:
        print(f"{info.ticker:6} {info.name} [{info.sector}]")
