"""TickwireServer: wires source, cache, hub and the grpc.aio server, and runs its lifecycle."""

from __future__ import annotations

import asyncio
import gc
import ipaddress
import logging
import os
import resource
import socket
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import grpc

from tickwire_server.auth import ServerTls, build_access_control
from tickwire_server.bus import (
    BusSource,
    Dropper,
    Forwarder,
    IngestBus,
    Link,
    Shards,
    node_key,
)
from tickwire_server.bus.candles import CandleRelay, EdgeCandles
from tickwire_server.cache import PriceCache
from tickwire_server.candles import (
    CandleBook,
    History,
    Sessions,
    StoreError,
    build_store,
    generate,
)
from tickwire_server.candles.backfill import Backfill, Backfiller, Pacer
from tickwire_server.candles.gaps import uncovered
from tickwire_server.candles.history import parse_retention
from tickwire_server.candles.intervals import NS
from tickwire_server.config import Settings
from tickwire_server.domain import SourceState, SourceStatus
from tickwire_server.errors import ConfigError
from tickwire_server.gate import StreamGate
from tickwire_server.grpc_loop import drain_completion_notices
from tickwire_server.hub import Hub, LoopSink
from tickwire_server.maintenance import NOT_SERVING, SERVING, add_maintenance_services
from tickwire_server.metrics import Metrics
from tickwire_server.recording import Recorder
from tickwire_server.scenario import SERVICE_NAME as SCENARIO_SERVICE
from tickwire_server.scenario import Controls, ScenarioControlService, ScenarioRunner
from tickwire_server.scenario import handler as scenario_handler
from tickwire_server.scenario.script import Scenario, ScenarioError, load
from tickwire_server.service import SERVICE_NAME, MarketDataService, StreamLimits, handler
from tickwire_server.sources import build_source
from tickwire_server.sources.base import PriceSource
from tickwire_server.sources.massive import MassiveSource
from tickwire_server.sources.synthetic import SyntheticSource
from tickwire_server.stats import ServerStats
from tickwire_server.tasks import cancel

log = logging.getLogger(__name__)

# Cyclic-GC allocation threshold for a serving process (Python's default is 700).
GC_THRESHOLD = 20_000


