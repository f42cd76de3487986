/** @tickwire/client: live market data from tickwire, for Node and browsers. */

export { TickwireClient, type ClientOptions, type Token } from "./client.js";
export { ScenarioClient } from "./scenario.js";
export { failover } from "./failover.js";
export { Subscription, type StreamKind, type SubscribeOptions } from "./subscription.js";
export { ClosedError, SubscriptionError } from "./errors.js";
export { INTERVALS, intervalInfo, type IntervalInfo } from "./candles.js";
export {
  DEFAULT_BACKOFF,
  backoffDelay,
  type Backoff,
  type ConnectionState,
  type StateChange,
  type StreamStats,
  type TickerResult,
} from "./types.js";
export { Code, ConnectError } from "@connectrpc/connect";
export * from "./gen/tickwire/v1/market_data_pb.js";
export * from "./gen/tickwire/v1/scenario_pb.js";
export * from "./gen/tickwire/v1/candles_pb.js";
