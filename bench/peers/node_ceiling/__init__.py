"""The Node.js ceiling: the Python ceiling's frames served by @grpc/grpc-js (`server.mjs`).

A team that cares about raw fan-out might write its server in Node. This
peer says how far that goes on the same machine: the ring of batches the
Python ceiling pre-encodes (tickwire's own encoder, sequences in the
thousands) is written to a file, `server.mjs` frames each stream's tickers
from it, checks at start that its framing matches the Python side's byte
for byte, and writes flat out with backpressure. The harness starts
`node` itself, so the process whose CPU and memory it reads is Node's own.
Its packages come pinned from this directory's package-lock.json
(`make bench` installs them). It serves flat out only: paced frames must
carry fresh timestamps, which only the Python encoder writes.
"""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from bench.feed import Feed
from bench.peers.ceiling import RING, encode_batches
from tickwire_server import codec

if TYPE_CHECKING:  # the harness's own packages (psutil) are not needed to write frames
    from bench.proc import Proc, Procs

HERE = Path(__file__).resolve().parent
SERVER = HERE / "server.mjs"


def write_frames(path: Path, tickers: int) -> None:
    """The ring of `tickers` batches, one base64 element per ticker, and the check frame."""
    feed = Feed(tickers)
    ring = encode_batches(feed, RING)
    names = list(feed.tickers)
    data = {
        "tickers": names,
        "ring": [[base64.b64encode(batch[t]).decode() for t in names] for batch in ring],
        "check": base64.b64encode(codec.prices_frame(ring[0][t] for t in names)).decode(),
    }
    path.write_text(json.dumps(data))


def start(procs: Procs, tmp: str, tickers: int, hz: float, max_seconds: float) -> Proc:
    """Start the Node ceiling over `tickers`; its ready line names the target."""
    if hz > 0:
        raise ValueError("the Node ceiling serves flat out only (hz 0)")
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is not installed")
    if not (HERE / "node_modules" / "@grpc" / "grpc-js").is_dir():
        raise RuntimeError(f"{HERE} has no node_modules: `make bench` installs them")
    frames = Path(tmp) / "node-frames.json"
    write_frames(frames, tickers)
    return procs.command(
        node, SERVER, "--frames", frames, "--max-seconds", max_seconds, name="node"
    )
