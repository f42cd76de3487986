/**
 * The candle chart of the selected ticker: stored history from GetCandles,
 * then live bars from StreamCandles, drawn with TradingView's
 * lightweight-charts. It follows the page's light or dark theme.
 */

import {
  CandlestickSeries,
  ColorType,
  createChart,
  HistogramSeries,
  type IChartApi,
  type ISeriesApi,
  type UTCTimestamp,
} from "lightweight-charts";
import { type Candle, type Subscription, type TickwireClient } from "../src/index.js";

export const CHART_INTERVALS = ["5s", "1m", "5m", "1h", "1d"] as const;
export type ChartInterval = (typeof CHART_INTERVALS)[number];

// How far back a chart reaches, per interval (one GetCandles range, or a few).
const LOOKBACK_MS: Record<ChartInterval, number> = {
  "5s": 2 * 3_600_000,
  "1m": 86_400_000,
  "5m": 5 * 86_400_000,
  "1h": 30 * 86_400_000,
  "1d": 365 * 86_400_000,
};

const UP = "#16a34a";
const DOWN = "#dc2626";

export class CandleChart {
  private readonly chart: IChartApi;
  private readonly bars: ISeriesApi<"Candlestick">;
  private readonly volume: ISeriesApi<"Histogram">;
  private live: Subscription<Candle> | undefined;
  private generation = 0;
  ticker = "";
  interval: ChartInterval = "1m";
  /** Bars drawn, for tests: `data-bars` on the container mirrors it. */
  count = 0;

  constructor(
    private readonly client: TickwireClient,
    private readonly container: HTMLElement,
    private readonly onError: (error: unknown) => void,
  ) {
    this.chart = createChart(container, {
      autoSize: true,
      timeScale: { timeVisible: true, secondsVisible: false, borderVisible: false },
      rightPriceScale: { borderVisible: false },
      grid: { vertLines: { visible: false } },
    });
    this.bars = this.chart.addSeries(CandlestickSeries, {
      upColor: UP,
      downColor: DOWN,
      wickUpColor: UP,
      wickDownColor: DOWN,
      borderVisible: false,
    });
    this.volume = this.chart.addSeries(HistogramSeries, {
      priceFormat: { type: "volume" },
      priceScaleId: "volume",
    });
    this.chart.priceScale("volume").applyOptions({ scaleMargins: { top: 0.82, bottom: 0 } });
    this.applyTheme();
    matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => this.applyTheme());
  }

  /** Show `ticker` at `interval`: its history, then its live bars. */
  async show(ticker: string, interval: ChartInterval = this.interval): Promise<void> {
    const generation = ++this.generation;
    this.ticker = ticker;
    this.interval = interval;
    this.container.dataset.ticker = ticker;
    this.container.dataset.interval = interval;
    await this.live?.close();
    this.live = undefined;
    this.count = 0;
    this.bars.setData([]);
    this.volume.setData([]);
    this.container.dataset.bars = "0";
    if (ticker === "") return;
    try {
      const now = Date.now();
      const history = await this.client.candles(ticker, interval, new Date(now - LOOKBACK_MS[interval]), new Date(now + 60_000));
      if (generation !== this.generation) return; // another ticker was picked meanwhile
      for (const candle of history) this.draw(candle);
      this.chart.timeScale().fitContent();
      this.live = this.client.subscribeCandles([ticker], interval);
      for await (const candle of this.live) {
        if (generation !== this.generation) return;
        this.draw(candle);
      }
    } catch (error) {
      if (generation === this.generation) this.onError(error);
    }
  }

  private draw(candle: Candle): void {
    const time = Number(candle.start?.seconds ?? 0n) as UTCTimestamp;
    const last = this.bars.data().at(-1);
    if (last !== undefined && (last.time as number) > time) return; // older than what is drawn
    if (last === undefined || (last.time as number) < time) this.count += 1;
    this.bars.update({ time, open: candle.open, high: candle.high, low: candle.low, close: candle.close });
    this.volume.update({
      time,
      value: candle.volume,
      color: candle.close >= candle.open ? `${UP}66` : `${DOWN}66`,
    });
    this.container.dataset.bars = String(this.count);
    this.container.dataset.lastClose = String(candle.close);
  }

  private applyTheme(): void {
    const dark = matchMedia("(prefers-color-scheme: dark)").matches;
    this.chart.applyOptions({
      layout: {
        background: { type: ColorType.Solid, color: "transparent" },
        textColor: dark ? "#9aa4b2" : "#5b6472",
        fontFamily: getComputedStyle(document.body).fontFamily,
      },
      grid: { horzLines: { color: dark ? "#1f2633" : "#eef0f4" } },
    });
  }
}
