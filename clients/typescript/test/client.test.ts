/** The TypeScript client against a real tickwire server over gRPC (HTTP/2), on Node. */

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { connectNode } from "../src/node.js";
import { Code, ConnectError, DataState, TickerStatus, type TickwireClient } from "../src/index.js";
import { startTickwire, type Tickwire } from "../stack/stack.js";
import { collect, eventually, mintToken, SECRET, StateLog, until } from "./helpers.js";

const SYNTHETIC = ["--source", "synthetic", "--synthetic-hz", "20"];

describe("over gRPC", () => {
  let server: Tickwire;
  let client: TickwireClient;

  before(async () => {
    server = await startTickwire(SYNTHETIC);
    client = connectNode(server.target, { backoff: { initialMs: 50, maximumMs: 500 } });
  });
  after(async () => {
    await client.close();
    await server.stop();
  });

  test("a subscription gets a snapshot of each ticker, then live prices", async () => {
    const subscription = client.subscribe(["aapl", "NVDA"]);
    try {
      const first = await until(subscription, () => true);
      assert.equal(first.state, DataState.SNAPSHOT);
      assert.deepEqual(new Set(subscription.results.map((r) => [r.ticker, r.statusName].join(" "))),
        new Set(["AAPL OK", "NVDA OK"]));
      const live = await until(subscription, (u) => u.ticker === "NVDA" && u.state === DataState.LIVE);
      assert.ok(live.price > 0);
      const later = await until(subscription, (u) => u.ticker === "NVDA" && u.sequence > live.sequence);
      assert.ok(later.sequence > live.sequence);
      assert.deepEqual(subscription.tickers, ["AAPL", "NVDA"]);
      assert.equal(subscription.state, "connected");
    } finally {
      await subscription.close();
    }
    assert.equal(subscription.state, "closed");
  });

  test("add and remove change the set on the same stream, with typed results", async () => {
    const subscription = client.subscribe(["AAPL"]);
    try {
      await subscription.waitConnected();
      const added = await subscription.add(["msft", "BAD!", "ZZZZ"]);
      assert.deepEqual(added.map((r) => [r.ticker, r.status]), [
        ["MSFT", TickerStatus.OK],
        ["BAD!", TickerStatus.INVALID_SYMBOL],
        ["ZZZZ", TickerStatus.UNKNOWN_TICKER],
      ]);
      assert.equal(added[2]?.statusName, "UNKNOWN_TICKER");
      assert.deepEqual(subscription.tickers, ["AAPL", "MSFT"]);
      assert.ok(subscription.rejected.has("ZZZZ"));
      await until(subscription, (u) => u.ticker === "MSFT");
      const removed = await subscription.remove(["AAPL", "TSLA"]);
      assert.deepEqual(removed.map((r) => r.statusName), ["OK", "NOT_SUBSCRIBED"]);
      const after = await collect(subscription, 500);
      assert.ok(after.length > 0, "MSFT keeps coming");
      assert.deepEqual(new Set(after.map((u) => u.ticker)), new Set(["MSFT"]));
      assert.equal(subscription.stats.reconnects, 0);
    } finally {
      await subscription.close();
    }
  });

  test("strict add throws SubscriptionError naming the rejected tickers", async () => {
    const subscription = client.subscribe(["AAPL"]);
    try {
      await assert.rejects(subscription.add(["NOPE"], { strict: true }), /rejected: NOPE UNKNOWN_TICKER/);
    } finally {
      await subscription.close();
    }
  });

  test("snapshot, tickers and marketStatus read the server", async () => {
    const prices = await client.snapshot(["AAPL", "MSFT"]);
    assert.deepEqual([...prices.keys()].sort(), ["AAPL", "MSFT"]);
    assert.ok((prices.get("AAPL")?.price ?? 0) > 0);
    await assert.rejects(client.snapshot(["AAPL", "ZZZZ"], { strict: true }), /ZZZZ UNKNOWN_TICKER/);
    const tickers = await client.tickers();
    assert.ok(tickers.some((t) => t.ticker === "NVDA"));
    const status = await client.marketStatus();
    assert.equal(status.source, "synthetic");
  });

  test("a scenario push is observed with its exact price and sequence", async () => {
    const subscription = client.subscribe(["TSLA"]);
    try {
      await subscription.waitConnected();
      await client.scenario.stallTicker("TSLA"); // nothing else ticks TSLA meanwhile
      const sequence = await client.scenario.pushPrice("TSLA", 123.45, { volume: 1000 });
      const pushed = await until(subscription, (u) => u.sequence === sequence, 5000, "the pushed price");
      assert.equal(pushed.price, 123.45);
      assert.equal(pushed.volume, 1000);
      await client.scenario.resumeTicker("TSLA");
    } finally {
      await subscription.close();
    }
  });

  test("a stalled ticker turns stale", async () => {
    const subscription = client.subscribe(["JPM"]);
    try {
      await subscription.waitConnected();
      await client.scenario.stallTicker("JPM", 200);
      await until(subscription, (u) => u.ticker === "JPM" && u.state === DataState.STALE, 5000, "a stale JPM");
      assert.ok((await client.scenario.state()).stalled.some((s) => s.ticker === "JPM"));
      await client.scenario.resumeTicker("JPM");
      await until(subscription, (u) => u.ticker === "JPM" && u.state === DataState.LIVE, 5000, "JPM live again");
    } finally {
      await subscription.close();
    }
  });
});

