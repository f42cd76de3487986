/** Subscription: a self-healing stream of prices (or candles), read as an async iterable. */

import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import {
  type MarketData,
  type MarketStatus,
  type PriceUpdate,
  type SubscribeRequest,
  SubscribeRequestSchema,
  type SubscribeResponse,
  type SubscriptionAck,
  TickerResultSchema,
  TickerStatus,
} from "./gen/tickwire/v1/market_data_pb.js";
import type { Candle, CandleInterval } from "./gen/tickwire/v1/candles_pb.js";
import { CandleInbox } from "./candles.js";
import { ClosedError, SubscriptionError } from "./errors.js";
import { Inbox } from "./inbox.js";
import {
  backoffDelay,
  normalise,
  tickerResult,
  type Backoff,
  type ConnectionState,
  type StateCallback,
  type StateChange,
  type StreamStats,
  type TickerResult,
} from "./types.js";

/** Which RPC carries the stream: `Subscribe` (bidi, Node) or `StreamPrices` (server streaming, grpc-web). */
export type StreamKind = "bidi" | "server";

/** How a subscription keeps its stream, fixed when the client is made. */
export interface StreamOptions {
  kind: StreamKind;
  /** Milliseconds an add/remove may wait for its answer, reconnecting included. */
  timeoutMs: number;
  backoff: Backoff;
  /** Milliseconds of silence after which a stream counts as dead (must exceed twice the server's heartbeat interval). */
  heartbeatTimeoutMs: number;
  /** Failed reconnects in a row before giving up (undefined: never). */
  maxReconnects: number | undefined;
}

export interface SubscribeOptions {
  /** Fail the subscription (and `add`) when the server rejects any ticker. */
  strict?: boolean;
  /** Called with every change of the connection state. */
  onState?: StateCallback;
  /** Called with every market status the server sends. */
  onMarketStatus?: (status: MarketStatus) => void;
}

type Request = MessageInitShape<typeof SubscribeRequestSchema>;

/** What a subscription's stream carries: its inbox, and the requests and RPCs that feed it. */
export interface Feed<T> {
  readonly inbox: Mailbox<T>;
  /** The request that adds (or removes) tickers on a `Subscribe` stream. */
  change(add: boolean, tickers: string[], requestId: string): Request;
  /** The server-streaming call for a fixed set (grpc-web). */
  open(
    service: Client<typeof MarketData>,
    tickers: string[],
    options: { signal: AbortSignal; headers?: HeadersInit },
  ): AsyncIterable<SubscribeResponse>;
}

/** The receiving side a subscription keeps across reconnects (prices: `Inbox`). */
export interface Mailbox<T> {
  wanted: Set<string>;
  readonly stats: StreamStats;
  results: TickerResult[];
  readonly rejected: Map<string, TickerResult>;
  marketStatus: MarketStatus | undefined;
  onReadable: () => void;
  onMarketStatus: (status: MarketStatus) => void;
  take(): T | undefined;
  receive(message: SubscribeResponse): SubscriptionAck | undefined;
  apply(ack: SubscriptionAck): TickerResult[];
  forget(ticker: string): void;
}

/** Prices: `Subscribe`'s subscribe/unsubscribe, or `StreamPrices`. */
export function priceFeed(tickers: Iterable<string>): Feed<PriceUpdate> {
  return {
    inbox: new Inbox(tickers),
    change: (add, tickers, requestId) => ({
      request: { case: add ? "subscribe" : "unsubscribe", value: { tickers, requestId } },
    }),
    open: (service, tickers, options) => service.streamPrices({ tickers }, options),
  };
}

