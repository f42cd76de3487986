/** `connectWeb`: a TickwireClient for browsers, over grpc-web (through Envoy), with `StreamPrices`. */

import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { TickwireClient, type ClientOptions } from "./client.js";

export type WebOptions = Omit<ClientOptions, "transport" | "streams">;

/** A client for the grpc-web bridge at `baseUrl` (default: the page's own origin). */
export function connectWeb(baseUrl: string = globalThis.location.origin, options: WebOptions = {}): TickwireClient {
  return new TickwireClient({ ...options, transport: createGrpcWebTransport({ baseUrl }), streams: "server" });
}

export * from "./index.js";
