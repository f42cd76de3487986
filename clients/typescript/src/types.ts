/** The client's own types: connection states, per-ticker results, counters, backoff. */

import { TickerStatus, type TickerResult as TickerResultMessage } from "./gen/tickwire/v1/market_data_pb.js";

/** Where a subscription's stream stands. */
export type ConnectionState = "connecting" | "connected" | "reconnecting" | "closed";

/** One change of a subscription's connection state. */
export interface StateChange {
  readonly state: ConnectionState;
  /** Reconnect attempt number (1-based) while reconnecting, else 0. */
  readonly attempt: number;
  /** Milliseconds until the next attempt while reconnecting, else 0. */
  readonly delayMs: number;
  /** Why the stream was lost or closed; empty otherwise. */
  readonly reason: string;
}

export type StateCallback = (change: StateChange) => void;

/** The server's answer for one ticker of a subscribe or unsubscribe request. */
export interface TickerResult {
  readonly ticker: string;
  readonly status: TickerStatus;
  /** The status's name without its prefix: "OK", "UNKNOWN_TICKER", ... */
  readonly statusName: string;
  readonly message: string;
  /** True when the ticker was accepted (status OK). */
  readonly ok: boolean;
}

export function tickerResult(message: TickerResultMessage): TickerResult {
  return {
    ticker: message.ticker,
    status: message.status,
    statusName: (TickerStatus[message.status] ?? String(message.status)),
    message: message.message,
    ok: message.status === TickerStatus.OK,
  };
}

/** Counters of one subscription, kept across reconnects. */
export interface StreamStats {
  updates: number;
  batches: number;
  /** Updates merged away: by the server (its batches say so) or in the client's mailbox. */
  conflated: number;
  /** Times a ticker's sequence jumped forward by more than one. */
  gaps: number;
  /** Sequence numbers skipped over in all those gaps. */
  missed: number;
  heartbeats: number;
  reconnects: number;
  /** `performance.now()` of the last message, or 0. */
  lastMessageAt: number;
}

/**
 * Exponential backoff with jitter for reconnects.
 *
 * The n-th consecutive failure waits min(maximumMs, initialMs * multiplier**n),
 * spread by ±jitter of itself. After `resetAfterMs` of a healthy stream the
 * count starts again from zero. The same defaults as the Python client.
 */
export interface Backoff {
  initialMs: number;
  maximumMs: number;
  multiplier: number;
  jitter: number;
  resetAfterMs: number;
}

export const DEFAULT_BACKOFF: Backoff = {
  initialMs: 250,
  maximumMs: 15_000,
  multiplier: 2,
  jitter: 0.2,
  resetAfterMs: 30_000,
};

/** Milliseconds to wait before reconnect attempt number `attempt` (0-based). */
export function backoffDelay(backoff: Backoff, attempt: number, random: () => number = Math.random): number {
  const base = Math.min(backoff.maximumMs, backoff.initialMs * backoff.multiplier ** Math.min(attempt, 64));
  const spread = (random() * 2 - 1) * backoff.jitter;
  return Math.max(0, base * (1 + spread));
}

/** Normalise a ticker the way the server does: trimmed, upper case. */
export function normalise(ticker: string): string {
  return ticker.trim().toUpperCase();
}