/** Candles of one interval: `Subscribe`'s candle requests, or `StreamCandles`. */
export function candleFeed(tickers: Iterable<string>, interval: CandleInterval, closedOnly: boolean): Feed<Candle> {
  return {
    inbox: new CandleInbox(tickers, interval),
    change: (add, tickers, requestId) =>
      add
        ? { request: { case: "subscribeCandles", value: { tickers, interval, closedOnly, requestId } } }
        : { request: { case: "unsubscribeCandles", value: { tickers, interval, requestId } } },
    open: (service, tickers, options) => service.streamCandles({ tickers, interval, closedOnly }, options),
  };
}
type HeadersFactory = () => Promise<HeadersInit | undefined>;

// A stream ending with one of these is not retried: retrying cannot help.
const FATAL = new Set([Code.PermissionDenied, Code.InvalidArgument, Code.Unimplemented, Code.FailedPrecondition]);

// Why a stream's controller was aborted by the subscription itself.
const RESTART = Symbol("restart");
const WATCHDOG = Symbol("watchdog");
const CLOSE = Symbol("close");

interface InFlight {
  readonly request: Request | undefined; // undefined: answered by the next StreamPrices ack
  readonly tickers: string[];
  readonly resolve: (results: TickerResult[]) => void;
  readonly reject: (error: Error) => void;
  readonly timer: ReturnType<typeof setTimeout>;
}

/** Requests to a bidi stream: an async iterable the subscription pushes into. */
class RequestQueue implements AsyncIterable<SubscribeRequest> {
  private readonly queued: SubscribeRequest[] = [];
  private waiting: (() => void) | undefined;
  private ended = false;

  push(request: Request): void {
    this.queued.push(create(SubscribeRequestSchema, request));
    this.wake();
  }

  end(): void {
    this.ended = true;
    this.wake();
  }

  private wake(): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<SubscribeRequest> {
    for (;;) {
      const next = this.queued.shift();
      if (next !== undefined) {
        yield next;
      } else if (this.ended) {
        return;
      } else {
        await new Promise<void>((resolve) => (this.waiting = resolve));
      }
    }
  }
}

/**
 * Live prices for a changing set of tickers, surviving disconnects.
 *
 * Iterate it for `PriceUpdate`s: the latest price of each ticker first (state
 * SNAPSHOT), then live updates. Behind it one loop keeps a stream open: it
 * reconnects with exponential backoff and jitter, resubscribes the wanted set,
 * sends again every add/remove still unanswered, treats a stream silent for
 * longer than `heartbeatTimeoutMs` as dead, and counts sequence gaps in
 * `stats`. Updates wait in a mailbox holding the latest per ticker, so a
 * reader that falls behind gets fresh prices, never a growing backlog.
 *
 * On grpc-web (`kind: "server"`) the stream is `StreamPrices`, which cannot
 * take requests: every add or remove reopens it with the new set, and the new
 * stream starts again with a snapshot of every ticker.
 */
export class Subscription<T = PriceUpdate> implements AsyncIterable<T> {
  /** Set once the subscription failed for good (fatal status, strict rejection, too many reconnects). */
  error: Error | undefined;
  private _state: ConnectionState = "connecting";
  private closed = false;
  private readonly inbox: Mailbox<T>;
  private readonly inFlight = new Map<string, InFlight>();
  private requestNumber = 0;
  private controller: AbortController | undefined;
  private requests: RequestQueue | undefined;
  private connected = false;
  private readonly waitingReaders: (() => void)[] = [];
  private waitingChange: (() => void) | undefined;
  private readonly connectedWaiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  private readonly done: Promise<void>;

  constructor(
    private readonly service: Client<typeof MarketData>,
    private readonly headers: HeadersFactory,
    private readonly options: StreamOptions,
    private readonly feed: Feed<T>,
    private readonly subscribeOptions: SubscribeOptions = {},
  ) {
    this.inbox = feed.inbox;
    this.inbox.onReadable = () => this.wakeReader();
    this.inbox.onMarketStatus = (status) => this.subscribeOptions.onMarketStatus?.(status);
    this.done = this.run();
  }

  /** Where the stream stands: connecting, connected, reconnecting or closed. */
  get state(): ConnectionState {
    return this._state;
  }

