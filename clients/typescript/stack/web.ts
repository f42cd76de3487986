/**
 * `make web`: tickwire, Envoy and the page, until Ctrl+C stops all three.
 *
 *   node dist/stack/web.js [--port 8080] [--origin URL]... [-- tickwire-server args]
 *
 * tickwire gets 127.0.0.1:50051 unless its own args say otherwise.
 */

import { parseArgs } from "node:util";
import { DEFAULT_PORTS, startEnvoy, startPageServer, startTickwire } from "./stack.js";

async function main(): Promise<void> {
  const split = process.argv.indexOf("--");
  const own = split === -1 ? process.argv.slice(2) : process.argv.slice(2, split);
  const serverArgs = split === -1 ? [] : process.argv.slice(split + 1);
  const { values } = parseArgs({
    args: own,
    options: {
      port: { type: "string", default: String(DEFAULT_PORTS.listen) },
      "admin-port": { type: "string", default: String(DEFAULT_PORTS.admin) },
      "page-port": { type: "string", default: String(DEFAULT_PORTS.page) },
      origin: { type: "string", multiple: true, default: [] },
    },
  });
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => {});
  };
  let stopping = false;
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      console.log("\nstopping tickwire, Envoy and the page server");
      void stopAll().then(() => process.exit(0));
    });
  }
  try {
    // Candle history as `make run` keeps it (SQLite under ./data), unless the environment says otherwise.
    const history = { TICKWIRE_HISTORY_URL: process.env.TICKWIRE_HISTORY_URL ?? "" };
    const tickwire = await startTickwire(serverArgs, { port: DEFAULT_PORTS.upstream, echo: true, env: history });
    stops.push(() => tickwire.stop());
    const page = await startPageServer(undefined, Number(values["page-port"]));
    stops.push(() => new Promise((ok) => page.server.close(() => ok())));
    const envoy = await startEnvoy(
      { listen: Number(values.port), upstream: tickwire.port, page: page.port, admin: Number(values["admin-port"]) },
      { origins: values.origin, echo: true },
    );
    stops.push(() => envoy.stop());
    void tickwire.exited.then((code) => {
      if (stopping) return;
      console.error(`tickwire-server exited (${code}); stopping`);
      void stopAll().then(() => process.exit(1));
    });
    console.log(`tickwire web: ${envoy.url}/?tickers=AAPL,NVDA,MSFT  (Ctrl+C stops)`);
    console.log(`  gRPC ${tickwire.target} · grpc-web ${envoy.url} · Envoy admin http://127.0.0.1:${envoy.ports.admin}/ready`);
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    await stopAll();
    process.exit(1);
  }
}

void main();
