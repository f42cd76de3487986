"""Prometheus metrics: plain counters the server keeps anyway, exported on their own port.

The hot path only adds to plain integers (`ServerStats`), once per batch or
per flush, never per update; `Metrics` turns them into Prometheus families
when a scrape asks (a custom collector), beside a sampled histogram of
delivery lag. Names are fixed: dashboards and alerts are built on them.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from tickwire_server.domain import SourceState
from tickwire_server.stats import CONNECTION_CLOSE_REASONS, END_REASONS, ServerStats

log = logging.getLogger(__name__)

LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _Collector(Collector):
    """Reads the stats, the hub and the source when a scrape asks."""

    def __init__(
        self,
        stats: ServerStats,
        hub: Any,
        source: Any,
        loop: asyncio.AbstractEventLoop,
        bus: Any = None,
    ) -> None:
        self._stats, self._hub, self._source, self._loop = stats, hub, source, loop
        self._bus = bus  # the ingest's or edge's side of the bus, in a cluster

    def collect(self) -> Iterator[Any]:
        s = self._stats
        open_ = GaugeMetricFamily("tickwire_streams_open", "Streams open now", labels=["rpc"])
        for rpc in ("Subscribe", "StreamPrices", "StreamCandles"):
            open_.add_metric([rpc], s.streams_open[rpc])
        yield open_
        yield CounterMetricFamily(
            "tickwire_streams_opened", "Streams opened", value=s.streams_opened
        )
        ended = CounterMetricFamily(
            "tickwire_streams_ended", "Streams ended, by reason", labels=["reason"]
        )
        for reason in sorted(set(END_REASONS.values())):
            ended.add_metric([reason], s.streams_ended[reason])
        yield ended
        for name, value, text in (
            ("updates_accepted", s.updates_accepted, "Price updates accepted from the source"),
            ("updates_sent", s.updates_sent, "Price updates written to streams"),
            ("updates_conflated", s.updates_conflated, "Updates replaced before they were sent"),
            ("frames_sent", s.frames_sent, "Messages written to streams"),
            ("bytes_sent", s.bytes_sent, "Bytes of messages written to streams"),
        ):
            yield CounterMetricFamily(f"tickwire_{name}", text, value=value)
        rejected = CounterMetricFamily(
            "tickwire_requests_rejected", "Tickers or calls refused, by reason", labels=["reason"]
        )
        for reason, count in sorted(s.requests_rejected.items()):
            rejected.add_metric([reason], count)
        yield rejected
        closed = CounterMetricFamily(
            "tickwire_connections_closed",
            "Connections the server closed, by reason",
            labels=["reason"],
        )
        for reason in CONNECTION_CLOSE_REASONS:
            closed.add_metric([reason], s.connections_closed[reason])
        yield closed
        yield GaugeMetricFamily(
            "tickwire_tickers_upstream",
            "Tickers held upstream for subscribers (in their release grace too)",
            value=len(self._hub.upstream_tickers()),
        )
        state = GaugeMetricFamily(
            "tickwire_source_state", "The source's state: 1 for the current one", labels=["state"]
        )
        now = self._hub.status.state
        for each in SourceState:
            state.add_metric([each.value], 1.0 if each is now else 0.0)
        yield state
        errors = CounterMetricFamily(
            "tickwire_upstream_errors", "Failed upstream calls, by kind", labels=["kind"]
        )
        for kind, count in sorted(getattr(self._source, "upstream_errors", {}).items()):
            errors.add_metric([kind], count)
        yield errors
        candles = getattr(self._hub, "candles", None)
        if candles is not None:
            for name, value, text in (
                ("candles_closed", candles.stats.closed, "Candles closed, every interval"),
                (
                    "candle_corrections",
                    candles.stats.corrections,
                    "Closed candles a late price corrected",
                ),
                (
                    "late_prices_dropped",
                    candles.stats.late_dropped,
                    "Prices too late for any candle",
                ),
            ):
                yield CounterMetricFamily(f"tickwire_{name}", text, value=value)
        if self._bus is not None:
            yield from _bus_metrics(self._bus)
        yield GaugeMetricFamily(  # all_tasks copes with the loop's thread changing the set
            "tickwire_tasks",
            "asyncio tasks in the server's event loop",
            value=len(asyncio.all_tasks(self._loop)),
        )


def _bus_metrics(bus: Any) -> Iterator[Any]:
    """The link to NATS, and the ingest's publishing and lead (see `tickwire_server.bus`)."""
    link = bus.link
    yield GaugeMetricFamily(
        "tickwire_bus_connected", "1 while connected to NATS", value=1.0 if link.connected else 0.0
    )
    yield CounterMetricFamily(
        "tickwire_bus_reconnects", "Reconnections to NATS", value=link.reconnects
    )
    yield CounterMetricFamily(
        "tickwire_bus_slow_consumer",
        "Messages dropped because this process read them too slowly",
        value=link.slow_consumer_drops,
    )
    leadership = getattr(bus, "leadership", None)
    if leadership is not None:
        yield GaugeMetricFamily(
            "tickwire_bus_leader", "1 while this ingest leads", value=float(leadership.leader)
        )
        yield CounterMetricFamily(
            "tickwire_bus_lead_changes", "Times this ingest took or lost the lead",
            value=leadership.changes,
        )  # fmt: skip
        yield CounterMetricFamily(
            "tickwire_bus_published", "Price updates published to NATS", value=bus.published
        )
        yield CounterMetricFamily(
            "tickwire_bus_dropped",
            "Price updates not published: NATS was away (edges went stale meanwhile)",
            value=bus.dropped,
        )


class Metrics:
    """The Prometheus registry of one server, served over HTTP by `serve`."""

    def __init__(
        self,
        stats: ServerStats,
        hub: Any,
        source: Any,
        loop: asyncio.AbstractEventLoop,
        bus: Any = None,
    ) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(_Collector(stats, hub, source, loop, bus))
        stats.lag = Histogram(
            "tickwire_delivery_lag_seconds",
            "Publish to frame written, sampled per flush",
            buckets=LAG_BUCKETS,
            registry=self.registry,
        )
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.port = 0

    def serve(self, host: str, port: int) -> int:
        """Serve /metrics on `host:port` (0: a free port); return the port."""
        self._server, self._thread = start_http_server(port, host, registry=self.registry)
        self.port = int(self._server.server_address[1])
        log.info("metrics on http://%s:%d/metrics", host, self.port)
        return self.port

    def stop(self) -> None:
        """Stop serving; its thread is gone on return. Idempotent."""
        server, thread, self._server, self._thread = self._server, self._thread, None, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(5.0)
