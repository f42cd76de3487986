/** Test helpers: bounded waits on subscriptions, tokens from the server's own command. */

import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import type { PriceUpdate, StateChange, Subscription } from "../src/index.js";
import { repoRoot } from "../stack/stack.js";

/** Read `subscription` until `predicate` holds for an update; fail after `timeoutMs`. */
export async function until<T = PriceUpdate>(
  subscription: Subscription<T>,
  predicate: (update: T) => boolean,
  timeoutMs = 10_000,
  what = "an update",
): Promise<T> {
  const iterator = subscription[Symbol.asyncIterator]();
  const deadline = Date.now() + timeoutMs;
  let seen = 0;
  for (;;) {
    const left = deadline - Date.now();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((ok) => (timer = setTimeout(() => ok("timeout"), Math.max(0, left))));
    const next = await Promise.race([iterator.next(), timeout]);
    clearTimeout(timer);
    if (next === "timeout") throw new Error(`no ${what} within ${timeoutMs} ms (${seen} others seen)`);
    if (next.done) throw new Error(`the subscription ended before ${what}: ${subscription.error?.message ?? "closed"}`);
    seen += 1;
    if (predicate(next.value)) return next.value;
  }
}

/** Updates read from `subscription` for `ms` milliseconds. */
export async function collect(subscription: Subscription, ms: number): Promise<PriceUpdate[]> {
  const seen: PriceUpdate[] = [];
  await until(subscription, (u) => (seen.push(u), false), ms).catch(() => {});
  return seen;
}

/** Resolve once `condition()` holds, polling; fail after `timeoutMs`. */
export async function eventually(condition: () => boolean, timeoutMs = 10_000, what = "the condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what} did not hold within ${timeoutMs} ms`);
    await new Promise((ok) => setTimeout(ok, 20));
  }
}

/** Records a subscription's state changes, for `onState`. */
export class StateLog {
  readonly changes: StateChange[] = [];
  readonly onState = (change: StateChange): void => {
    this.changes.push(change);
  };
  get states(): string[] {
    return this.changes.map((c) => c.state);
  }
}

export const SECRET = "tickwire-typescript-tests-secret-0123456789";

/** A token from `tickwire-server token`, signed with SECRET. */
export async function mintToken(roles = "read,admin", subject = "ts-test"): Promise<string> {
  const { stdout } = await promisify(execFile)(
    join(repoRoot(), ".venv", "bin", "tickwire-server"),
    ["token", "--subject", subject, "--roles", roles],
    { env: { ...process.env, TICKWIRE_JWT_SECRET: SECRET }, timeout: 20_000 },
  );
  return stdout.trim();
}
