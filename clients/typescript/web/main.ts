/**
 * The live watchlist: prices over grpc-web (StreamPrices through Envoy), a
 * flash on every change, a sparkline per ticker, the data state, a market
 * banner and a connection indicator; below it a live candle chart of the
 * selected ticker (click a row to chart it).
 *
 * Query parameters: `tickers=AAPL,NVDA` (the initial watchlist), `chart=AAPL`
 * and `interval=1m` (the chart), `token=` (a bearer token, for development
 * only), `api=` (another grpc-web origin).
 */

import {
  Code,
  ConnectError,
  DataState,
  Direction,
  MarketState,
  SourceState,
  type MarketStatus,
  type PriceUpdate,
  type StateChange,
  type TickerResult,
} from "../src/index.js";
import { connectWeb } from "../src/web.js";
import { CandleChart, CHART_INTERVALS, type ChartInterval } from "./chart.js";

const DEFAULT_TICKERS = ["AAPL", "NVDA", "MSFT", "GOOGL", "AMZN"];
const SPARK_POINTS = 60;

const params = new URLSearchParams(location.search);
const initial = (params.get("tickers") ?? DEFAULT_TICKERS.join(","))
  .split(",")
  .map((t) => t.trim().toUpperCase())
  .filter((t) => t !== "");
const token = params.get("token") ?? undefined;
const api = params.get("api") ?? location.origin;

const client = connectWeb(api, { token });
const subscription = client.subscribe([...new Set(initial)], {
  onState: showConnection,
  onMarketStatus: showMarket,
});

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const rowsBody = $<HTMLTableSectionElement>("rows");
const empty = $("empty");
const notice = $("notice");
const connection = $("connection");
const connectionText = $("connection-text");
const market = $("market");
$("endpoint").textContent = `grpc-web · ${api}`;
const chart = new CandleChart(client, $("chart"), showError);
const chartTicker = $("chart-ticker");
const intervalButtons = new Map<ChartInterval, HTMLButtonElement>();

const price = new Intl.NumberFormat(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const smallPrice = new Intl.NumberFormat(undefined, { minimumFractionDigits: 4, maximumFractionDigits: 4 });
const signed = new Intl.NumberFormat(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2, signDisplay: "exceptZero" });
const time = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });

interface Row {
  readonly element: HTMLTableRowElement;
  readonly cells: Record<"price" | "change" | "changePercent" | "arrow" | "state", HTMLElement>;
  readonly spark: SVGPolylineElement;
  readonly history: number[];
  last: number | undefined;
}

const rows = new Map<string, Row>();

function cell(row: HTMLTableRowElement, field: string, className = ""): HTMLTableCellElement {
  const td = row.insertCell();
  td.dataset.field = field;
  if (className) td.className = className;
  return td;
}

function addRow(ticker: string): Row {
  const existing = rows.get(ticker);
  if (existing) return existing;
  const element = document.createElement("tr");
  element.dataset.ticker = ticker;
  element.dataset.state = "pending";
  const name = cell(element, "ticker", "ticker");
  name.textContent = ticker;
  element.addEventListener("click", (event) => {
    if (!(event.target as HTMLElement).closest("button")) selectChart(ticker);
  });
  const priceCell = cell(element, "price", "num price");
  priceCell.textContent = "—";
  const change = cell(element, "change", "num");
  const changePercent = cell(element, "change-percent", "num");
  const arrow = document.createElement("span");
  arrow.className = "arrow";
  arrow.setAttribute("aria-hidden", "true");
  changePercent.append(arrow, document.createElement("span"));
  const trend = cell(element, "trend", "trend");
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", `0 0 ${SPARK_POINTS - 1} 20`);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("aria-hidden", "true");
  const spark = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
  svg.append(spark);
  trend.append(svg);
  const state = cell(element, "state", "state");
  state.textContent = "waiting";
  const actions = cell(element, "actions", "actions");
  const remove = document.createElement("button");
  remove.type = "button";
  remove.className = "remove";
  remove.title = `Remove ${ticker}`;
  remove.setAttribute("aria-label", `Remove ${ticker}`);
  remove.textContent = "×";
  remove.addEventListener("click", () => void removeTicker(ticker));
  actions.append(remove);
  rowsBody.append(element);
  const row: Row = {
    element,
    cells: { price: priceCell, change, changePercent, arrow, state },
    spark,
    history: [],
    last: undefined,
  };
  rows.set(ticker, row);
  empty.hidden = true;
  return row;
}

