import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { connect, createServer } from "node:net";
import { motoAvailable, startMoto as startSharedMoto } from "../servers/moto.js";

/**
 * Real servers for the queue tests and the queue benchmark: redis-server and moto (SQS, via
 * test/servers/moto.ts), each
 * started on a free loopback port and stopped by `stop()`. When a server cannot be found, the
 * caller skips — except under CI=true, where the provision scripts (test/setup/) must have
 * installed it, so a missing server fails.
 */

export interface Server {
  url: string;
  port: number;
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

const children = new Set<ChildProcess>();
process.once("exit", () => {
  for (const c of children) c.kill("SIGKILL");
});

function stopper(child: ChildProcess): () => Promise<void> {
  return () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) {
        children.delete(child);
        resolve();
        return;
      }
      child.once("exit", () => {
        children.delete(child);
        resolve();
      });
      child.kill("SIGTERM");
      setTimeout(() => child.kill("SIGKILL"), 3000).unref();
    });
}

async function waitFor(
  check: () => Promise<boolean>,
  what: string,
  child: ChildProcess,
  log: () => string,
) {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new Error(`${what} exited early (${child.exitCode}): ${log()}`);
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not start within 30 s: ${log()}`);
}

function tcpAnswers(port: number, send: string, expect: RegExp): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port });
    let got = "";
    s.setTimeout(1000, () => {
      s.destroy();
      resolve(false);
    });
    s.on("error", () => resolve(false));
    s.on("connect", () => s.write(send));
    s.on("data", (d) => {
      got += d;
      if (expect.test(got)) {
        s.destroy();
        resolve(true);
      }
    });
  });
}

export function hasCommand(cmd: string, args: string[] = ["--version"]): boolean {
  return spawnSync(cmd, args, { encoding: "utf8" }).status === 0;
}

/** Why a backend's tests cannot run here, or undefined when they can. Under CI, never skip. */
export function missing(what: "redis" | "moto"): string | undefined {
  const ok = what === "redis" ? hasCommand("redis-server") : motoAvailable();
  if (ok) return undefined;
  const why =
    what === "redis"
      ? "redis-server is not installed (node test/setup/provision-redis.mjs)"
      : "moto is not installed (node test/setup/provision-moto.mjs)";
  if (process.env.CI === "true" || process.env.CI === "1") {
    throw new Error(`${why}; under CI the provision scripts must have installed it`);
  }
  return why;
}

export async function startRedis(): Promise<Server> {
  const port = await freePort();
  const child = spawn(
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  children.add(child);
  let log = "";
  child.stdout?.on("data", (d) => {
    log = (log + d).slice(-4000);
  });
  child.stderr?.on("data", (d) => {
    log = (log + d).slice(-4000);
  });
  await waitFor(
    () => tcpAnswers(port, "PING\r\n", /\+PONG/),
    "redis-server",
    child,
    () => log,
  );
  return { url: `redis://127.0.0.1:${port}`, port, stop: stopper(child) };
}

/** moto through the shared helper (test/servers/moto.ts picks python3 or .venv-servers). */
export async function startMoto(): Promise<Server> {
  const m = await startSharedMoto();
  return { url: m.endpoint, port: m.port, stop: m.stop };
}

/** An sqs:// URL on a moto server, with its state in `stateDir`. */
export function sqsUrl(moto: Server, name: string, stateDir: string): string {
  const state = encodeURIComponent(`file://${stateDir}`);
  return `sqs://127.0.0.1:${moto.port}/${name}?region=us-east-1&endpoint=${encodeURIComponent(moto.url)}&state=${state}`;
}
