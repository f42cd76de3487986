/** Candles from the TypeScript client: `candles` reads history, `subscribeCandles` streams bars. */

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { connectNode } from "../src/node.js";
import { CandleInterval, CandleSource, Code, ConnectError, intervalInfo, type TickwireClient } from "../src/index.js";
import { startTickwire, type Tickwire } from "../stack/stack.js";
import { until } from "./helpers.js";

describe("candles over gRPC", () => {
  let server: Tickwire;
  let client: TickwireClient;
  let folder: string;

  before(async () => {
    folder = mkdtempSync(join(tmpdir(), "tickwire-candles-"));
    server = await startTickwire(["--source", "synthetic", "--synthetic-clock", "manual"], {
      env: { TICKWIRE_HISTORY_URL: `sqlite:///${join(folder, "candles.db")}` },
    });
    client = connectNode(server.target, { backoff: { initialMs: 50, maximumMs: 500 } });
  });
  after(async () => {
    await client.close();
    await server.stop();
    rmSync(folder, { recursive: true, force: true });
  });

  test("interval names and limits come from the contract", () => {
    const minute = intervalInfo("1m");
    assert.deepEqual([minute.interval, minute.seconds, minute.maxLimit], [CandleInterval.CANDLE_INTERVAL_1_MIN, 60, 2400]);
    assert.equal(minute.maxRangeMs, 86_400_000);
    assert.equal(intervalInfo(CandleInterval.CANDLE_INTERVAL_1_MONTH).name, "1mo");
    assert.throws(() => intervalInfo("7m"), /one of 5s, 10s/);
  });

  test("subscribeCandles streams the forming bar, then each bar as it closes", async () => {
    const bars = client.subscribeCandles(["aapl"], "5s");
    try {
      const forming = await until(bars, () => true);
      assert.equal(forming.ticker, "AAPL");
      assert.equal(forming.complete, false);
      assert.equal(forming.interval, CandleInterval.CANDLE_INTERVAL_5_SEC);
      assert.deepEqual(bars.results.map((r) => `${r.ticker} ${r.statusName}`), ["AAPL OK"]);
      const pushed = await client.scenario.pushPrice("AAPL", 321.5);
      assert.ok(pushed > 0n);
      const seen = await until(bars, (c) => c.close === 321.5);
      assert.equal(seen.complete, false);
      await client.scenario.advanceClock(6_000); // past the bar's end: it closes
      const closed = await until(bars, (c) => c.complete);
      assert.ok(closed.high >= 321.5 && closed.transactions > 0n);
      assert.equal(closed.source, CandleSource.LIVE);
      const added = await bars.add(["MSFT", "BAD!"]);
      assert.deepEqual(added.map((r) => r.statusName), ["OK", "INVALID_SYMBOL"]);
      assert.deepEqual(bars.tickers, ["AAPL", "MSFT"]);
      await client.scenario.advanceClock(6_000);
      await until(bars, (c) => c.ticker === "MSFT");
    } finally {
      await bars.close();
    }
  });

  test("candles reads the stored bars of a range, the forming one last", async () => {
    await client.scenario.advanceClock(5 * 60_000);
    const clock = (await client.scenario.state()).clock; // a manual clock: not the wall's
    const now = Number(clock?.seconds ?? 0n) * 1000;
    const bars = await client.candles("AAPL", "1m", new Date(now - 3_600_000), new Date(now + 60_000));
    assert.ok(bars.length >= 5, `${bars.length} bars`);
    const closed = bars.filter((b) => b.complete);
    assert.ok(closed.length >= 4);
    assert.equal(bars.at(-1)?.complete, false);
    const starts = bars.map((b) => Number(b.start?.seconds ?? 0n));
    assert.deepEqual(starts, [...starts].sort((a, b) => a - b));
    assert.ok(starts.every((s) => s % 60 === 0));
    await assert.rejects(
      client.candles("BAD!", "1m", new Date(now - 60_000)),
      (e: unknown) => ConnectError.from(e).code === Code.InvalidArgument,
    );
  });
});