function dropRow(ticker: string): void {
  rows.get(ticker)?.element.remove();
  rows.delete(ticker);
  empty.hidden = rows.size > 0;
  if (chart.ticker === ticker) selectChart(rows.keys().next().value ?? "");
}

/** Chart `ticker` (at `interval`), mark its row, and keep both in the URL. */
function selectChart(ticker: string, interval: ChartInterval = chart.interval): void {
  for (const [name, row] of rows) row.element.toggleAttribute("data-selected", name === ticker);
  for (const [name, button] of intervalButtons) button.setAttribute("aria-pressed", String(name === interval));
  chartTicker.textContent = ticker;
  $("chart-empty").hidden = ticker !== "";
  void chart.show(ticker, interval);
  const url = new URL(location.href);
  url.searchParams.set("chart", ticker);
  url.searchParams.set("interval", interval);
  history.replaceState(null, "", url);
}

for (const name of CHART_INTERVALS) {
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = name;
  button.dataset.interval = name;
  button.addEventListener("click", () => selectChart(chart.ticker, name));
  intervalButtons.set(name, button);
  $("intervals").append(button);
}

const STATES: Record<number, string> = {
  [DataState.LIVE]: "live",
  [DataState.SNAPSHOT]: "snapshot",
  [DataState.STALE]: "stale",
};

function render(update: PriceUpdate): void {
  const row = rows.get(update.ticker) ?? addRow(update.ticker);
  const { cells } = row;
  const value = update.price;
  cells.price.textContent = (Math.abs(value) < 1 ? smallPrice : price).format(value);
  cells.change.textContent = signed.format(update.change);
  (cells.changePercent.lastChild as HTMLElement).textContent = `${signed.format(update.changePercent)}%`;
  const direction = update.direction === Direction.UP ? "up" : update.direction === Direction.DOWN ? "down" : "flat";
  cells.arrow.textContent = direction === "up" ? "▲" : direction === "down" ? "▼" : "■";
  row.element.dataset.direction = direction;
  const state = STATES[update.state] ?? "unknown";
  row.element.dataset.state = state;
  cells.state.textContent = state;
  cells.state.title = update.timestamp ? `as of ${time.format(new Date(Number(update.timestamp.seconds) * 1000))}` : "";
  if (row.last !== undefined && value !== row.last) flash(cells.price, value > row.last ? "up" : "down");
  row.last = value;
  row.history.push(value);
  if (row.history.length > SPARK_POINTS) row.history.shift();
  drawSpark(row);
}

/** The blink mobile apps use: the price cell lights up green or red, then fades. */
function flash(element: HTMLElement, way: "up" | "down"): void {
  element.classList.remove("flash-up", "flash-down");
  void element.offsetWidth; // restart the animation
  element.classList.add(way === "up" ? "flash-up" : "flash-down");
}

function drawSpark(row: Row): void {
  const history = row.history;
  const low = Math.min(...history);
  const high = Math.max(...history);
  const span = high - low || 1;
  const step = (SPARK_POINTS - 1) / Math.max(1, history.length - 1);
  row.spark.setAttribute(
    "points",
    history.map((v, i) => `${(i * step).toFixed(2)},${(19 - ((v - low) / span) * 18).toFixed(2)}`).join(" "),
  );
}

function showRejected(result: TickerResult): void {
  const row = addRow(result.ticker);
  row.element.dataset.state = "rejected";
  row.element.dataset.status = result.statusName;
  row.cells.price.textContent = "—";
  row.cells.state.textContent = result.statusName.toLowerCase().replaceAll("_", " ");
  row.cells.state.title = result.message;
}

async function addTicker(raw: string): Promise<void> {
  const ticker = raw.trim().toUpperCase();
  if (ticker === "" || subscription.tickers.includes(ticker)) return;
  addRow(ticker);
  try {
    const results = await subscription.add([ticker]);
    for (const result of results) if (!result.ok) showRejected(result);
  } catch (error) {
    showError(error);
  }
  rememberTickers();
}

async function removeTicker(ticker: string): Promise<void> {
  dropRow(ticker);
  if (subscription.tickers.includes(ticker)) await subscription.remove([ticker]).catch(showError);
  rememberTickers();
}

