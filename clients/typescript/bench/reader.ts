/**
 * A bench reader: many TickwireClient subscriptions, counted and timed.
 *
 *   node dist/bench/reader.js --target http://127.0.0.1:8080 --protocol grpc-web \
 *     --tickers-file streams.json --first-stream 0 --streams 10 [--latency --samples out.f32]
 *
 * It speaks the bench's client protocol (bench/clients.py): prints
 * {"event":"connected"} once every stream has a first update, reads one line
 * "START_NS END_NS" on stdin, counts what arrives inside that window, and
 * prints {"event":"result",...}. Latency (publish stamp → receipt, µs, the
 * same wall clock) goes to --samples as float32.
 */

import { readFile, writeFile } from "node:fs/promises";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { connectNode } from "../src/node.js";
import type { PriceUpdate, Subscription, TickwireClient } from "../src/index.js";

const MAX_SAMPLES = 4_000_000;

const { values } = parseArgs({
  options: {
    target: { type: "string" },
    protocol: { type: "string", default: "grpc" },
    "tickers-file": { type: "string" },
    "first-stream": { type: "string", default: "0" },
    streams: { type: "string", default: "1" },
    latency: { type: "boolean", default: false },
    samples: { type: "string" },
    deadline: { type: "string", default: "120" },
  },
});

function nowNs(): number {
  return (performance.timeOrigin + performance.now()) * 1e6;
}

function stampNs(update: PriceUpdate): number {
  const ts = update.timestamp;
  return ts ? Number(ts.seconds) * 1e9 + ts.nanos : 0;
}

function say(event: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(event) + "\n");
}

async function main(): Promise<void> {
  if (!values.target || !values["tickers-file"]) throw new Error("--target and --tickers-file are required");
  const protocol = values.protocol === "grpc-web" ? "grpc-web" : "grpc";
  const all = JSON.parse(await readFile(values["tickers-file"], "utf8")) as string[][];
  const first = Number(values["first-stream"]);
  const wanted = all.slice(first, first + Number(values.streams));
  const window = { start: Infinity, end: Infinity };
  const samples = new Float32Array(values.latency ? MAX_SAMPLES : 0);
  let sampled = 0;
  let updates = 0;
  let connected = 0;
  const receiving = new Set<number>();
  const clients: TickwireClient[] = [];
  const subscriptions: Subscription[] = [];
  let announced = false;
  const deadline = setTimeout(() => process.exit(3), Number(values.deadline) * 1000);
  deadline.unref();

  const reading = wanted.map(async (tickers, index) => {
    // One client per stream: its own connection, as separate browsers would have.
    const client = connectNode(values.target!, { protocol, heartbeatTimeoutMs: 60_000 });
    clients.push(client);
    const subscription = client.subscribe(tickers);
    subscriptions.push(subscription);
    let first = true;
    for await (const update of subscription) {
      const now = nowNs();
      if (first) {
        first = false;
        connected += 1;
        if (connected === wanted.length && !announced) {
          announced = true;
          say({ event: "connected" });
        }
      }
      if (now < window.start) continue;
      if (now >= window.end) break;
      updates += 1;
      receiving.add(index);
      if (sampled < samples.length) samples[sampled++] = (now - stampNs(update)) / 1000;
    }
  });

  const lines = createInterface({ input: process.stdin });
  const line: string = await new Promise((ok) => lines.once("line", ok));
  const [start, end] = line.trim().split(/\s+/).map(Number);
  window.start = start ?? Infinity;
  window.end = end ?? Infinity;
  const batchesAt = () => subscriptions.reduce((n, s) => n + s.stats.batches, 0);
  await new Promise((ok) => setTimeout(ok, Math.max(0, (window.start - nowNs()) / 1e6)));
  const batches0 = batchesAt();
  await new Promise((ok) => setTimeout(ok, Math.max(0, (window.end - nowNs()) / 1e6)));
  const frames = batchesAt() - batches0;
  lines.close();
  await Promise.all(clients.map((c) => c.close()));
  await Promise.allSettled(reading);
  if (values.samples && values.latency) await writeFile(values.samples, samples.subarray(0, sampled));
  say({ event: "result", updates, frames, bytes: 0, connected, receiving: receiving.size, statuses: { open: connected } });
  process.exit(0);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
