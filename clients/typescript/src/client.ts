/** TickwireClient: live prices and the unary reads, over any connect transport. */

import { createClient, type CallOptions, type Client, type Transport } from "@connectrpc/connect";
import {
  MarketData,
  type MarketStatus,
  type PriceUpdate,
  type TickerInfo,
} from "./gen/tickwire/v1/market_data_pb.js";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { type Candle, type CandleInterval } from "./gen/tickwire/v1/candles_pb.js";
import { intervalInfo } from "./candles.js";
import { SubscriptionError } from "./errors.js";
import { ScenarioClient } from "./scenario.js";
import {
  candleFeed,
  priceFeed,
  Subscription,
  type Feed,
  type StreamKind,
  type StreamOptions,
  type SubscribeOptions,
} from "./subscription.js";
import { DEFAULT_BACKOFF, normalise, tickerResult, type Backoff } from "./types.js";

/** A bearer token, or a function returning one per call (refreshed tokens). */
export type Token = string | (() => string | Promise<string>);

export interface ClientOptions {
  /** The connect transport: `createGrpcTransport` (Node) or `createGrpcWebTransport` (browsers). */
  transport: Transport;
  /**
   * Which RPC carries subscriptions: "bidi" (`Subscribe`, needs HTTP/2 and
   * gRPC) or "server" (`StreamPrices`, for grpc-web, which has no client streaming).
   */
  streams: StreamKind;
  /** Sent as `authorization: Bearer <token>` on every call. */
  token?: Token;
  /** Milliseconds a unary call, or a subscription's add/remove, may take. Default 10 s. */
  timeoutMs?: number;
  /** Reconnect pacing; defaults as the Python client's. */
  backoff?: Partial<Backoff>;
  /** Silence after which a stream counts as dead. Default 20 s (the server beats every 5 s). */
  heartbeatTimeoutMs?: number;
  /** Failed reconnects in a row before a subscription gives up. Default: never. */
  maxReconnects?: number;
}

/**
 * A tickwire client: `subscribe` for live prices, `snapshot`, `tickers` and
 * `marketStatus` for reads, and `scenario` for the synthetic source's control plane.
 *
 * Make one with `connectNode` (from `@tickwire/client/node`) or `connectWeb`
 * (from `@tickwire/client/web`), or pass a transport of your own.
 */
export class TickwireClient {
  /** The generated MarketData client, for anything the wrapper does not cover. */
  readonly marketData: Client<typeof MarketData>;
  /** The ScenarioControl plane (only the synthetic and replay sources serve it). */
  readonly scenario: ScenarioClient;
  private readonly streamOptions: StreamOptions;
  private readonly subscriptions = new Set<{ close(): Promise<void> }>();
  private readonly timeoutMs: number;

  constructor(private readonly options: ClientOptions) {
    this.marketData = createClient(MarketData, options.transport);
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.scenario = new ScenarioClient(options.transport, () => this.callOptions());
    this.streamOptions = {
      kind: options.streams,
      timeoutMs: this.timeoutMs,
      backoff: { ...DEFAULT_BACKOFF, ...options.backoff },
      heartbeatTimeoutMs: options.heartbeatTimeoutMs ?? 20_000,
      maxReconnects: options.maxReconnects,
    };
  }

  /**
   * Live prices for `tickers`: a snapshot of each, then every change, across
   * reconnects. Iterate the result with `for await`; `add`/`remove` change the set.
   */
  subscribe(tickers: Iterable<string>, options: SubscribeOptions = {}): Subscription {
    const wanted = [...tickers].map(normalise).filter((t) => t !== "");
    return this.track(priceFeed(wanted), options);
  }

  /**
   * Live candles of `interval` ("5s" ... "1mo", or a `CandleInterval`) for
   * `tickers`: each ticker's forming bar at once (unless `closedOnly`), its
   * changes at most every 250 ms, each bar again when it closes (`complete`),
   * and once more, revision raised, if a late price corrects it.
   * Throws `RangeError` for an unknown interval.
   */
  subscribeCandles(
    tickers: Iterable<string>,
    interval: string | CandleInterval,
    options: SubscribeOptions & { closedOnly?: boolean } = {},
  ): Subscription<Candle> {
    const info = intervalInfo(interval);
    return this.track(candleFeed(tickers, info.interval, options.closedOnly ?? false), options);
  }

  /**
   * Every stored bar of `ticker` starting in [start, end) (end: now), oldest
   * first, the forming one last when in range. A range wider than one call
   * may span is asked in pieces, and every page of each is followed.
   */
  async candles(ticker: string, interval: string | CandleInterval, start: Date, end: Date = new Date()): Promise<Candle[]> {
    const info = intervalInfo(interval);
    if (end <= start) throw new RangeError(`end ${end.toISOString()} is not after start ${start.toISOString()}`);
    const out: Candle[] = [];
    for (let lo = start.getTime(); lo < end.getTime(); lo += info.maxRangeMs) {
      const hi = Math.min(end.getTime(), lo + info.maxRangeMs);
      let pageToken = "";
      do {
        const page = await this.marketData.getCandles(
          { ticker, interval: info.interval, start: timestampFromMs(lo), end: timestampFromMs(hi), pageToken },
          await this.callOptions(),
        );
        out.push(...page.candles);
        pageToken = page.nextPageToken;
      } while (pageToken !== "");
    }
    return out;
  }

  private track<T>(feed: Feed<T>, options: SubscribeOptions): Subscription<T> {
    const subscription: Subscription<T> = new Subscription<T>(
      this.marketData,
      async () => (await this.callOptions()).headers,
      this.streamOptions,
      feed,
      {
        ...options,
        onState: (change) => {
          if (change.state === "closed") this.subscriptions.delete(subscription);
          options.onState?.(change);
        },
      },
    );
    this.subscriptions.add(subscription);
    return subscription;
  }

  /**
   * The latest price of each ticker (every page followed).
   *
   * Tickers without one are left out; with `strict`, a rejected ticker
   * throws `SubscriptionError` naming them all.
   */
  async snapshot(tickers: string[], options: { strict?: boolean } = {}): Promise<Map<string, PriceUpdate>> {
    const prices = new Map<string, PriceUpdate>();
    const rejected = [];
    let pageToken = "";
    do {
      const page = await this.marketData.getSnapshot({ tickers, pageToken }, await this.callOptions());
      for (const price of page.prices) prices.set(price.ticker, price);
      rejected.push(...page.results.map(tickerResult).filter((r) => !r.ok));
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    if (options.strict && rejected.length > 0) throw new SubscriptionError(rejected);
    return prices;
  }

  /** Every ticker the source offers. */
  async tickers(): Promise<TickerInfo[]> {
    return (await this.marketData.listTickers({}, await this.callOptions())).tickers;
  }

  /** Whether the market is open, and how the source is doing. */
  async marketStatus(): Promise<MarketStatus> {
    const response = await this.marketData.getMarketStatus({}, await this.callOptions());
    if (response.status === undefined) throw new Error("the server sent no market status");
    return response.status;
  }

  /** Close every subscription this client made. */
  async close(): Promise<void> {
    await Promise.all([...this.subscriptions].map((s) => s.close()));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private async callOptions(): Promise<CallOptions> {
    const token = this.options.token;
    const value = typeof token === "function" ? await token() : token;
    return {
      timeoutMs: this.timeoutMs,
      headers: value ? { authorization: `Bearer ${value}` } : undefined,
    };
  }
}
