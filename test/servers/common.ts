import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createServer } from "node:net";

/**
 * Shared plumbing for the protocol servers the cloud tests start (moto, the GCS emulator, a
 * Swift all-in-one, a fault-injecting proxy): free loopback ports, readiness polling, child
 * processes that are always stopped, and the CI rule — under CI=true a missing server is a
 * failure (the provision scripts in test/setup install them), elsewhere the tests skip.
 */

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const address = srv.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export async function waitFor(
  what: string,
  probe: () => Promise<boolean>,
  opts: { timeoutMs?: number; child?: ManagedProcess } = {},
): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (opts.child?.exited) {
      throw new Error(
        `${what}: the process exited early (${opts.child.exitInfo()})\n${opts.child.output()}`,
      );
    }
    try {
      if (await probe()) return;
    } catch (e) {
      lastError = e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(
    `${what}: not ready after ${opts.timeoutMs ?? 30_000} ms (${String(lastError)})\n${opts.child?.output() ?? ""}`,
  );
}

/** GET `url` answers with any HTTP status (the server is up). */
export async function httpUp(url: string): Promise<boolean> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await r.body?.cancel();
    return true;
  } catch {
    return false;
  }
}

export class ManagedProcess {
  readonly child: ChildProcess;
  exited = false;
  private code: number | null = null;
  private signal: NodeJS.Signals | null = null;
  private log = "";

  constructor(
    readonly name: string,
    cmd: string,
    args: string[],
    opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
  ) {
    this.child = spawn(cmd, args, {
      env: { ...process.env, ...opts.env },
      cwd: opts.cwd,
      stdio: ["ignore", "pipe", "pipe"],
      // Its own process group, so stop() also reaches the workers a server forks.
      detached: true,
    });
    const keep = (d: Buffer) => {
      this.log += d.toString();
      if (this.log.length > 20_000) this.log = this.log.slice(-10_000);
    };
    this.child.stdout?.on("data", keep);
    this.child.stderr?.on("data", keep);
    this.child.on("exit", (code, signal) => {
      this.exited = true;
      this.code = code;
      this.signal = signal;
    });
    this.child.on("error", (e) => {
      this.exited = true;
      this.log += `\nspawn error: ${e.message}`;
    });
    running.add(this);
  }

  exitInfo(): string {
    return this.signal ? `signal ${this.signal}` : `exit code ${this.code}`;
  }

  output(): string {
    return this.log.slice(-4000);
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  async stop(graceMs = 3000): Promise<void> {
    running.delete(this);
    if (this.exited || this.child.pid === undefined) return;
    const gone = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
    this.signalGroup("SIGTERM");
    const timer = setTimeout(() => this.signalGroup("SIGKILL"), graceMs);
    await gone;
    clearTimeout(timer);
    this.signalGroup("SIGKILL"); // forked workers that outlived their parent
  }

  signalGroup(signal: NodeJS.Signals): void {
    const pid = this.child.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, signal);
    } catch {
      // the group is gone already
    }
  }
}

const running = new Set<ManagedProcess>();
// A test run that dies without calling stop() must not leave servers behind.
const killAll = () => {
  for (const p of running) p.signalGroup("SIGKILL");
};
process.on("exit", killAll);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    killAll();
    process.kill(process.pid, signal); // then the default action
  });
}

export function commandExists(cmd: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status === 0;
}

/**
 * undefined when `available`; otherwise the skip reason — or, under CI=true, an exception, since
 * CI provisions every server and a missing one is a broken setup, not a reason to skip.
 */
export function skipUnless(
  available: boolean,
  what: string,
  provision: string,
): string | undefined {
  if (available) return undefined;
  const reason = `${what} is not installed (run node ${provision})`;
  if (process.env.CI === "true" || process.env.CI === "1") {
    throw new Error(`CI=true: ${reason}`);
  }
  return reason;
}
