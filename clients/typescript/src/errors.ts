/** Errors the client raises beyond connect's own `ConnectError`. */

import type { TickerResult } from "./types.js";

/** A strict request had tickers rejected; `results` says which and why. */
export class SubscriptionError extends Error {
  override readonly name = "SubscriptionError";
  readonly rejected: TickerResult[];

  constructor(readonly results: TickerResult[]) {
    const rejected = results.filter((r) => !r.ok);
    super(
      "rejected: " +
        rejected.map((r) => `${r.ticker} ${r.statusName}${r.message ? ` (${r.message})` : ""}`).join(", "),
    );
    this.rejected = rejected;
  }
}

/** The subscription is closed: no stream will open again. */
export class ClosedError extends Error {
  override readonly name = "ClosedError";
}
