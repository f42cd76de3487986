/** `connectNode`: a TickwireClient over gRPC (HTTP/2) from Node, with the bidi `Subscribe`. */

import { createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { TickwireClient, type ClientOptions } from "./client.js";

export type NodeOptions = Omit<ClientOptions, "transport" | "streams"> & {
  /**
   * "grpc" (default): straight to the server, subscriptions on `Subscribe`.
   * "grpc-web": through a grpc-web bridge (Envoy), subscriptions on `StreamPrices`.
   */
  protocol?: "grpc" | "grpc-web";
};

/**
 * A client for the server at `baseUrl` ("http://127.0.0.1:50051"; https for TLS).
 * A bare "host:port" is taken as plaintext http.
 */
export function connectNode(baseUrl: string, options: NodeOptions = {}): TickwireClient {
  const url = /^[a-z]+:\/\//.test(baseUrl) ? baseUrl : `http://${baseUrl}`;
  const { protocol = "grpc", ...rest } = options;
  const transport =
    protocol === "grpc"
      ? createGrpcTransport({ baseUrl: url })
      : createGrpcWebTransport({ baseUrl: url, httpVersion: "1.1" });
  return new TickwireClient({ ...rest, transport, streams: protocol === "grpc" ? "bidi" : "server" });
}

export * from "./index.js";
