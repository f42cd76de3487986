/** `connectNode`: a TickwireClient over gRPC (HTTP/2) from Node, with the bidi `Subscribe`. */

import { createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { TickwireClient, type ClientOptions } from "./client.js";
import { failover } from "./failover.js";

export type NodeOptions = Omit<ClientOptions, "transport" | "streams"> & {
  /**
   * "grpc" (default): straight to the server, subscriptions on `Subscribe`.
   * "grpc-web": through a grpc-web bridge (Envoy), subscriptions on `StreamPrices`.
   */
  protocol?: "grpc" | "grpc-web";
};

/**
 * A client for the server at `baseUrl` ("http://127.0.0.1:50051"; https for TLS).
 * A bare "host:port" is taken as plaintext http. Several servers of one
 * cluster (its edges) are a list: the client uses one, and moves to the
 * next when it stops answering (see `failover`).
 */
export function connectNode(baseUrl: string | readonly string[], options: NodeOptions = {}): TickwireClient {
  const { protocol = "grpc", ...rest } = options;
  const urls = typeof baseUrl === "string" ? [baseUrl] : baseUrl;
  const transports = urls.map((each) => {
    const url = /^[a-z]+:\/\//.test(each) ? each : `http://${each}`;
    return protocol === "grpc"
      ? createGrpcTransport({ baseUrl: url })
      : createGrpcWebTransport({ baseUrl: url, httpVersion: "1.1" });
  });
  const transport = transports.length === 1 && transports[0] ? transports[0] : failover(transports);
  return new TickwireClient({ ...rest, transport, streams: protocol === "grpc" ? "bidi" : "server" });
}

export * from "./index.js";
