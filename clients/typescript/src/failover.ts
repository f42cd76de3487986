/** `failover`: one connect Transport over several servers of a cluster (its edges). */

import { Code, ConnectError, type Transport } from "@connectrpc/connect";

/**
 * A transport that uses one of `transports` at a time and moves to the next
 * when the one in use is unreachable (Unavailable). A unary call is tried
 * on each server once; a stream that fails is not replayed (its requests
 * are spent), but the subscription that reconnects it reaches the next
 * server. So a killed edge costs its clients one reconnect. A stream that
 * ends with a status the server sent (say, PERMISSION_DENIED) stays put.
 */
export function failover(transports: readonly Transport[]): Transport {
  if (transports.length === 0) throw new Error("failover needs at least one transport");
  let current = 0;
  const pick = (at: number): Transport => transports[at] as Transport;
  const moveOn = (failed: number): void => {
    if (current === failed) current = (failed + 1) % transports.length;
  };
  return {
    async unary(method, signal, timeoutMs, header, input, contextValues) {
      for (let tried = 1; ; tried++) {
        const at = current;
        try {
          return await pick(at).unary(method, signal, timeoutMs, header, input, contextValues);
        } catch (error) {
          if (!unreachable(error) || tried >= transports.length) throw error;
          moveOn(at);
        }
      }
    },
    async stream(method, signal, timeoutMs, header, input, contextValues) {
      const at = current;
      try {
        const response = await pick(at).stream(method, signal, timeoutMs, header, input, contextValues);
        // A stream cut under us (the server died: the connection reports it
        // canceled, or unavailable) moves on; one the caller aborted does not.
        const cut = (error: unknown): void => {
          if (!signal?.aborted && CUT.has(ConnectError.from(error).code)) moveOn(at);
        };
        return { ...response, message: watched(response.message, cut) };
      } catch (error) {
        if (unreachable(error)) moveOn(at);
        throw error;
      }
    },
  };
}

// How a stream ends when its server goes away rather than answering.
const CUT = new Set([Code.Canceled, Code.Unavailable, Code.Unknown, Code.Internal]);

function unreachable(error: unknown): boolean {
  return ConnectError.from(error).code === Code.Unavailable;
}

async function* watched<T>(messages: AsyncIterable<T>, onEnded: (error: unknown) => void): AsyncIterable<T> {
  try {
    yield* messages;
  } catch (error) {
    onEnded(error);
    throw error;
  }
}