/** Keep the watchlist in the URL, so a reload (or a shared link) opens the same list. */
function rememberTickers(): void {
  const url = new URL(location.href);
  url.searchParams.set("tickers", subscription.tickers.join(","));
  history.replaceState(null, "", url);
}

let countdown: ReturnType<typeof setInterval> | undefined;

function showConnection(change: StateChange): void {
  clearInterval(countdown);
  connection.dataset.connection = change.state === "connected" ? "live" : change.state;
  switch (change.state) {
    case "connecting":
      connectionText.textContent = "Connecting…";
      break;
    case "connected":
      connectionText.textContent = "Live";
      hideNotice("connection");
      break;
    case "reconnecting": {
      markOffline();
      const until = performance.now() + change.delayMs;
      const tick = () => {
        const seconds = Math.max(0, Math.ceil((until - performance.now()) / 1000));
        connectionText.textContent = seconds > 0 ? `Reconnecting in ${seconds} s` : "Reconnecting…";
      };
      tick();
      countdown = setInterval(tick, 250);
      connection.title = change.reason;
      break;
    }
    case "closed":
      markOffline();
      connectionText.textContent = "Disconnected";
      if (subscription.error) showError(subscription.error);
      break;
  }
}

/** With the stream down no price is live: rows say so until the next snapshot. */
function markOffline(): void {
  for (const row of rows.values()) {
    const state = row.element.dataset.state;
    if (state === "live" || state === "snapshot" || state === "stale") {
      row.element.dataset.state = "offline";
      row.cells.state.textContent = "offline";
      row.cells.state.title = "no connection: the last price received";
    }
  }
}

const MARKETS: Record<number, [string, string]> = {
  [MarketState.OPEN]: ["open", "Market open"],
  [MarketState.CLOSED]: ["closed", "Market closed"],
  [MarketState.EXTENDED_HOURS]: ["extended", "Extended hours"],
};

function showMarket(status: MarketStatus): void {
  const [key, label] = MARKETS[status.market] ?? ["unknown", "Market status unknown"];
  market.dataset.market = key;
  const health = SourceState[status.sourceState]?.toLowerCase() ?? "unknown";
  market.dataset.source = health;
  const source = status.sourceState === SourceState.HEALTHY ? "" : ` · source ${health}`;
  market.textContent = `${label}${source}${status.message ? ` — ${status.message}` : ""}`;
  market.title = `source: ${status.source}`;
}

function showError(error: unknown): void {
  const failure = ConnectError.from(error);
  let text = failure.rawMessage;
  if (failure.code === Code.Unauthenticated) {
    text = token
      ? `The server refused the token: ${failure.rawMessage}. Open the page with a valid ?token=…`
      : `This server needs a token: open the page with ?token=… (development) — the server said: ${failure.rawMessage}`;
  } else if (failure.code === Code.PermissionDenied) {
    text = `The token may not read prices: ${failure.rawMessage}`;
  }
  notice.dataset.kind = failure.code === Code.Unauthenticated ? "auth" : "error";
  notice.dataset.from = "connection";
  notice.textContent = text;
  notice.hidden = false;
}

function hideNotice(from: string): void {
  if (notice.dataset.from === from) notice.hidden = true;
}

$<HTMLFormElement>("add").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = $<HTMLInputElement>("add-ticker");
  void addTicker(input.value);
  input.value = "";
});

async function main(): Promise<void> {
  for (const ticker of subscription.tickers) addRow(ticker);
  empty.hidden = rows.size > 0;
  const wanted = (params.get("interval") ?? "1m") as ChartInterval;
  const first = (params.get("chart") ?? subscription.tickers[0] ?? "").toUpperCase();
  selectChart(first, CHART_INTERVALS.includes(wanted) ? wanted : "1m");
  client.marketStatus().then(showMarket, () => (market.textContent = "Market status unavailable"));
  try {
    for await (const update of subscription) render(update);
  } catch (error) {
    showError(error);
  }
}

// The opening ack names rejected tickers even when no price follows.
void subscription.waitConnected().then(
  () => {
    for (const result of subscription.results) if (!result.ok) showRejected(result);
  },
  () => {},
);
setInterval(() => ($("server-time").textContent = time.format(new Date())), 1000);
void main();
