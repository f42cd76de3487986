"""Fixtures of the reliability suite: one server per module, figures, and the attack check."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from soak.soaking import CANARY, FULL, RESULTS, Baseline, SoakServer

from tickwire.v1 import market_data_pb2 as pb
from tickwire.v1 import market_data_pb2_grpc as rpc


@pytest.fixture(scope="session")
def figures() -> Iterator[dict[str, Any]]:
    """Each attack's figures; written to bench/results/soak.json by a full run."""
    data: dict[str, Any] = {"scale": "full" if FULL else "short", "attacks": {}}
    started = time.monotonic()
    yield data
    data["seconds"] = round(time.monotonic() - started, 1)
    if FULL:
        RESULTS.write_text(json.dumps(data, indent=2) + "\n")


@pytest.fixture(scope="module")
def soak_server() -> Iterator[tuple[SoakServer, Baseline]]:
    server = SoakServer()
    try:
        with grpc.insecure_channel(server.target) as channel:  # warm: one call of each kind
            stub = rpc.MarketDataStub(channel)
            stub.GetSnapshot(pb.GetSnapshotRequest(tickers=[CANARY]), timeout=10)
            call = stub.StreamPrices(pb.StreamPricesRequest(tickers=[CANARY]), timeout=10)
            next(call)
            call.cancel()
        time.sleep(1)
        yield server, Baseline(server.usage())
    finally:
        server.stop()


@pytest.fixture
def attack(
    soak_server: tuple[SoakServer, Baseline],
    figures: dict[str, Any],
    request: pytest.FixtureRequest,
) -> Iterator[tuple[SoakServer, dict[str, Any]]]:
    """One attack's server and figures; afterwards, the server must be back to its baseline."""
    server, baseline = soak_server
    name = request.node.name.removeprefix("test_")
    record: dict[str, Any] = {"before": server.usage()}
    started = time.monotonic()
    yield server, record
    record["seconds"] = round(time.monotonic() - started, 1)
    record["peak_rss_mb"] = max(record.get("peak_rss_mb", 0.0), record["before"]["rss_mb"])
    record["after"] = baseline.settled(server)
    record["baseline"] = baseline.usage
    figures["attacks"][name] = record
