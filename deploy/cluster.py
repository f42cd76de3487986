"""`make cluster`: NATS, two ingests (a leader and a standby), two edges and Envoy, until Ctrl+C.

    python deploy/cluster.py [--bus-port 4222] [--edge-ports 50061,50062]
        [--ingest-ports 50071,50072] [--port 8090] [--admin-port 9902]
        [-- tickwire-server args for the ingests, e.g. --source synthetic]

Clients dial Envoy (gRPC or grpc-web), which balances them over the edges
and takes a dead or cut-off edge out (deploy/envoy/cluster.yaml). Every
process logs to a file in a temporary folder, named at start and removed
at the end, where each ingest also keeps its candle history (in
production, both point TICKWIRE_HISTORY_URL at one PostgreSQL). Kill an
edge, or the leading ingest, and prices go on.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
ENVOY_CONFIG = ROOT / "deploy" / "envoy" / "cluster.yaml"
DEFAULTS = {"listen": 8090, "admin": 9902, "edge-1": 50061, "edge-2": 50062}


class Child:
    def __init__(self, name: str, argv: list[str], log: Path) -> None:
        self.name = name
        self.log = log
        with open(log, "ab") as out:
            self.process = subprocess.Popen(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                start_new_session=True,  # Ctrl+C reaches this script, which stops the rest in order
            )

    def wait_for(self, text: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log.read_text(errors="replace"):
                return
            if self.process.poll() is not None:
                raise SystemExit(f"{self.name} exited:\n{self.tail()}")
            time.sleep(0.05)
        raise SystemExit(f"{self.name} did not say {text!r} within {timeout:g} s:\n{self.tail()}")

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def envoy_config(listen: int, admin: int, edges: list[int]) -> str:
    text = ENVOY_CONFIG.read_text()
    for key, port in (
        ("listen", listen),
        ("admin", admin),
        ("edge-1", edges[0]),
        ("edge-2", edges[1]),
    ):
        old = f"port_value: {DEFAULTS[key]} }}"
        if text.count(old) != 1:
            raise SystemExit(f"{ENVOY_CONFIG} must name {old} once")
        text = text.replace(old, f"port_value: {port} }}")
    return text


def envoy_ready(admin: int, timeout: float = 30.0) -> None:
    """Return once Envoy's admin port answers /ready with LIVE (RuntimeError after `timeout`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{admin}/ready", timeout=1) as reply:
                if reply.read().strip() == b"LIVE":
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"envoy not ready within {timeout:g} s")


def ports(text: str, count: int) -> list[int]:
    values = [int(p) for p in text.split(",") if p.strip()]
    if len(values) != count:
        raise argparse.ArgumentTypeError(f"give {count} ports, comma-separated")
    return values


def main(argv: list[str]) -> int:
    split = argv.index("--") if "--" in argv else len(argv)
    parser = argparse.ArgumentParser(prog="make cluster", description=__doc__.split("\n")[0])
    parser.add_argument("--bus-port", type=int, default=4222)
    parser.add_argument("--edge-ports", type=lambda t: ports(t, 2), default=[50061, 50062])
    parser.add_argument("--ingest-ports", type=lambda t: ports(t, 2), default=[50071, 50072])
    parser.add_argument("--port", type=int, default=DEFAULTS["listen"], help="Envoy's, for clients")
    parser.add_argument("--admin-port", type=int, default=DEFAULTS["admin"])
    args = parser.parse_args(argv[:split])
    ingest_args = argv[split + 1 :]
    nats_bin = shutil.which("nats-server")
    if nats_bin is None:
        raise SystemExit("nats-server is not installed (`make cluster` installs Debian's package)")
    folder = Path(tempfile.mkdtemp(prefix="tickwire-cluster-"))
    children: list[Child] = []
    stopping = False

    def stop_all(*_: object) -> None:
        nonlocal stopping
        if stopping:
            return
        stopping = True
        print("\nstopping the cluster", flush=True)
        for child in reversed(children):
            child.stop()
        shutil.rmtree(folder, ignore_errors=True)
        raise SystemExit(0)

    signal.signal(signal.SIGINT, stop_all)
    signal.signal(signal.SIGTERM, stop_all)
    try:
        bus = f"nats://127.0.0.1:{args.bus_port}"
        nats = Child(
            "nats",
            [nats_bin, "-js", "-sd", str(folder / "jetstream"),
             "-a", "127.0.0.1", "-p", str(args.bus_port)],
            folder / "nats.log",
        )  # fmt: skip
        children.append(nats)
        nats.wait_for("Server is ready")
        server = str(BIN / "tickwire-server")
        for i, port in enumerate(args.ingest_ports, 1):
            ingest = Child(
                f"ingest-{i}",
                [server, "--role", "ingest", "--bus-url", bus, "--port", str(port),
                 "--node-name", f"ingest-{i}", "--data-dir", str(folder / f"ingest-{i}"),
                 *ingest_args],
                folder / f"ingest-{i}.log",
            )  # fmt: skip
            children.append(ingest)
            ingest.wait_for("tickwire serving on")
            if i == 1:
                ingest.wait_for("ingest ingest-1 leads")
        for i, port in enumerate(args.edge_ports, 1):
            edge = Child(
                f"edge-{i}",
                [server, "--role", "edge", "--bus-url", bus, "--port", str(port),
                 "--node-name", f"edge-{i}"],
                folder / f"edge-{i}.log",
            )  # fmt: skip
            children.append(edge)
            edge.wait_for("tickwire serving on")
        config = folder / "envoy.yaml"
        config.write_text(envoy_config(args.port, args.admin_port, args.edge_ports))
        envoy = Child(
            "envoy",
            [str(BIN / "envoy"), "-c", str(config), "--disable-hot-restart",
             "--log-level", "warn", "--concurrency", "1"],
            folder / "envoy.log",
        )  # fmt: skip
        children.append(envoy)
        envoy_ready(args.admin_port)
        pid = {child.name: child.process.pid for child in children}
        print(
            "tickwire cluster\n"
            f"  clients  127.0.0.1:{args.port} (Envoy: gRPC and grpc-web, over both edges)\n"
            f"  edge-1   127.0.0.1:{args.edge_ports[0]} pid {pid['edge-1']}\n"
            f"  edge-2   127.0.0.1:{args.edge_ports[1]} pid {pid['edge-2']}\n"
            f"  ingest-1 127.0.0.1:{args.ingest_ports[0]} pid {pid['ingest-1']} (leads)\n"
            f"  ingest-2 127.0.0.1:{args.ingest_ports[1]} pid {pid['ingest-2']} (standby)\n"
            f"  bus      {bus} pid {pid['nats']}\n"
            f"  logs     {folder}\n"
            f"Try: .venv/bin/tickwire watch AAPL --target 127.0.0.1:{args.port}\n"
            f"then kill {pid['edge-1']} (an edge), then kill {pid['ingest-1']} (the leader): "
            "prices go on.\nCtrl+C stops everything.",
            flush=True,
        )
        reported: set[str] = set()
        while True:
            time.sleep(0.5)
            for child in children:
                code = child.process.poll()
                if code is not None and child.name not in reported:
                    reported.add(child.name)
                    print(f"{child.name} exited ({code}); the rest go on", flush=True)
    except BaseException:  # a child that failed to start, Ctrl+C: stop what runs, then say why
        if not stopping:
            for child in reversed(children):
                child.stop()
            shutil.rmtree(folder, ignore_errors=True)
        raise


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