test("a subscription reconnects and resubscribes after the server restarts", async () => {
  let server = await startTickwire(SYNTHETIC);
  const port = server.port;
  const log = new StateLog();
  const client = connectNode(server.target, { backoff: { initialMs: 100, maximumMs: 400 } });
  const subscription = client.subscribe(["AAPL"], { onState: log.onState });
  try {
    await until(subscription, (u) => u.state === DataState.LIVE);
    await subscription.add(["GOOGL"]);
    await server.stop();
    await eventually(() => subscription.state === "reconnecting", 10_000, "reconnecting");
    const reconnecting = log.changes.find((c) => c.state === "reconnecting");
    assert.ok(reconnecting && reconnecting.attempt === 1 && reconnecting.reason !== "");
    server = await startTickwire(SYNTHETIC, { port });
    await subscription.waitConnected();
    const googl = await until(subscription, (u) => u.ticker === "GOOGL" && u.state === DataState.LIVE, 10_000);
    assert.ok(googl.price > 0, "the added ticker was resubscribed");
    assert.ok(subscription.stats.reconnects >= 1);
    assert.deepEqual(log.states.slice(0, 2), ["connected", "reconnecting"]);
    assert.equal(log.states.at(-1), "connected");
  } finally {
    await client.close();
    await server.stop();
  }
});

test("the heartbeat watchdog reconnects a stream that went silent", async () => {
  // The server beats every 5 s by default; a watchdog of 300 ms sees silence
  // between beats on a ticker that never ticks (stalled), so it reconnects.
  const server = await startTickwire([...SYNTHETIC, "--heartbeat-interval", "30"]);
  const log = new StateLog();
  const client = connectNode(server.target, { heartbeatTimeoutMs: 300, backoff: { initialMs: 10, maximumMs: 20 } });
  try {
    await client.scenario.stallTicker("META");
    const subscription = client.subscribe(["META"], { onState: log.onState });
    await subscription.waitConnected();
    await eventually(() => log.changes.some((c) => c.reason.includes("heartbeat watchdog")), 5000, "a watchdog reconnect");
    await subscription.close();
  } finally {
    await client.close();
    await server.stop();
  }
});

describe("with auth on", () => {
  let server: Tickwire;
  before(async () => {
    server = await startTickwire(SYNTHETIC, { env: { TICKWIRE_AUTH: "jwt", TICKWIRE_JWT_SECRET: SECRET } });
  });
  after(async () => server.stop());

  test("a bad token gets UNAUTHENTICATED, on reads and on subscriptions", async () => {
    const client = connectNode(server.target, { token: "not-a-token", backoff: { initialMs: 10 } });
    const refused = await client.marketStatus().then(() => undefined, (e: unknown) => ConnectError.from(e));
    assert.equal(refused?.code, Code.Unauthenticated);
    const subscription = client.subscribe(["AAPL"]);
    // Refused twice in a row (the second time with a token asked for afresh): it gives up.
    await assert.rejects(until(subscription, () => true), (e: unknown) => ConnectError.from(e).code === Code.Unauthenticated);
    assert.match(subscription.error?.message ?? "", /malformed token/);
    assert.equal(subscription.state, "closed");
  });

  test("a token function is asked per call; read tokens cannot drive scenarios", async () => {
    let asked = 0;
    const read = await mintToken("read");
    const client = connectNode(server.target, { token: async () => (asked++, read) });
    const subscription = client.subscribe(["AAPL"]);
    try {
      await until(subscription, () => true);
      assert.ok(asked >= 1);
      const forbidden = await client.scenario.pushPrice("AAPL", 1).then(() => undefined, (e: unknown) => ConnectError.from(e));
      assert.equal(forbidden?.code, Code.PermissionDenied);
    } finally {
      await client.close();
    }
  });
});
