/** The TypeScript client on Node over Envoy (grpc-web) and straight to tickwire (gRPC) reads the same prices. */

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { connectNode } from "../src/node.js";
import { Code, ConnectError, DataState } from "../src/index.js";
import { until } from "../test/helpers.js";
import { WebStack } from "./web.js";

const stack = new WebStack(["--source", "synthetic", "--synthetic-hz", "5"]);
before(async () => stack.start());
after(async () => stack.stop());

test("grpc-web through Envoy and gRPC straight to the server carry the same prices and sequences", async () => {
  const web = connectNode(stack.url, { protocol: "grpc-web" });
  const viaEnvoy = web.subscribe(["AAPL", "V"]);
  const direct = stack.direct.subscribe(["AAPL", "V"]);
  try {
    await Promise.all([viaEnvoy.waitConnected(), direct.waitConnected()]);
    await stack.direct.scenario.stallTicker("V");
    const sequence = await stack.direct.scenario.pushPrice("V", 271.5);
    const [a, b] = await Promise.all([
      until(viaEnvoy, (u) => u.ticker === "V" && u.sequence === sequence),
      until(direct, (u) => u.ticker === "V" && u.sequence === sequence),
    ]);
    assert.equal(a.price, 271.5);
    assert.equal(b.price, 271.5);
    assert.equal(a.state, DataState.LIVE);
    const live = await until(viaEnvoy, (u) => u.ticker === "AAPL" && u.state === DataState.LIVE);
    const same = await until(direct, (u) => u.ticker === "AAPL" && u.sequence >= live.sequence);
    if (same.sequence === live.sequence) assert.equal(same.price, live.price);
    // Unary reads through the bridge too.
    const [envoySnapshot, directSnapshot] = await Promise.all([web.snapshot(["V"]), stack.direct.snapshot(["V"])]);
    assert.equal(envoySnapshot.get("V")?.sequence, directSnapshot.get("V")?.sequence);
    assert.equal((await web.marketStatus()).source, "synthetic");
  } finally {
    await stack.direct.scenario.resumeTicker("V");
    await viaEnvoy.close();
    await direct.close();
    await web.close();
  }
});

test("on grpc-web, add and remove reopen StreamPrices with the new set", async () => {
  const web = connectNode(stack.url, { protocol: "grpc-web" });
  const subscription = web.subscribe(["AAPL"]);
  try {
    await subscription.waitConnected();
    const added = await subscription.add(["NFLX", "ZZZZ"]);
    assert.deepEqual(added.map((r) => `${r.ticker} ${r.statusName}`), ["NFLX OK", "ZZZZ UNKNOWN_TICKER"]);
    assert.deepEqual(subscription.tickers, ["AAPL", "NFLX"]);
    await until(subscription, (u) => u.ticker === "NFLX");
    const removed = await subscription.remove(["AAPL", "TSLA"]);
    assert.deepEqual(removed.map((r) => r.statusName), ["OK", "NOT_SUBSCRIBED"]);
    await until(subscription, (u) => u.ticker === "NFLX" && u.state === DataState.LIVE);
    assert.deepEqual(subscription.tickers, ["NFLX"]);
    assert.equal(subscription.stats.reconnects, 0, "a reopen for a new set is not a reconnect");
  } finally {
    await web.close();
  }
});

test("grpc-web statuses come through Envoy with their message", async () => {
  const web = connectNode(stack.url, { protocol: "grpc-web" });
  // A StreamPrices whose every ticker is refused gets its ack, then INVALID_ARGUMENT.
  const stream = web.marketData.streamPrices({ tickers: ["BAD!"] });
  const failure = await (async () => {
    try {
      for await (const _ of stream) void _;
    } catch (e) {
      return ConnectError.from(e);
    }
    return undefined;
  })();
  assert.equal(failure?.code, Code.InvalidArgument);
  assert.match(failure?.rawMessage ?? "", /no ticker accepted/);
});

test("CORS: a listed origin may call the API and read grpc-status; any other is refused at Envoy", async () => {
  const url = `${stack.url}/tickwire.v1.MarketData/GetMarketStatus`;
  const preflight = (origin: string) =>
    fetch(url, {
      method: "OPTIONS",
      headers: {
        origin,
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization,content-type,x-grpc-web",
      },
      signal: AbortSignal.timeout(5000),
    });
  const listed = await preflight("http://localhost:5173");
  assert.equal(listed.headers.get("access-control-allow-origin"), "http://localhost:5173");
  assert.match(listed.headers.get("access-control-allow-headers") ?? "", /\bauthorization\b/);
  const other = await preflight("https://elsewhere.example");
  assert.equal(other.headers.get("access-control-allow-origin"), null);
  assert.equal(other.headers.get("grpc-status"), null, "an unlisted preflight never reaches tickwire");
  // The call itself: an empty GetMarketStatusRequest as one grpc-web frame.
  const call = await fetch(url, {
    method: "POST",
    headers: { origin: "http://localhost:5173", "content-type": "application/grpc-web+proto", "x-grpc-web": "1" },
    body: new Uint8Array([0, 0, 0, 0, 0]),
    signal: AbortSignal.timeout(5000),
  });
  assert.equal(call.headers.get("access-control-allow-origin"), "http://localhost:5173");
  const exposed = (call.headers.get("access-control-expose-headers") ?? "").split(/,\s*/);
  assert.ok(exposed.includes("grpc-status") && exposed.includes("grpc-message"), exposed.join(","));
  assert.ok((await call.arrayBuffer()).byteLength > 5, "a grpc-web reply");
});
