/** The TypeScript client against a cluster: NATS, one ingest and two edges, each a real process. */

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { connectNode } from "../src/node.js";
import { DataState, type TickwireClient } from "../src/index.js";
import { startNats, startTickwire, type Nats, type Tickwire } from "../stack/stack.js";
import { eventually, StateLog, until } from "./helpers.js";

describe("through the edges of a cluster", () => {
  let nats: Nats;
  let ingest: Tickwire;
  let edges: Tickwire[];
  let client: TickwireClient;

  before(async () => {
    nats = await startNats();
    const bus = ["--bus-url", nats.url];
    ingest = await startTickwire(["--role", "ingest", ...bus, "--interval", "0.05"]);
    edges = [
      await startTickwire(["--role", "edge", ...bus, "--node-name", "ts-edge-1"]),
      await startTickwire(["--role", "edge", ...bus, "--node-name", "ts-edge-2"]),
    ];
    client = connectNode(edges.map((e) => e.target), { backoff: { initialMs: 50, maximumMs: 500 } });
  });
  after(async () => {
    await client.close();
    for (const each of [...edges, ingest, nats]) await each.stop();
  });

  test("a killed edge costs its subscriber one reconnect, and sequences go on", async () => {
    const log = new StateLog();
    const subscription = client.subscribe(["AAPL"], { onState: log.onState });
    try {
      const first = await until(subscription, (u) => u.state === DataState.LIVE, 10_000, "a live AAPL");
      // The client starts on the first edge: kill it.
      edges[0]?.process.kill("SIGKILL");
      await eventually(() => log.states.filter((s) => s === "connected").length >= 2, 15_000, "reconnected");
      const later = await until(subscription, (u) => u.state === DataState.LIVE && u.sequence > first.sequence + 5n);
      assert.ok(later.sequence > first.sequence);
      assert.equal(subscription.stats.reconnects, 1);
      const snapshot = await client.snapshot(["AAPL"]);
      assert.ok((snapshot.get("AAPL")?.sequence ?? 0n) >= later.sequence, "unary calls reach the live edge");
    } finally {
      await subscription.close();
    }
  });
});
