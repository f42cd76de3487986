/** Inbox: what a subscription has received — wanted tickers, latest prices, gaps, acks. */

import {
  SubscriptionAction,
  TickerStatus,
  type MarketStatus,
  type PriceUpdate,
  type SubscribeResponse,
  type SubscriptionAck,
} from "./gen/tickwire/v1/market_data_pb.js";
import { normalise, tickerResult, type StreamStats, type TickerResult } from "./types.js";

/**
 * The receiving side of one subscription, kept across reconnects.
 *
 * It holds the tickers wanted (as the server normalised them), a mailbox of
 * the latest undelivered update per ticker (a slow reader gets fresh prices,
 * never a backlog), the last sequence per ticker to count gaps, and what the
 * acks said. Plain object, no I/O: tests feed it messages.
 */
export class Inbox {
  wanted: Set<string>;
  readonly stats: StreamStats = {
    updates: 0, batches: 0, conflated: 0, gaps: 0, missed: 0, heartbeats: 0, reconnects: 0, lastMessageAt: 0,
  };
  /** The answer to the first subscribe request. */
  results: TickerResult[] = [];
  readonly rejected = new Map<string, TickerResult>();
  marketStatus: MarketStatus | undefined;
  /** Called when the mailbox goes from empty to holding something. */
  onReadable: () => void = () => {};
  /** Called with every market status the server sends. */
  onMarketStatus: (status: MarketStatus) => void = () => {};
  private readonly pending = new Map<string, PriceUpdate>();
  private readonly lastSequence = new Map<string, bigint>();

  constructor(tickers: Iterable<string>) {
    this.wanted = new Set(tickers);
  }

  /** The oldest ticker's latest update, or undefined when the mailbox is empty. */
  take(): PriceUpdate | undefined {
    for (const [ticker, update] of this.pending) {
      this.pending.delete(ticker);
      return update;
    }
    return undefined;
  }

  get size(): number {
    return this.pending.size;
  }

  /** Take in one message; return its ack, if it is one, for the caller to settle. */
  receive(message: SubscribeResponse): SubscriptionAck | undefined {
    const stats = this.stats;
    stats.lastMessageAt = performance.now();
    const response = message.response;
    switch (response.case) {
      case "prices": {
        const before = this.pending.size;
        stats.batches += 1;
        stats.conflated += Number(response.value.conflated);
        for (const update of response.value.updates) this.deliver(update);
        if (before === 0 && this.pending.size > 0) this.onReadable();
        return undefined;
      }
      case "ack":
        return response.value;
      case "heartbeat":
        stats.heartbeats += 1;
        return undefined;
      case "marketStatus":
        this.marketStatus = response.value;
        this.onMarketStatus(response.value);
        return undefined;
      default:
        return undefined;
    }
  }

  /** Update the wanted set from an ack; return its per-ticker results. */
  apply(ack: SubscriptionAck): TickerResult[] {
    return settle(this, ack, SubscriptionAction.SUBSCRIBE);
  }

  /** Stop wanting `ticker` and drop its undelivered update. */
  forget(ticker: string): void {
    this.wanted.delete(ticker);
    this.pending.delete(ticker);
    this.lastSequence.delete(ticker);
  }

  private deliver(update: PriceUpdate): void {
    const ticker = update.ticker;
    if (!this.wanted.has(ticker)) return; // in flight when it was removed
    const stats = this.stats;
    stats.updates += 1;
    const last = this.lastSequence.get(ticker);
    if (last !== undefined && update.sequence > last + 1n) {
      stats.gaps += 1;
      stats.missed += Number(update.sequence - last - 1n);
    }
    this.lastSequence.set(ticker, update.sequence);
    if (this.pending.has(ticker)) stats.conflated += 1;
    this.pending.set(ticker, update);
  }
}

/**
 * What an ack does to an inbox (of prices or candles): its per-ticker results.
 * Refused tickers are forgotten and kept in `rejected`; on an ack of
 * `subscribing`, the server's normalised names replace what was asked for.
 */
export function settle(
  inbox: { wanted: Set<string>; readonly rejected: Map<string, TickerResult>; forget(ticker: string): void },
  ack: SubscriptionAck,
  subscribing: SubscriptionAction,
): TickerResult[] {
  const results = ack.results.map(tickerResult);
  for (const result of results) {
    if (result.ok) {
      inbox.rejected.delete(result.ticker); // accepted now, whatever it was before
    } else if (result.status !== TickerStatus.NOT_SUBSCRIBED) {
      inbox.rejected.set(result.ticker, result);
      inbox.forget(result.ticker);
    }
  }
  if (ack.action === subscribing) {
    const asked = new Set(results.map((r) => normalise(r.ticker)));
    const kept = [...inbox.wanted].filter((t) => !asked.has(normalise(t)));
    inbox.wanted = new Set([...kept, ...results.filter((r) => r.ok).map((r) => r.ticker)]);
  }
  return results;
}