  /** The tickers this subscription wants (accepted or awaiting an answer). */
  get tickers(): string[] {
    return [...this.inbox.wanted];
  }

  /** Counters of updates, gaps, conflation, reconnects and heartbeats. */
  get stats(): Readonly<StreamStats> {
    return this.inbox.stats;
  }

  /** The server's answer for the tickers the subscription opened with. */
  get results(): TickerResult[] {
    return this.inbox.results;
  }

  /** Tickers the server refused, with its reason. */
  get rejected(): ReadonlyMap<string, TickerResult> {
    return this.inbox.rejected;
  }

  /** The latest market status the server sent on this subscription. */
  get marketStatus(): MarketStatus | undefined {
    return this.inbox.marketStatus;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      const update = this.inbox.take();
      if (update !== undefined) {
        yield update;
        continue;
      }
      if (this.error !== undefined) throw this.error;
      if (this.closed) return;
      await new Promise<void>((resolve) => this.waitingReaders.push(resolve));
    }
  }

  /**
   * Subscribe to more tickers; one result per ticker.
   *
   * Throws `SubscriptionError` when strict and some were rejected, a
   * `ConnectError` DEADLINE_EXCEEDED when no answer came within `timeoutMs`,
   * `ClosedError` when the subscription is closed or failed.
   */
  async add(tickers: string[], options: { strict?: boolean } = {}): Promise<TickerResult[]> {
    const asked = tickers.map(normalise);
    let results: TickerResult[];
    if (this.options.kind === "bidi") {
      results = await this.request(true, tickers, asked);
    } else {
      // StreamPrices takes no requests: reopen it with the new set.
      for (const ticker of asked) if (ticker !== "") this.inbox.wanted.add(ticker);
      results = await this.request(undefined, tickers, asked);
    }
    if (options.strict ?? this.subscribeOptions.strict ?? false) raiseIfRejected(results);
    return results;
  }

  /**
   * Unsubscribe tickers; pending updates of them are dropped.
   *
   * On `StreamPrices` the answer is the client's own (OK for a ticker it
   * had, NOT_SUBSCRIBED otherwise): the stream is reopened without them.
   */
  async remove(tickers: string[]): Promise<TickerResult[]> {
    const asked = tickers.map(normalise);
    if (this.options.kind === "bidi") {
      for (const ticker of asked) this.inbox.forget(ticker);
      return this.request(false, tickers, asked);
    }
    this.raiseIfClosed();
    const results = asked.map((ticker) => localResult(ticker, this.inbox.wanted.has(ticker)));
    for (const ticker of asked) this.inbox.forget(ticker);
    this.restart();
    return results;
  }

  /** Resolve once the stream is (re)connected; reject if it failed for good. */
  waitConnected(): Promise<void> {
    if (this.connected) return Promise.resolve();
    if (this.closed) return Promise.reject(this.error ?? new ClosedError("the subscription is closed"));
    return new Promise((resolve, reject) => this.connectedWaiters.push({ resolve, reject }));
  }

  /** Stop the stream and its loop. Idempotent. */
  async close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.controller?.abort(CLOSE);
      this.wakeChange();
    }
    await this.done;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // The loop: one stream after another until closed or failed.

  private async run(): Promise<void> {
    const backoff = this.options.backoff;
    let attempt = 0; // reconnects since the last healthy stream
    let refused = 0; // UNAUTHENTICATED ends in a row, none of them after a healthy stream
    try {
      while (!this.closed) {
        if (this.options.kind === "server" && this.inbox.wanted.size === 0) {
          await this.idle(); // StreamPrices needs at least one ticker
          continue;
        }
        const controller = new AbortController();
        this.controller = controller;
        let connectedAt = 0;
        let freshToken = false;
        let reason: string;
        try {
          await this.stream(controller, () => (connectedAt = performance.now()));
          reason = "the server closed the stream";
        } catch (thrown) {
          const why: unknown = controller.signal.reason;
          if (this.closed) break;
          if (why === RESTART) continue; // the wanted set changed: reopen at once
          if (why === WATCHDOG) {
            reason = `no message for ${this.options.heartbeatTimeoutMs / 1000} s (heartbeat watchdog)`;
          } else {
            const error = ConnectError.from(thrown);
            if (error.code === Code.Unauthenticated) {
              refused = connectedAt ? 1 : refused + 1;
              freshToken = refused === 1;
            }
            if (error.code === Code.InvalidArgument && this.options.kind === "server" && this.inbox.wanted.size === 0) {
              continue; // every ticker was rejected (the ack said which): wait for an add
            }
            if (FATAL.has(error.code) || (error.code === Code.Unauthenticated && refused > 1)) {
              this.fail(error);
              return;
            }
            reason = `${Code[error.code]}: ${error.rawMessage}`;
          }
        } finally {
          this.connected = false;
          this.requests = undefined;
        }
        if (connectedAt && performance.now() - connectedAt >= backoff.resetAfterMs) attempt = 0;
        const limit = this.options.maxReconnects;
        if (limit !== undefined && attempt >= limit) {
          this.fail(new ConnectError(`gave up after ${limit} reconnects in a row: ${reason}`, Code.Unavailable));
          return;
        }
        // After a token ran out, the next stream gets a fresh one at once.
        const delayMs = freshToken ? 0 : backoffDelay(backoff, attempt);
        attempt += 1;
        this.inbox.stats.reconnects += 1;
        this.setState({ state: "reconnecting", attempt, delayMs, reason });
        await this.idle(delayMs);
      }
    } finally {
      this.end(this.error ?? new ClosedError("the subscription is closed"));
      this.setState({ state: "closed", attempt: 0, delayMs: 0, reason: this.error?.message ?? "" });
    }
  }

  /** One stream, from opening to loss (throws) or the server's clean end. */
  private async stream(controller: AbortController, onConnect: () => void): Promise<void> {
    const signal = controller.signal;
    const headers = await this.headers();
    const silence = this.options.heartbeatTimeoutMs;
    let watchdog = setTimeout(() => controller.abort(WATCHDOG), silence);
    let responses: AsyncIterable<SubscribeResponse>;
    const wanted = [...this.inbox.wanted];
    const requestId = this.inbox.results.length > 0 ? "resubscribe" : "initial";
    if (this.options.kind === "bidi") {
      const requests = new RequestQueue();
      this.requests = requests;
      requests.push(
        wanted.length > 0
          ? this.feed.change(true, wanted, requestId)
          : { request: { case: "ping", value: { id: "hello" } } },
      );
      responses = this.service.subscribe(requests, { signal, headers });
    } else {
      responses = this.feed.open(this.service, wanted, { signal, headers });
    }
    try {
      for await (const message of responses) {
        clearTimeout(watchdog);
        watchdog = setTimeout(() => controller.abort(WATCHDOG), silence);
        if (!this.connected) {
          this.connected = true;
          onConnect();
          this.onConnect();
        }
        const ack = this.inbox.receive(message);
        if (ack !== undefined) this.onAck(ack, requestId);
      }
    } finally {
      clearTimeout(watchdog);
      this.requests?.end();
      if (!signal.aborted) controller.abort();
    }
  }

  /** The stream is up: say so, and write every request still unanswered (their acks may be lost). */
  private onConnect(): void {
    for (const waiter of this.connectedWaiters.splice(0)) waiter.resolve();
    this.setState({ state: "connected", attempt: 0, delayMs: 0, reason: "" });
    for (const pending of this.inFlight.values()) {
      if (pending.request !== undefined) this.requests?.push(pending.request);
    }
  }

  private onAck(ack: SubscriptionAck, openingId: string): void {
    const results = this.inbox.apply(ack);
    const opening = this.options.kind === "server" || ack.requestId === openingId;
    if (opening && (this.inbox.results.length === 0 || ack.requestId === "initial")) {
      this.inbox.results = results;
      if (this.subscribeOptions.strict && results.some((r) => !r.ok)) {
        this.fail(new SubscriptionError(results));
        return;
      }
    }
    if (this.options.kind === "server") {
      // The opening ack answers every add made before this stream opened.
      const byTicker = new Map(results.map((r) => [normalise(r.ticker), r]));
      for (const [id, pending] of this.inFlight) {
        this.settle(id, pending.tickers.flatMap((t) => byTicker.get(t) ?? []));
      }
    } else {
      this.settle(ack.requestId, results);
    }
  }

  /**
   * Send an add or remove (bidi: `add` true or false), or reopen the stream
   * (`add` undefined, server streaming), and wait for the answer naming `asked`.
   */
  private request(add: boolean | undefined, tickers: string[], asked: string[]): Promise<TickerResult[]> {
    this.raiseIfClosed();
    const requestId = `r${++this.requestNumber}`;
    const request: Request | undefined = add === undefined ? undefined : this.feed.change(add, tickers, requestId);
    const answer = new Promise<TickerResult[]>((resolve, reject) => {
      const late = new ConnectError(`no answer within ${this.options.timeoutMs} ms`, Code.DeadlineExceeded);
      const timer = setTimeout(() => this.settle(requestId, late), this.options.timeoutMs);
      this.inFlight.set(requestId, { request, tickers: asked, resolve, reject, timer });
    });
    if (request === undefined) this.restart();
    else if (this.connected) this.requests?.push(request);
    return answer;
  }

  private settle(id: string, outcome: TickerResult[] | Error): void {
    const pending = this.inFlight.get(id);
    if (pending === undefined) return;
    this.inFlight.delete(id);
    clearTimeout(pending.timer);
    if (outcome instanceof Error) pending.reject(outcome);
    else pending.resolve(outcome);
  }

  /** Reopen the server stream with the current wanted set (StreamPrices only). */
  private restart(): void {
    if (this.controller !== undefined && !this.controller.signal.aborted) this.controller.abort(RESTART);
    this.wakeChange();
  }

  /** Wait `ms` (or until woken by a change or close when ms is undefined). */
  private idle(ms?: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = ms === undefined ? undefined : setTimeout(() => this.wakeChange(), ms);
      this.waitingChange = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private wakeChange(): void {
    const waiting = this.waitingChange;
    this.waitingChange = undefined;
    waiting?.();
  }

  private wakeReader(): void {
    for (const wake of this.waitingReaders.splice(0)) wake();
  }

  private fail(error: Error): void {
    this.error ??= error;
    this.closed = true;
    this.controller?.abort(CLOSE);
    this.wakeChange();
  }

  private end(error: Error): void {
    this.closed = true;
    this.connected = false;
    this.wakeReader();
    for (const id of [...this.inFlight.keys()]) this.settle(id, error);
    for (const waiter of this.connectedWaiters.splice(0)) waiter.reject(error);
  }

  private raiseIfClosed(): void {
    if (this.closed) throw this.error ?? new ClosedError("the subscription is closed");
  }

  private setState(change: StateChange): void {
    if (change.state === this._state && change.state !== "reconnecting") return;
    this._state = change.state;
    try {
      this.subscribeOptions.onState?.(change);
    } catch (error) {
      console.error("tickwire: state callback failed", error);
    }
  }
}

function localResult(ticker: string, had: boolean): TickerResult {
  const status = had ? TickerStatus.OK : TickerStatus.NOT_SUBSCRIBED;
  return tickerResult(create(TickerResultSchema, { ticker, status, message: had ? "" : "not subscribed" }));
}

function raiseIfRejected(results: TickerResult[]): void {
  if (results.some((r) => !r.ok)) throw new SubscriptionError(results);
}