class TickwireServer:
    """A tickwire server in this process: `await start()`, then `await stop()`.

    Also an async context manager. `target` is the address clients dial once
    started (the real port when `port` was 0). Start and stop are idempotent;
    after `stop()` no task or thread of the server is left.
    """

    def __init__(self, settings: Settings, source: PriceSource | None = None) -> None:
        self.settings = settings
        self.role = settings.role
        self.node = node_key(settings.node_name or f"{socket.gethostname()}-{os.getpid()}")
        self.link: Link | None = None
        self.bus: IngestBus | None = None
        if self.role != "standalone":
            self.link = Link(settings.bus_url.split(","), f"tickwire-{self.role}-{self.node}")
        if source is None and self.role == "edge":
            assert self.link is not None
            source = BusSource(
                self.link,
                Shards(settings.bus_shards),
                node=self.node,
                interest_lease=settings.interest_lease,
                stale_after=settings.bus_stale_after,
                outage_limit=settings.bus_outage_limit,
            )
        self.source = source if source is not None else build_source(settings)
        # An edge's live candles come from the leader's book.
        self.edge_candles = (
            EdgeCandles(self.link, self.node, settings.interest_lease)
            if self.link is not None and self.role == "edge" and settings.candles
            else None
        )
        self.cache = PriceCache()
        self.stats = ServerStats()
        self.hub = Hub(
            self.source,
            self.cache,
            release_grace=settings.release_grace,
            max_universe=settings.max_universe,
            stats=self.stats,
        )
        self.candles: CandleBook | None = None
        self.history: History | None = None
        if settings.candles and self.role != "edge":  # an edge's history is the ingest's
            self.candles = self.hub.candles = CandleBook(grace=settings.candle_grace)
            history_url = settings.history
            self.history = History(
                build_store(history_url) if history_url is not None else None,
                self.candles,
                parse_retention(settings.candle_retention),
            )
        # Loads the exchange calendar, then generates history where the source makes it
        # up, or starts filling it from the vendor (`backfiller`).
        self.warmup: asyncio.Task[None] | None = None
        self.backfiller: Backfiller | None = None
        self.access = build_access_control(settings, self.stats)
        self.gate = StreamGate()
        # The scenario controls, when the source is one they drive.
        self.controls: Controls | None = None
        self.scenarios: ScenarioRunner | None = None
        if isinstance(self.source, SyntheticSource):
            self.controls = Controls(self.source, self.hub, self.cache, self.gate)
            self.scenarios = ScenarioRunner(self.controls)
        self._scenario = _load_scenario(settings.scenario)
        if settings.record is not None:
            self.hub.recorder = Recorder(settings.record)
        self._flusher: asyncio.Task[None] | None = None
        self.metrics: Metrics | None = None
        self.tls = (
            ServerTls(settings.tls_cert, settings.tls_key, settings.tls_client_ca)
            if settings.tls_cert is not None and settings.tls_key is not None
            else None
        )
        self._health: Any = None  # grpc_health's asyncio servicer, once bound
        self._server: grpc.aio.Server | None = None
        self._service: MarketDataService | None = None
        self._stopped = False
        self._sink: LoopSink | None = None
        self._health_updates: set[asyncio.Task[None]] = set()
        self.target = ""

    async def start(self) -> str:
        """Bind, start the source and begin serving; return the target address."""
        if self._server is not None:
            return self.target
        s = self.settings
        server = grpc.aio.server(
            interceptors=[self.access],
            options=server_options(s),
            maximum_concurrent_rpcs=s.max_concurrent_rpcs,
        )
        limits = StreamLimits(
            max_tickers=s.max_tickers_per_stream,
            max_request_tickers=s.max_request_tickers,
            max_lag=s.max_lag,
            heartbeat_interval=s.heartbeat_interval,
            requests_per_minute=s.max_requests_per_minute,
            request_burst=s.request_burst,
            max_streams_per_client=s.max_streams_per_client,
            snapshot_page_size=s.snapshot_page_size,
            max_resets_per_second=s.max_resets_per_second,
        )
        service = MarketDataService(
            self.hub,
            self.cache,
            self.source,
            limits,
            self.stats,
            gate=self.gate,
            candles=self.candles if self.candles is not None else self.edge_candles,
            history=self.history,
            notes=self._notes,
            peek=self.source.peek if isinstance(self.source, BusSource) else None,
        )
        control = (
            ScenarioControlService(self.controls, self.scenarios)
            if self.controls is not None and self.scenarios is not None
            else None
        )
        why = (
            "an edge forwards the unary ScenarioControl calls to the ingest; RunScenario "
            "streams, so run scenarios on the ingest (its --scenario FILE)"
            if self.role == "edge"
            else ""
        )
        handlers = (handler(service), scenario_handler(control, self.source.name, why))
        if self.role == "ingest":  # served over the bus to the edges, not to clients
            assert self.link is not None
            self.bus = IngestBus(
                self.link,
                self.hub,
                self.cache,
                self.source,
                Shards(s.bus_shards),
                name=self.node,
                lease=s.leader_lease,
                interest_lease=s.interest_lease,
                handlers=handlers,
                start_source=self._start_source,
                relay=CandleRelay(self.link, self.candles, s.interest_lease)
                if self.candles is not None
                else None,
            )
            self._health = add_maintenance_services(server)
        else:
            if self.role == "edge":
                assert self.link is not None
                server.add_generic_rpc_handlers((Forwarder(self.link),))
            server.add_generic_rpc_handlers(handlers)
            self._health = add_maintenance_services(server, SERVICE_NAME, SCENARIO_SERVICE)
        try:
            if self.tls is not None:
                port = server.add_secure_port(s.address, self.tls.credentials())
            else:
                port = server.add_insecure_port(s.address)
        except RuntimeError as exc:
            raise ConfigError(f"cannot listen on {s.address}: {exc}") from exc
        if (warning := exposure_warning(s)) is not None:
            log.warning("%s", warning)
        self.target = s.address if s.unix_socket is not None else _target(s.host, port)
        service.connections.local_port = port if s.unix_socket is None else None
        self._service = service
        self._server = server
        self.hub.on_status(self._follow_health)
        if self.candles is not None and self.history is not None:
            try:
                await self.history.start()
            except StoreError as exc:
                self._server = None
                await server.stop(None)
                del server
                raise ConfigError(str(exc)) from exc
            self.warmup = asyncio.create_task(self._load_sessions(), name="sessions")
            self.candles.start()
        self._sink = LoopSink(self.hub)
        if self.edge_candles is not None:
            self.edge_candles.start()
        if self.role == "edge" and self.link is not None:
            Dropper(self.link, self.hub, self.gate).start()
        try:
            if self.bus is not None:
                await self.bus.start()  # the source starts once this ingest leads
            else:
                await self.source.start(self._sink)
        except BaseException:  # e.g. an upstream that rejects the key: unbind, re-raise
            self._server = None
            await self._stop_candles()
            await server.stop(None)
            # Freed here, not by a later GC pass via the traceback (grpc's __del__ breaks there).
            del server
            raise
        await server.start()
        if s.metrics_port is not None:
            bus = (
                self.bus
                if self.bus is not None
                else (self.source if isinstance(self.source, BusSource) else None)
            )
            self.metrics = Metrics(
                self.stats, self.hub, self.source, asyncio.get_running_loop(), bus
            )
            try:
                self.metrics.serve(s.metrics_host, s.metrics_port)
            except OSError as exc:
                await server.stop(None)
                self._server = None
                await self.source.stop()
                raise ConfigError(f"cannot serve metrics on port {s.metrics_port}: {exc}") from exc
        drain_completion_notices(asyncio.get_running_loop())
        await self._set_health(self.hub.status)
        if self._scenario is not None and self.scenarios is not None:
            self.scenarios.start(self._scenario)
        if self.hub.recorder is not None:
            self._flusher = asyncio.create_task(_flush_every_second(self.hub.recorder))
        log.info("tickwire serving %s from the %s source", self.target, self.source.name)
        return self.target

    async def stop(self, grace: float | None = None) -> None:
        """Stop serving: health NOT_SERVING, streams ended, server stopped, source stopped."""
        if self._server is None or self._stopped:
            return
        self._stopped = True
        await self._health.enter_graceful_shutdown()
        if self.scenarios is not None:
            await self.scenarios.close()
        self.hub.close()
        await self._server.stop(self.settings.shutdown_grace if grace is None else grace)
        if self._service is not None:
            await self._service.connections.close()
        if self.bus is not None:
            await self.bus.stop()
        if self.edge_candles is not None:
            await self.edge_candles.stop()
        await self.source.stop()
        await self._stop_candles()
        if self._flusher is not None:
            self._flusher.cancel()
        if self.hub.recorder is not None:
            self.hub.recorder.close()
        if self.metrics is not None:
            await asyncio.to_thread(self.metrics.stop)
        await asyncio.gather(*self._health_updates, return_exceptions=True)
        log.info("tickwire stopped")

    async def _start_source(self) -> None:
        """Start the source (an ingest does when it takes the lead)."""
        assert self._sink is not None
        await self.source.start(self._sink)

    def reload_tls(self) -> bool:
        """Re-read the TLS certificate and key for new handshakes (what SIGHUP does).

        Open connections keep theirs. Returns False when there is no TLS or
        the files do not load (the certificate in use stays).
        """
        return self.tls.reload() if self.tls is not None else False

    async def wait_for_termination(self) -> None:
        """Block until the server stops."""
        if self._server is not None:
            await self._server.wait_for_termination()

    async def __aenter__(self) -> TickwireServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _load_sessions(self) -> None:
        """Load the exchange's sessions off the loop; day, week and month bars start then."""
        try:
            sessions = await Sessions.load_apart()
        except Exception:
            log.exception("cannot load the XNYS calendar: no day, week or month candles")
            return
        if self.candles is not None:
            self.candles.sessions = sessions
        if self.history is not None and self.source.name in ("simulator", "synthetic"):
            try:
                await self._generate_history(sessions)
            except Exception:
                log.exception("generating candle history failed")
        if self.history is not None and isinstance(self.source, MassiveSource):
            self._start_backfill(self.source, sessions)

    def _start_backfill(self, source: MassiveSource, sessions: Sessions) -> None:
        """Fill the lookback's missing minutes from Massive now and after each recovery."""
        history, candles = self.history, self.candles
        if history is None or history.store is None or candles is None:
            return
        s = self.settings
        backfill = Backfill(
            history,
            source,
            sessions,
            days=s.backfill_days,
            pacer=Pacer(s.massive_calls_per_minute, max(1, int(s.massive_calls_per_minute))),
        )
        self.backfiller = Backfiller(
            backfill,
            lambda: {m.ticker for m in self.source.tickers()} | self.hub.upstream_tickers(),
            candles.since,
        )
        self._follow_backfill(self.hub.status)
        self.hub.on_status(self._follow_backfill)

    def _follow_backfill(self, status: SourceStatus) -> None:
        if self.backfiller is None or self._stopped:
            return
        if status.state is SourceState.HEALTHY:
            self.backfiller.healthy(time.time_ns())
        else:
            self.backfiller.unhealthy(time.time_ns())

    def _notes(self) -> str:
        """What GetMarketStatus adds to the source's message (backfill progress)."""
        return self.backfiller.note() if self.backfiller is not None else ""

    async def _generate_history(self, sessions: Sessions) -> None:
        """Made-up history for the lookback, where the store has none yet (see `generate`)."""
        history = self.history
        if history is None or history.store is None:
            return
        store = history.store
        days = self.settings.backfill_days
        now = max(time.time_ns(), self.candles.clock_ns if self.candles else 0)
        opens = [o for o, _ in sessions.sessions_between(now - 3 * 366 * 86400 * NS, now)]
        if not days or not opens:
            return
        start = opens[-days] if len(opens) >= days else opens[0]
        prices: dict[str, float] = {}
        for meta in self.source.tickers():
            entry = self.cache.get(meta.ticker)
            price = entry.price if entry is not None else meta.seed_price
            if price > 0:
                prices[meta.ticker] = price
        made = 0
        for ticker, price in prices.items():
            covered = await store.coverage(ticker, "1m", start // NS, now // NS)
            for lo, hi in uncovered(start // NS, now // NS, covered):
                bars = generate.history(
                    {ticker: price}, sessions, lo * NS, hi * NS, history.retention,
                    self.settings.seed or 0,
                )  # fmt: skip
                await store.write_history(bars)
                await store.cover(ticker, "1m", [(lo, hi)])
                made += len(bars)
        if made:
            log.info(
                "generated %d candles of history for %d tickers over %d sessions",
                made, len(prices), min(days, len(opens)),
            )  # fmt: skip

    async def _stop_candles(self) -> None:
        task, self.warmup = self.warmup, None
        await cancel(task)
        if self.backfiller is not None:
            await self.backfiller.stop()
        if self.candles is not None:
            await self.candles.stop()
        if self.history is not None:
            await self.history.stop()

    def _follow_health(self, status: SourceStatus) -> None:
        task = asyncio.get_running_loop().create_task(self._set_health(status))
        self._health_updates.add(task)
        task.add_done_callback(self._health_updates.discard)

    async def _set_health(self, status: SourceStatus) -> None:
        if self._stopped:
            return
        serving = status.state not in (SourceState.ERROR, SourceState.STOPPED)
        code = SERVING if serving else NOT_SERVING
        await self._health.set("", SERVING)
        await self._health.set(SERVICE_NAME, code)


async def _flush_every_second(recorder: Recorder) -> None:
    """Push a recording's buffer to its file each second, so a crash loses at most that."""
    while True:
        await asyncio.sleep(1.0)
        recorder.flush()


def _load_scenario(path: Path | None) -> Scenario | None:
    if path is None:
        return None
    try:
        return load(path)
    except ScenarioError as exc:
        raise ConfigError(str(exc)) from exc


def tune_gc(threshold: int = GC_THRESHOLD) -> None:
    """Tune the cyclic garbage collector of a process that serves and does little else.

    Call once the server has started. Objects alive then (modules, grpc,
    settings) move to the permanent generation, so full collections stop
    scanning them, and the young generation is collected after `threshold`
    net allocations instead of 700. Updates are short-lived and freed by
    reference counting; at the default threshold a source publishing flat
    out triggered ~200 collections a second, 7-8% of the event loop. Higher
    is not better: at 300,000, 10,000 streams at 1 Hz took 0.03 cores less
    (each young collection walks what a wave of writes holds in flight),
    but the cyclic garbage of streams a client cancels flat out (a rapid
    reset) then grew the heap by 40 MB in four rounds. A process-wide
    setting: `tickwire-server` applies it, embedding code and
    `tickwire_server.testing` leave it alone.
    """
    gc.freeze()
    gc.set_threshold(threshold, 20, 20)


def server_options(s: Settings) -> list[tuple[str, int]]:
    """grpc core options: message size, pending calls, keepalive and connection hygiene."""

    def ms(seconds: float) -> int:
        return max(1, round(seconds * 1000))

    return [
        ("grpc.max_receive_message_length", s.max_message_bytes),
        ("grpc.so_reuseport", 0),
        # grpc core cancels new calls once more than 1,000 (soft, random
        # early drop) to 3,000 (hard) wait for the application to take
        # them: a burst of clients reconnecting after a restart would
        # see CANCELLED. The server takes them as fast as it can anyway.
        ("grpc.server.max_pending_requests", 20_000),
        ("grpc.server.max_pending_requests_hard_limit", 40_000),
        # Keepalive: the server pings, and drops a connection that does not answer.
        ("grpc.keepalive_time_ms", ms(s.keepalive_time)),
        ("grpc.keepalive_timeout_ms", ms(s.keepalive_timeout)),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
        # Client pings: accepted this often (tickwire's clients ping less often).
        ("grpc.http2.min_recv_ping_interval_without_data_ms", ms(s.min_client_ping_interval)),
        ("grpc.http2.min_ping_interval_without_data_ms", ms(s.min_client_ping_interval)),
        # Connections do not live for ever: silent new ones and idle ones close, old
        # ones are told to reconnect. Each holds a descriptor until then.
        ("grpc.server_handshake_timeout_ms", ms(s.handshake_timeout)),
        ("grpc.max_connection_idle_ms", ms(s.max_connection_idle)),
        ("grpc.max_connection_age_ms", ms(s.max_connection_age)),
        ("grpc.max_connection_age_grace_ms", ms(s.max_connection_age_grace)),
        ("grpc.max_concurrent_streams", s.max_concurrent_streams),
    ]


def raise_open_file_limit() -> tuple[int, int]:
    """Raise this process's soft open-file limit to the hard one; return (before, after).

    Each connection costs a descriptor; the common soft limit of 1,024 would
    lock new clients out long before the machine is busy.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            return soft, soft
        return soft, target
    return soft, soft


def exposure_warning(settings: Settings) -> str | None:
    """What to warn of when the settings serve beyond this machine unprotected, else None."""
    if settings.auth != "none" or settings.tls_cert is not None or _private(settings):
        return None
    return (
        f"serving {settings.address} with no access control and no TLS: anyone who can "
        "reach it reads every price (set TICKWIRE_AUTH=jwt and TICKWIRE_TLS_CERT/_KEY)"
    )


def _private(settings: Settings) -> bool:
    """True when only this machine can reach the address: a unix socket or loopback."""
    if settings.unix_socket is not None or settings.host == "localhost":
        return True
    try:
        return ipaddress.ip_address(settings.host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def _target(host: str, port: int) -> str:
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
