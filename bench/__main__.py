"""`python -m bench`: run every scenario against tickwire and its peers, report.

    python -m bench                 # full run (about 20 minutes), writes bench/results/latest.*
    python -m bench --quick         # a few seconds per scenario, writes quick.*
    python -m bench --only fanout,latency   # writes partial.*

Servers and clients run as child processes in their own process groups on
127.0.0.1 and are killed when a scenario ends, fails or is interrupted. Run
nothing else heavy meanwhile: on a 2-core machine only ratios from one run
are trustworthy.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from bench import report
from bench.scenarios import SCENARIOS

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds per scenario")
    parser.add_argument("--only", default="", help="comma-separated scenarios to run")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write results")
    args = parser.parse_args(argv)
    names = [n for n in args.only.split(",") if n] or list(SCENARIOS)
    unknown = set(names) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    data: dict[str, Any] = {"machine": report.machine(), "quick": args.quick}
    failed = False
    started = time.monotonic()
    for name in names:
        t0 = time.monotonic()
        print(f"== {name} ...", flush=True)
        try:
            data[name] = SCENARIOS[name](args.quick)
        except Exception as exc:  # one scenario failing must not lose the others
            traceback.print_exc()
            data[name] = {"error": f"{type(exc).__name__}: {exc}"}
            failed = True
        print(f"   {name} done in {time.monotonic() - t0:.0f} s", flush=True)
    data["machine"]["loadavg_end"] = report.loadavg()
    data["targets"] = report.targets(data)
    data["seconds"] = round(time.monotonic() - started)
    # Only a full run replaces latest.*: it is what the README quotes.
    stem = "quick" if args.quick else "partial" if args.only else "latest"
    json_path, png_path = report.write(data, args.out, stem)
    print()
    print(report.table(data))
    print(f"\nwrote {json_path} and {png_path} in {data['seconds']} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
