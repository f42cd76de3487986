/** ScenarioClient: the synthetic source's control plane (ScenarioControl), typed. */

import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { DurationSchema } from "@bufbuild/protobuf/wkt";
import { createClient, type CallOptions, type Client, type Transport } from "@connectrpc/connect";
import { MarketState, type MarketStatus, SourceState } from "./gen/tickwire/v1/market_data_pb.js";
import {
  type GetScenarioStateResponse,
  type PushPriceRequestSchema,
  type RunScenarioResponse,
  ScenarioControl,
} from "./gen/tickwire/v1/scenario_pb.js";

type PriceFields = Omit<MessageInitShape<typeof PushPriceRequestSchema>, "ticker" | "price" | "$typeName">;
type Market = "open" | "closed" | "extended_hours";
type Health = "starting" | "healthy" | "degraded" | "error" | "stopped";

const MARKETS: Record<Market, MarketState> = {
  open: MarketState.OPEN,
  closed: MarketState.CLOSED,
  extended_hours: MarketState.EXTENDED_HOURS,
};
const HEALTH: Record<Health, SourceState> = {
  starting: SourceState.STARTING,
  healthy: SourceState.HEALTHY,
  degraded: SourceState.DEGRADED,
  error: SourceState.ERROR,
  stopped: SourceState.STOPPED,
};

function duration(ms: number) {
  const seconds = Math.floor(ms / 1000);
  return create(DurationSchema, { seconds: BigInt(seconds), nanos: Math.round((ms - seconds * 1000) * 1e6) });
}

/**
 * Drive the synthetic source: force the market open, push an exact tick,
 * stall a ticker, burst, drop every connection, run a scenario file.
 *
 * Needs the admin role when auth is on; any other source answers UNIMPLEMENTED.
 * Every method maps to one RPC of `ScenarioControl`; `control` is the raw client.
 */
export class ScenarioClient {
  readonly control: Client<typeof ScenarioControl>;

  constructor(transport: Transport, private readonly callOptions: () => Promise<CallOptions>) {
    this.control = createClient(ScenarioControl, transport);
  }

  async setMarketState(market: Market): Promise<MarketStatus | undefined> {
    return (await this.control.setMarketState({ market: MARKETS[market] }, await this.callOptions())).status;
  }

  /** Publish exactly `price` for `ticker` now; returns the sequence it got. */
  async pushPrice(ticker: string, price: number, fields: PriceFields = {}): Promise<bigint> {
    return (await this.control.pushPrice({ ...fields, ticker, price }, await this.callOptions())).sequence;
  }

  /** Stop ticking `ticker`; after `staleAfterMs` the server marks it stale. */
  async stallTicker(ticker: string, staleAfterMs = 0): Promise<void> {
    const request = staleAfterMs > 0 ? { ticker, staleAfter: duration(staleAfterMs) } : { ticker };
    await this.control.stallTicker(request, await this.callOptions());
  }

  /** Tick `ticker` again; returns the sequence of its first fresh price. */
  async resumeTicker(ticker: string): Promise<bigint> {
    return (await this.control.resumeTicker({ ticker }, await this.callOptions())).sequence;
  }

  async startBurst(tickers: string[], hz: number, durationMs: number): Promise<void> {
    await this.control.startBurst({ tickers, hz, duration: duration(durationMs) }, await this.callOptions());
  }

  /** End every price stream (of `principal` only, when given); refuse new ones for `refuseForMs`. */
  async dropStreams(options: { refuseForMs?: number; principal?: string } = {}): Promise<number> {
    const request = {
      principal: options.principal ?? "",
      ...(options.refuseForMs ? { refuseFor: duration(options.refuseForMs) } : {}),
    };
    return (await this.control.dropStreams(request, await this.callOptions())).dropped;
  }

  async setSourceState(state: Health, message = ""): Promise<MarketStatus | undefined> {
    return (await this.control.setSourceState({ state: HEALTH[state], message }, await this.callOptions())).status;
  }

  /** Skip `count` sequence numbers of `ticker` (a client sees a gap); returns the next sequence. */
  async skipSequence(ticker: string, count: number): Promise<bigint> {
    const response = await this.control.skipSequence({ ticker, count: BigInt(count) }, await this.callOptions());
    return response.nextSequence;
  }

  async reset(): Promise<void> {
    await this.control.reset({}, await this.callOptions());
  }

  async setPaused(paused: boolean): Promise<void> {
    await this.control.setPaused({ paused }, await this.callOptions());
  }

  /** Step a manual clock (`--synthetic-clock manual`) by `ms`. */
  async advanceClock(ms: number): Promise<void> {
    await this.control.advanceClock({ by: duration(ms) }, await this.callOptions());
  }

  /** Run a scenario (YAML text); yields an event as each step runs. */
  async *runScenario(scenario: string, name = ""): AsyncIterable<RunScenarioResponse> {
    const options = { ...(await this.callOptions()), timeoutMs: undefined };
    yield* this.control.runScenario({ scenario, name }, options);
  }

  async state(): Promise<GetScenarioStateResponse> {
    return this.control.getScenarioState({}, await this.callOptions());
  }
}
