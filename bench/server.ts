import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { openQueue } from "../src/queue/open.js";
import { runCli } from "../test/helpers/cli.js";
import { writeSection } from "../test/server/helpers.js";

/**
 * `voxport serve` under load (issue 9): `requests` shard/task requests from a client with
 * `clients` concurrent connections against 2 server processes (each --concurrency 1, as on
 * Cloud Run), half `/ngshard` (one 512×512×8 block, all scales, sharded jpeg: real work every
 * time) and half `/tasks` (ingest-task messages of a small job: the first run of each does the
 * work, redeliveries find the done marker — what at-least-once push delivery looks like).
 * A 429 is the intended answer when both slots are busy: the client waits 20 ms and retries.
 * Bounded: stops after `maxSeconds`. Reports throughput, p50/p99 of answered requests, errors
 * (anything other than 200 and 429) and the servers' RSS over the run.
 */

const MAIN = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));
const TOKEN = "bench-token-0123456789abcdef0123456789";

export interface ServerBench {
  requests: number;
  seconds: number;
  perSecond: number;
  p50ms: number;
  p99ms: number;
  tooBusy: number;
  errors: number;
  firstError?: string;
  /** Sum over both servers, MiB: after 10% of the requests, at the end, and the peak. */
  rssEarlyMiB: number;
  rssEndMiB: number;
  rssPeakMiB: number;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

function rssMiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

async function startServe(root: string): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const base = `${pathToFileURL(root).href}/`;
  const child = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      MAIN,
      "serve",
      `--port=${port}`,
      `--allow=${base}`,
      `--bucket-base=${base}`,
      "--retry-after=1",
    ],
    {
      env: { ...process.env, VOXPORT_SERVE_TOKENS: TOKEN, VOXPORT_LOG_LEVEL: "warn" },
      stdio: ["ignore", "ignore", "inherit"],
    },
  );
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`${url}/healthz`)).ok) return { url, child };
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill();
  throw new Error("voxport serve did not come up");
}

async function post(url: string, body: unknown): Promise<Response> {
  return fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json",
      authorization: `Bearer ${TOKEN}`,
    },
    body: JSON.stringify(body),
  });
}

export async function benchServer(
  opts: { requests?: number; clients?: number; maxSeconds?: number } = {},
): Promise<ServerBench> {
  const requests = opts.requests ?? 2000;
  const clients = opts.clients ?? 8;
  const maxSeconds = opts.maxSeconds ?? 600;
  const root = await mkdtemp(join(tmpdir(), "voxport-bench-serve-"));
  const servers: { url: string; child: ChildProcess }[] = [];
  try {
    await mkdir(join(root, "lab", "raw"), { recursive: true });
    await mkdir(join(root, "stack"));
    const W = 512;
    for (let z = 0; z < 8; z++) {
      await writeSection(join(root, "lab", "raw", `s${z}.png`), 480, 480, z);
      await writeSection(join(root, "stack", `s${String(z).padStart(3, "0")}.png`), 128, 96, z);
    }
    // A small queued job whose stage-0 messages /tasks will run.
    const q = `fq://${join(root, "queue")}`;
    const enq = await runCli([
      "ingest",
      join(root, "stack"),
      pathToFileURL(join(root, "job")).href,
      "--resolution=8,8,8",
      "--chunk-size=32,32,8",
      "--memory=1MiB",
      `--queue=${q}`,
    ]);
    if (enq.code !== 0) throw new Error(enq.stderr);
    const queue = await openQueue(q);
    const messages = (await queue.lease(100, 600_000)).map((l) => JSON.parse(l.body) as unknown);
    await queue.close();

    servers.push(await startServe(root), await startServe(root));
    const volume = { minz: 0, maxz: 7, resolution: 8, bbox: [W, W], dest: "lab_ng" };
    for (let z = 0; z < 8; z++) {
      const r = await post(`${servers[0].url}/alignedslice`, {
        img: `raw/s${z}.png`,
        transform: [0.99, 0.05, -0.05, 0.99, 12.5 + z, 20],
        bbox: [W, W],
        dest: "lab",
        "dest-tmp": "lab_tmp",
        slice: z,
      });
      if (!r.ok) throw new Error(`alignedslice: ${r.status} ${await r.text()}`);
    }
    const meta = await post(`${servers[0].url}/ngmeta`, volume);
    if (!meta.ok) throw new Error(`ngmeta: ${meta.status} ${await meta.text()}`);

    const latencies: number[] = [];
    let next = 0;
    let tooBusy = 0;
    let errors = 0;
    let firstError: string | undefined;
    const rss: { done: number; mib: number }[] = [];
    const sampler = setInterval(() => {
      rss.push({
        done: latencies.length,
        mib: servers.reduce((n, s) => n + rssMiB(s.child.pid!), 0),
      });
    }, 250);
    const started = performance.now();
    const deadline = started + maxSeconds * 1000;
    const client = async (c: number) => {
      while (next < requests && performance.now() < deadline) {
        const i = next++;
        const server = servers[(i + c) % 2].url;
        const [path, body] =
          i % 2 === 0
            ? ["/ngshard", { ...volume, source: "lab_tmp", start: [0, 0, 0] }]
            : ["/tasks", messages[i % messages.length]];
        for (;;) {
          const t0 = performance.now();
          const r = await post(`${server}${path}`, body);
          const text = await r.text();
          if (r.status === 429) {
            tooBusy++;
            await new Promise((res) => setTimeout(res, 20));
            continue;
          }
          if (r.status === 200) latencies.push(performance.now() - t0);
          else {
            errors++;
            firstError ??= `${path} ${r.status}: ${text.slice(0, 300)}`;
          }
          break;
        }
      }
    };
    await Promise.all(Array.from({ length: clients }, (_, c) => client(c)));
    const seconds = (performance.now() - started) / 1000;
    clearInterval(sampler);
    latencies.sort((a, b) => a - b);
    const pct = (p: number) =>
      latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))];
    const early = rss.find((s) => s.done >= requests / 10) ?? rss[0];
    return {
      requests: latencies.length + errors,
      seconds,
      perSecond: (latencies.length + errors) / seconds,
      p50ms: pct(0.5),
      p99ms: pct(0.99),
      tooBusy,
      errors,
      firstError,
      rssEarlyMiB: early?.mib ?? 0,
      rssEndMiB: rss[rss.length - 1]?.mib ?? 0,
      rssPeakMiB: Math.max(...rss.map((s) => s.mib)),
    };
  } finally {
    for (const s of servers) s.child.kill("SIGTERM");
    await rm(root, { recursive: true, force: true });
  }
}

export function formatServerBench(r: ServerBench): string {
  return [
    "| requests | wall | req/s | p50 | p99 | 429 (intended) | errors | RSS both servers: at 10% → end (peak) |",
    "|---|---|---|---|---|---|---|---|",
    `| ${r.requests} | ${r.seconds.toFixed(1)} s | ${r.perSecond.toFixed(1)} | ${r.p50ms.toFixed(0)} ms | ` +
      `${r.p99ms.toFixed(0)} ms | ${r.tooBusy} | ${r.errors} | ${r.rssEarlyMiB.toFixed(0)} → ` +
      `${r.rssEndMiB.toFixed(0)} MiB (${r.rssPeakMiB.toFixed(0)}) |`,
    r.firstError ? `first error: ${r.firstError}` : "",
  ]
    .filter(Boolean)
    .join("\n");
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const n = Number(process.argv[2] ?? 2000);
  console.log(formatServerBench(await benchServer({ requests: n })));
}
