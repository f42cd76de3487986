/** Candles: interval names and limits from the contract, and the candle inbox of a subscription. */

import { getOption } from "@bufbuild/protobuf";
import { type Candle, CandleInterval, CandleIntervalSchema, interval_limits } from "./gen/tickwire/v1/candles_pb.js";
import {
  type MarketStatus,
  type SubscribeResponse,
  type SubscriptionAck,
  SubscriptionAction,
} from "./gen/tickwire/v1/market_data_pb.js";
import { settle } from "./inbox.js";
import { normalise, type StreamStats, type TickerResult } from "./types.js";

/** One `CandleInterval` with its name ("1m"), length and GetCandles limits. */
export interface IntervalInfo {
  readonly interval: CandleInterval;
  readonly name: string;
  /** The bar's length in seconds; 0 for the session-based 1d, 1w and 1mo. */
  readonly seconds: number;
  /** The widest range one GetCandles call may span, in ms. */
  readonly maxRangeMs: number;
  /** The most bars one GetCandles answer holds. */
  readonly maxLimit: number;
}

/** Every interval, finest first, read from the contract's `interval_limits` option. */
export const INTERVALS: readonly IntervalInfo[] = CandleIntervalSchema.values
  .filter((value) => value.number !== 0)
  .map((value) => {
    const limits = getOption(value, interval_limits);
    return {
      interval: value.number as CandleInterval,
      name: limits.name,
      seconds: limits.seconds,
      maxRangeMs: Number(limits.maxRangeSeconds) * 1000,
      maxLimit: limits.maxLimit,
    };
  });

/** The interval of a name ("5s", "1m", "4h", "1d", "1mo") or a `CandleInterval`; throws for none. */
export function intervalInfo(value: string | CandleInterval): IntervalInfo {
  const found = INTERVALS.find((i) => (typeof value === "string" ? i.name === value.trim() : i.interval === value));
  if (found === undefined) {
    throw new RangeError(`unknown candle interval ${String(value)}; one of ${INTERVALS.map((i) => i.name).join(", ")}`);
  }
  return found;
}

/**
 * The receiving side of a candle subscription: wanted tickers and undelivered bars.
 *
 * Bars wait keyed by ticker and start: a newer state of a bar (forming, then
 * closed, then corrected) replaces an older one not yet read, and distinct
 * bars keep their order. At most `maxPending` wait; past it the oldest goes,
 * counted as conflated.
 */
export class CandleInbox {
  wanted: Set<string>;
  readonly stats: StreamStats = {
    updates: 0, batches: 0, conflated: 0, gaps: 0, missed: 0, heartbeats: 0, reconnects: 0, lastMessageAt: 0,
  };
  results: TickerResult[] = [];
  readonly rejected = new Map<string, TickerResult>();
  marketStatus: MarketStatus | undefined;
  onReadable: () => void = () => {};
  onMarketStatus: (status: MarketStatus) => void = () => {};
  private readonly pending = new Map<string, Candle>();

  constructor(
    tickers: Iterable<string>,
    private readonly interval: CandleInterval,
    private readonly maxPending = 10_000,
  ) {
    this.wanted = new Set([...tickers].map(normalise).filter((t) => t !== ""));
  }

  take(): Candle | undefined {
    for (const [key, candle] of this.pending) {
      this.pending.delete(key);
      return candle;
    }
    return undefined;
  }

  receive(message: SubscribeResponse): SubscriptionAck | undefined {
    this.stats.lastMessageAt = performance.now();
    const response = message.response;
    switch (response.case) {
      case "candle": {
        const candle = response.value;
        if (!this.wanted.has(candle.ticker) || candle.interval !== this.interval) return undefined;
        this.stats.updates += 1;
        const key = `${candle.ticker} ${candle.start?.seconds ?? 0n}`;
        const empty = this.pending.size === 0;
        if (this.pending.has(key)) {
          this.stats.conflated += 1; // a newer state of the same bar takes its place
        } else if (this.pending.size >= this.maxPending) {
          const oldest = this.pending.keys().next().value;
          if (oldest !== undefined) this.pending.delete(oldest);
          this.stats.conflated += 1;
        }
        this.pending.set(key, candle);
        if (empty) this.onReadable();
        return undefined;
      }
      case "ack":
        return response.value;
      case "heartbeat":
        this.stats.heartbeats += 1;
        return undefined;
      case "marketStatus":
        this.marketStatus = response.value;
        this.onMarketStatus(response.value);
        return undefined;
      default:
        return undefined;
    }
  }

  apply(ack: SubscriptionAck): TickerResult[] {
    return settle(this, ack, SubscriptionAction.SUBSCRIBE_CANDLES);
  }

  forget(ticker: string): void {
    this.wanted.delete(ticker);
    for (const key of [...this.pending.keys()]) if (key.startsWith(`${ticker} `)) this.pending.delete(key);
  }
}
