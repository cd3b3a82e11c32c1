import { type ChildProcess, spawn } from "node:child_process";
import { readdir, readFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { type StatusReport, statusReport } from "../../src/cli/status.js";
import { openQueue } from "../../src/queue/open.js";

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const ENTRY = fileURLToPath(new URL("./cli-entry.ts", import.meta.url));

export const CHILD_ENV: NodeJS.ProcessEnv = {
  ...process.env,
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
  VOXPORT_LOG_LEVEL: "warn",
};

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** voxport (ingest + the queue commands) as a child process. */
export function startVoxport(args: string[]): ChildProcess {
  return spawn(process.execPath, ["--import", "tsx", ENTRY, ...args], {
    cwd: ROOT,
    env: CHILD_ENV,
    stdio: ["ignore", "pipe", "pipe"],
  });
}

export function finished(child: ChildProcess): Promise<Run> {
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d) => {
    stdout += d;
  });
  child.stderr?.on("data", (d) => {
    stderr = (stderr + d).slice(-20_000);
  });
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

export function voxport(args: string[]): Promise<Run> {
  return finished(startVoxport(args));
}

export async function status(url: string): Promise<StatusReport> {
  const q = await openQueue(url);
  try {
    return await statusReport(q, url);
  } finally {
    await q.close();
  }
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await listFiles(p)));
    else out.push(p);
  }
  return out;
}

/** Differences between two directory trees (names and bytes); empty when identical. */
export async function diffTrees(a: string, b: string): Promise<string[]> {
  const fa = (await listFiles(a)).map((p) => relative(a, p)).sort();
  const fb = (await listFiles(b)).map((p) => relative(b, p)).sort();
  const out: string[] = [];
  const sb = new Set(fb);
  const sa = new Set(fa);
  for (const f of fa) if (!sb.has(f)) out.push(`only in ${a}: ${f}`);
  for (const f of fb) if (!sa.has(f)) out.push(`only in ${b}: ${f}`);
  for (const f of fa) {
    if (!sb.has(f)) continue;
    const [x, y] = await Promise.all([readFile(join(a, f)), readFile(join(b, f))]);
    if (!x.equals(y)) out.push(`differs: ${f}`);
  }
  return out;
}

/** A small deterministic PRNG (mulberry32) for the kill schedule. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
