/** The live page in headless Chromium, over grpc-web through Envoy, against a real tickwire. */

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Page } from "playwright-core";
import { SECRET } from "../test/helpers.js";
import { Chromium, field, screenshot, WebStack } from "./web.js";

const SYNTHETIC = ["--source", "synthetic", "--synthetic-hz", "5"];
const chromium = new Chromium();

before(async () => chromium.start());
after(async () => chromium.stop());

async function textChanges(page: Page, ticker: string, timeoutMs = 10_000): Promise<void> {
  const price = field(page, ticker, "price");
  const first = await price.textContent();
  await page.waitForFunction(
    ([selector, before]) => document.querySelector(selector)?.textContent !== before,
    [`tr[data-ticker="${ticker}"] [data-field="price"]`, first] as const,
    { timeout: timeoutMs },
  );
}

async function connectionIs(page: Page, text: RegExp, timeoutMs = 15_000): Promise<void> {
  await page.locator("#connection-text").filter({ hasText: text }).waitFor({ timeout: timeoutMs });
}

describe("the live page", () => {
  const stack = new WebStack(SYNTHETIC);
  before(async () => stack.start());
  after(async () => stack.stop());

  test("shows live prices for the tickers in the URL, and they change", async () => {
    const page = await chromium.open(`${stack.url}/?tickers=AAPL,NVDA`);
    try {
      await page.locator('tr[data-ticker="AAPL"][data-state="live"]').waitFor({ timeout: 5000 });
      await page.locator('tr[data-ticker="NVDA"][data-state="live"]').waitFor({ timeout: 5000 });
      assert.match((await field(page, "AAPL", "price").textContent()) ?? "", /^\d[\d,]*\.\d{2}$/);
      await textChanges(page, "NVDA");
      await connectionIs(page, /^Live$/);
      assert.match((await page.locator("#market").textContent()) ?? "", /Market open/);
      assert.equal(await page.locator("tbody tr").count(), 2);
      await screenshot(page, "live-prices");
    } finally {
      await page.close();
    }
  });

  test("adding and removing a ticker", async () => {
    const page = await chromium.open(`${stack.url}/?tickers=AAPL`);
    try {
      await page.locator('tr[data-ticker="AAPL"][data-state="live"]').waitFor({ timeout: 5000 });
      await page.fill("#add-ticker", "msft");
      await page.press("#add-ticker", "Enter");
      await page.locator('tr[data-ticker="MSFT"][data-state="live"]').waitFor({ timeout: 5000 });
      await textChanges(page, "MSFT");
      assert.match(page.url(), /tickers=AAPL%2CMSFT|tickers=AAPL,MSFT/);
      await page.click('tr[data-ticker="AAPL"] button.remove');
      await page.locator('tr[data-ticker="AAPL"]').waitFor({ state: "detached", timeout: 5000 });
      await textChanges(page, "MSFT"); // the reopened stream keeps MSFT live
      assert.equal(await page.locator('tr[data-ticker="AAPL"]').count(), 0);
      await screenshot(page, "add-remove");
    } finally {
      await page.close();
    }
  });

  test("an invalid or unknown ticker shows its status", async () => {
    const page = await chromium.open(`${stack.url}/?tickers=AAPL,ZZZZ`);
    try {
      await page.locator('tr[data-ticker="ZZZZ"][data-status="UNKNOWN_TICKER"]').waitFor({ timeout: 5000 });
      assert.equal(await field(page, "ZZZZ", "state").textContent(), "unknown ticker");
      await page.fill("#add-ticker", "BAD!");
      await page.press("#add-ticker", "Enter");
      await page.locator('tr[data-ticker="BAD!"][data-status="INVALID_SYMBOL"]').waitFor({ timeout: 5000 });
      assert.equal(await field(page, "BAD!", "state").textContent(), "invalid symbol");
      await textChanges(page, "AAPL"); // the good ticker is unaffected
      await screenshot(page, "invalid-ticker");
    } finally {
      await page.close();
    }
  });

  test("a scenario push of an exact price appears in the row", async () => {
    const page = await chromium.open(`${stack.url}/?tickers=TSLA,AAPL`);
    try {
      await page.locator('tr[data-ticker="TSLA"][data-state="live"]').waitFor({ timeout: 5000 });
      await stack.direct.scenario.stallTicker("TSLA"); // nothing else moves TSLA meanwhile
      await stack.direct.scenario.pushPrice("TSLA", 321.09);
      await field(page, "TSLA", "price").filter({ hasText: /^321\.09$/ }).waitFor({ timeout: 5000 });
      await screenshot(page, "scenario-push");
    } finally {
      await stack.direct.scenario.resumeTicker("TSLA");
      await page.close();
    }
  });

  test("the candle chart draws the selected ticker's bars and follows them live", async () => {
    const page = await chromium.open(`${stack.url}/?tickers=AAPL,NVDA&interval=5s`);
    try {
      await page.locator('#chart[data-ticker="AAPL"][data-interval="5s"]').waitFor({ timeout: 5000 });
      await page.waitForFunction(() => Number(document.querySelector("#chart")?.getAttribute("data-bars")) > 0, null, {
        timeout: 10_000,
      });
      await page.locator("#chart canvas").first().waitFor({ timeout: 5000 }); // lightweight-charts drew
      await page.click('tr[data-ticker="NVDA"] [data-field="ticker"]'); // pick another ticker
      await page.locator('#chart[data-ticker="NVDA"]').waitFor({ timeout: 5000 });
      assert.equal(await page.locator('tr[data-ticker="NVDA"]').getAttribute("data-selected"), "");
      assert.match(page.url(), /chart=NVDA/);
      await stack.direct.scenario.stallTicker("NVDA");
      await stack.direct.scenario.pushPrice("NVDA", 777.25);
      await page.waitForFunction(() => document.querySelector("#chart")?.getAttribute("data-last-close") === "777.25", null, {
        timeout: 5000,
      });
      await page.click('#intervals button[data-interval="1m"]');
      await page.locator('#chart[data-interval="1m"]').waitFor({ timeout: 5000 });
      assert.equal(await page.locator('#intervals button[data-interval="1m"]').getAttribute("aria-pressed"), "true");
      await page.waitForFunction(() => Number(document.querySelector("#chart")?.getAttribute("data-bars")) > 0, null, {
        timeout: 10_000,
      });
      await screenshot(page, "candle-chart");
    } finally {
      await stack.direct.scenario.resumeTicker("NVDA");
      await page.close();
    }
  });

  test("a stalled ticker is shown as stale", async () => {
    const page = await chromium.open(`${stack.url}/?tickers=JPM,AAPL`);
    try {
      await page.locator('tr[data-ticker="JPM"][data-state="live"]').waitFor({ timeout: 5000 });
      await stack.direct.scenario.stallTicker("JPM", 300);
      await page.locator('tr[data-ticker="JPM"][data-state="stale"]').waitFor({ timeout: 5000 });
      assert.equal(await field(page, "JPM", "state").textContent(), "stale");
      assert.equal(await page.locator('tr[data-ticker="AAPL"][data-state="live"]').count(), 1);
      await screenshot(page, "stale-ticker");
    } finally {
      await stack.direct.scenario.resumeTicker("JPM");
      await page.close();
    }
  });

  test("a tickwire restart shows reconnecting, then live prices again", async () => {
    const page = await chromium.open(`${stack.url}/?tickers=AAPL,NVDA`);
    try {
      await page.locator('tr[data-ticker="AAPL"][data-state="live"]').waitFor({ timeout: 5000 });
      const restarted = stack.restartTickwire(1500);
      await connectionIs(page, /Reconnecting/);
      await page.locator('tr[data-ticker="AAPL"][data-state="offline"]').waitFor({ timeout: 5000 });
      await screenshot(page, "server-restart-reconnecting");
      await restarted;
      await connectionIs(page, /^Live$/);
      await page.locator('tr[data-ticker="AAPL"][data-state="live"]').waitFor({ timeout: 5000 });
      await textChanges(page, "AAPL");
      await screenshot(page, "server-restart-live");
    } finally {
      await page.close();
    }
  });

  test("an Envoy restart shows reconnecting, then live prices again", async () => {
    const page = await chromium.open(`${stack.url}/?tickers=MSFT`);
    try {
      await page.locator('tr[data-ticker="MSFT"][data-state="live"]').waitFor({ timeout: 5000 });
      const restarted = stack.restartEnvoy(1500);
      await connectionIs(page, /Reconnecting/);
      await screenshot(page, "envoy-restart-reconnecting");
      await restarted;
      await connectionIs(page, /^Live$/);
      await textChanges(page, "MSFT");
    } finally {
      await page.close();
    }
  });
});

describe("the live page with auth on", () => {
  const stack = new WebStack(SYNTHETIC, { TICKWIRE_AUTH: "jwt", TICKWIRE_JWT_SECRET: SECRET });
  before(async () => stack.start());
  after(async () => stack.stop());

  test("a missing token shows a clear message, not a blank page", async () => {
    const page = await chromium.open(`${stack.url}/?tickers=AAPL`);
    try {
      const notice = page.locator('#notice[data-kind="auth"]');
      await notice.waitFor({ timeout: 10_000 });
      assert.match((await notice.textContent()) ?? "", /needs a token: open the page with \?token=/);
      await connectionIs(page, /Disconnected/);
      assert.equal(await page.locator('tr[data-ticker="AAPL"]').count(), 1, "the watchlist is still drawn");
      await screenshot(page, "auth-missing-token");
    } finally {
      await page.close();
    }
  });
});
