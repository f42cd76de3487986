/** The page's stack for end-to-end tests: tickwire, the page server and Envoy on free ports, and Chromium. */

import { mkdir, mkdtemp, rm } from "node:fs/promises";
import type { Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { connectNode } from "../src/node.js";
import type { TickwireClient } from "../src/index.js";
import {
  freePort,
  repoRoot,
  startEnvoy,
  startPageServer,
  startTickwire,
  type Envoy,
  type EnvoyPorts,
  type Tickwire,
} from "../stack/stack.js";

export const SCREENSHOTS = join(repoRoot(), "clients", "typescript", "test-results");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

/** tickwire, Envoy and the page server, each of which a test may stop and start again. */
export class WebStack {
  tickwire!: Tickwire;
  envoy!: Envoy;
  /** A Node client straight to tickwire (gRPC), for scenario control. */
  direct!: TickwireClient;
  private page!: Server;
  private ports!: EnvoyPorts;

  constructor(private readonly serverArgs: string[], private readonly env: Record<string, string> = {}) {}

  get url(): string {
    return this.envoy.url;
  }

  async start(): Promise<void> {
    this.tickwire = await startTickwire(this.serverArgs, { env: this.env });
    const page = await startPageServer();
    this.page = page.server;
    this.ports = { listen: await freePort(), upstream: this.tickwire.port, page: page.port, admin: await freePort() };
    this.envoy = await startEnvoy(this.ports);
    this.direct = connectNode(this.tickwire.target);
  }

  async restartTickwire(downMs = 0): Promise<void> {
    await this.tickwire.stop();
    await new Promise((ok) => setTimeout(ok, downMs));
    this.tickwire = await startTickwire(this.serverArgs, { env: this.env, port: this.ports.upstream });
  }

  async restartEnvoy(downMs = 0): Promise<void> {
    await this.envoy.stop();
    await new Promise((ok) => setTimeout(ok, downMs));
    this.envoy = await startEnvoy(this.ports);
  }

  async stop(): Promise<void> {
    await this.direct?.close();
    await this.envoy?.stop();
    await this.tickwire?.stop();
    await new Promise((ok) => (this.page ? this.page.close(ok) : ok(undefined)));
  }
}

/** Headless Debian Chromium with a fresh profile and no background traffic (the network is closed). */
export class Chromium {
  private browser!: Browser;
  private profile!: string;
  private context!: BrowserContext;

  async start(): Promise<void> {
    this.profile = await mkdtemp(join(tmpdir(), "tickwire-chromium-"));
    await mkdir(SCREENSHOTS, { recursive: true });
    this.context = await chromium.launchPersistentContext(this.profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1100, height: 640 },
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-sync",
        "--disable-quic",
      ],
    });
    const browser = this.context.browser();
    if (browser) this.browser = browser;
  }

  /** A new tab, its console errors echoed to the test output. */
  async open(url: string): Promise<Page> {
    const page = await this.context.newPage();
    page.on("pageerror", (error) => console.error("page error:", error.message));
    await page.goto(url);
    return page;
  }

  async stop(): Promise<void> {
    await this.context?.close();
    await this.browser?.close().catch(() => {});
    await rm(this.profile, { recursive: true, force: true });
  }
}

/** Save a screenshot of `page` as test-results/<name>.png. */
export async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`) });
}

/** The text of a ticker's cell. */
export function field(page: Page, ticker: string, name: string) {
  return page.locator(`tr[data-ticker="${ticker}"] [data-field="${name}"]`);
}
