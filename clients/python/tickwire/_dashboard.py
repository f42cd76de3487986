"""Dashboard: the state and rich rendering of `tickwire watch` (no I/O here)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from tickwire._types import ConnectionState, StateChange, StreamStats, TickerResult
from tickwire.v1 import market_data_pb2 as pb

SPARK = "▁▂▃▄▅▆▇█"
_ARROWS = {
    pb.DIRECTION_UP: ("▲", "green"),
    pb.DIRECTION_DOWN: ("▼", "red"),
    pb.DIRECTION_FLAT: ("▶", "grey50"),
}
_STATE_STYLE = {
    ConnectionState.CONNECTING: "yellow",
    ConnectionState.CONNECTED: "green",
    ConnectionState.RECONNECTING: "yellow",
    ConnectionState.CLOSED: "red",
}


def _clip(text: str, width: int) -> str:
    """`text` cut to `width` characters, an ellipsis marking the cut (the log has it whole)."""
    return text if len(text) <= width else text[: width - 1] + "…"


def sparkline(values: list[float]) -> str:
    """One block character per value, scaled between the values' low and high."""
    if not values:
        return ""
    low, high = min(values), max(values)
    if high == low:
        return SPARK[len(SPARK) // 2] * len(values)
    scale = (len(SPARK) - 1) / (high - low)
    return "".join(SPARK[round((v - low) * scale)] for v in values)


@dataclass(slots=True)
class _Row:
    last: pb.PriceUpdate
    reference: float
    history: deque[float] = field(default_factory=lambda: deque(maxlen=40))


class Dashboard:
    """Live table of tickers, a log of notable moves and a status line.

    Args:
        tickers: rows to show, in order (others appear as they arrive).
        move_threshold: a single update moving this many percent is logged.
        history: prices kept per sparkline.
        log_size: events kept in the log.
    """

    def __init__(
        self,
        tickers: list[str],
        *,
        target: str = "",
        move_threshold: float = 0.5,
        history: int = 40,
        log_size: int = 8,
    ) -> None:
        self.order = [t.strip().upper() for t in tickers]
        self.target = target
        self.move_threshold = move_threshold
        self.history = history
        self.rows: dict[str, _Row] = {}
        self.refused: dict[str, TickerResult] = {}  # tickers the server did not accept
        self.events: deque[Text] = deque(maxlen=log_size)
        self.state = ConnectionState.CONNECTING
        self.stats = StreamStats()
        self._rate_samples: deque[tuple[float, int]] = deque(maxlen=64)

    def apply(self, update: pb.PriceUpdate) -> None:
        """Take one update into the table (and the log, when it is a notable move)."""
        row = self.rows.get(update.ticker)
        if row is None:
            # Change is measured from the first price seen: bar fields mean
            # different things per source (session, day or one-second bars).
            row = self.rows[update.ticker] = _Row(update, update.price, deque(maxlen=self.history))
            if update.ticker not in self.order:
                self.order.append(update.ticker)
        row.last = update
        row.history.append(update.price)
        if update.state == pb.DATA_STATE_LIVE and abs(update.change_percent) >= self.move_threshold:
            arrow, style = _ARROWS.get(update.direction, ("•", "white"))
            self._log(
                Text.assemble(
                    (f"{update.ticker} {arrow} {update.change_percent:+.2f}%", style),
                    f" to {update.price:,.2f}",
                )
            )

    def set_refused(self, rejected: Mapping[str, TickerResult]) -> None:
        """Show the tickers the server refused (a subscription's `rejected`), logging new ones.

        Each shows its status (invalid symbol, unknown ticker, limit
        exceeded) and the server's reason in its row, instead of waiting for
        a price that will never come.
        """
        current = {raw.strip().upper(): result for raw, result in rejected.items()}
        for ticker, result in current.items():
            if self.refused.get(ticker) == result:
                continue
            if ticker not in self.order:
                self.order.append(ticker)
            detail = f": {result.message}" if result.message else ""
            self._log(Text(f"{ticker} {result.status.value}{detail}", "red"))
        self.refused = current

    def on_state(self, change: StateChange) -> None:
        """Record a connection state change (pass as the client's `on_state`)."""
        self.state = change.state
        detail = {
            ConnectionState.RECONNECTING: f" (attempt {change.attempt}, in {change.delay:.1f} s:"
            f" {change.reason})",
            ConnectionState.CLOSED: f" ({change.reason})" if change.reason else "",
        }.get(change.state, "")
        self._log(Text(f"{change.state.value}{detail}", _STATE_STYLE[change.state]))

    def set_stats(self, stats: StreamStats, now: float | None = None) -> None:
        """Take the subscription's counters (for the status line and the rate)."""
        self.stats = stats
        self._rate_samples.append((time.monotonic() if now is None else now, stats.updates))

    @property
    def updates_per_second(self) -> float:
        samples = [s for s in self._rate_samples if s[0] >= self._rate_samples[-1][0] - 2.0]
        if len(samples) < 2 or samples[-1][0] <= samples[0][0]:
            return 0.0
        return (samples[-1][1] - samples[0][1]) / (samples[-1][0] - samples[0][0])

    def render(self) -> RenderableType:
        """The whole screen: table, event log, status line."""
        return Group(self._table(), self._log_panel(), self._status_line())

    def _table(self) -> Table:
        table = Table(expand=True, header_style="bold", title=f"tickwire · {self.target}")
        table.add_column("Ticker", style="bold")
        for name in ("Price", "Chg", "Chg %"):
            table.add_column(name, justify="right")
        table.add_column("", justify="center", width=2)
        table.add_column("Trend", no_wrap=True)
        table.add_column("Seq", justify="right", style="grey50")
        for ticker in self.order:
            refused = self.refused.get(ticker)
            if refused is not None:
                table.add_row(
                    ticker,
                    Text(refused.status.value, "bold red"),
                    "",
                    "",
                    "",
                    Text(_clip(refused.message, self.history), "red"),
                    "",
                )
                continue
            row = self.rows.get(ticker)
            if row is None:
                table.add_row(ticker, Text("waiting…", "grey50"), "", "", "", "", "")
                continue
            update = row.last
            change = update.price - row.reference
            percent = change / row.reference * 100 if row.reference else 0.0
            colour = "green" if change > 0 else "red" if change < 0 else "white"
            arrow, arrow_style = _ARROWS.get(update.direction, ("•", "white"))
            stale = update.state == pb.DATA_STATE_STALE
            table.add_row(
                ticker,
                Text(f"{update.price:,.2f}", "grey50" if stale else "bold"),
                Text(f"{change:+,.2f}", colour),
                Text(f"{percent:+.2f}%", colour),
                Text(arrow, arrow_style),
                Text(sparkline(list(row.history)), colour),
                str(update.sequence),
            )
        return table

    def _log_panel(self) -> Panel:
        body = Text("\n").join(self.events) if self.events else Text("no notable moves yet")
        return Panel(body, title="events", title_align="left", border_style="grey50")

    def _status_line(self) -> Text:
        s = self.stats
        return Text.assemble(
            ("● ", _STATE_STYLE[self.state]),
            (self.state.value, _STATE_STYLE[self.state]),
            f"  {self.updates_per_second:,.0f} updates/s",
            f"  updates {s.updates:,}",
            f"  conflated {s.conflated:,}",
            f"  gaps {s.gaps:,}",
            f"  reconnects {s.reconnects:,}",
            ("  Ctrl+C to quit", "grey50"),
        )

    def _log(self, text: Text) -> None:
        self.events.appendleft(Text(datetime.now().strftime("%H:%M:%S "), "grey50") + text)
