import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { writeStack } from "../fixtures/stack.js";
import {
  diffTrees,
  finished,
  type Run,
  rng,
  sleep,
  startVoxport,
  status,
  voxport,
} from "./helpers.js";
import { missing, type Server, sqsUrl, startMoto, startRedis } from "./servers.js";

/**
 * The queue backends under faults, with real `voxport work` processes:
 *
 * - fault: a 192×160×48 stack planned into 250 tasks over 5 stages (full 7-scale pyramid) plus
 *   the publish step; 4 workers, one of them SIGKILLed every 2–3.5 s and replaced. The dataset
 *   must be byte-identical to a single-process `voxport ingest`, every task counted done
 *   exactly once, nothing left pending or leased.
 * - poison: one slice is corrupted after the job is planned; the stage-0 task reading it is
 *   dead-lettered with the file's name in its error, everything not depending on it completes,
 *   and `voxport queue retry-failed` after restoring the file completes the job.
 */

const FAULT_ARGS = [
  "-r",
  "4,4,40",
  "--chunk-size",
  "16,16,8",
  "--memory",
  "100KiB",
  "--workers",
  "1",
];
// Whole-section stage-0 tasks (4 of them), so one bad slice poisons exactly one task.
const POISON_ARGS = [
  "-r",
  "4,4,40",
  "--chunk-size",
  "16,16,8",
  "--memory",
  "200KiB",
  "--workers",
  "1",
];
const WORKER_ARGS = ["--workers", "1", "--lease", "3s", "--wait", "1s", "--exit-when-empty"];

let tmp: string;
let stack: string;
let small: string;
let reference: string;
let smallReference: string;
let redis: Server | undefined;
let moto: Server | undefined;
const noRedis = missing("redis");
const noMoto = missing("moto");

function ok(r: Run, what: string): void {
  assert.equal(r.code, 0, `${what} exited ${r.code ?? r.signal}:\n${r.stderr}`);
}

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), "voxport-queue-fault-"));
  stack = join(tmp, "stack");
  small = join(tmp, "small");
  reference = join(tmp, "reference");
  smallReference = join(tmp, "small-reference");
  await writeStack(stack, { width: 192, height: 160, depth: 48, dtype: "uint8", format: "png" });
  await writeStack(small, {
    width: 64,
    height: 48,
    depth: 32,
    dtype: "uint8",
    format: "png",
    seed: 3,
  });
  const [a, b, r, m] = await Promise.all([
    voxport(["ingest", stack, reference, ...FAULT_ARGS]),
    voxport(["ingest", small, smallReference, ...POISON_ARGS]),
    noRedis ? undefined : startRedis(),
    noMoto ? undefined : startMoto(),
  ]);
  ok(a, "reference ingest");
  ok(b, "small reference ingest");
  redis = r;
  moto = m;
});

after(async () => {
  await Promise.all([redis?.stop(), moto?.stop()]);
  await rm(tmp, { recursive: true, force: true });
});

interface Worker {
  child: ChildProcess;
  done: Promise<Run>;
}

function startWorker(url: string): Worker {
  const child = startVoxport(["work", url, ...WORKER_ARGS]);
  return { child, done: finished(child) };
}

async function faultRun(label: string, url: string, diag: (m: string) => void): Promise<void> {
  const dest = join(tmp, `dest-${label}`);
  ok(await voxport(["ingest", stack, dest, ...FAULT_ARGS, "--queue", url]), "ingest --queue");
  const planned = await status(url);
  assert.ok(planned.total !== undefined && planned.total >= 200, `≥ 200 tasks (${planned.total})`);
  assert.ok(planned.rows.length >= 4, "a pyramid of several stages");

  const random = rng(label.length * 7919);
  const live = new Set<Worker>();
  const all: Worker[] = [];
  const spawnOne = () => {
    const w = startWorker(url);
    live.add(w);
    all.push(w);
    void w.done.then(() => live.delete(w));
  };
  for (let i = 0; i < 4; i++) spawnOne();
  let kills = 0;
  const deadline = Date.now() + 180_000;
  let report = planned;
  for (;;) {
    await sleep(2000 + random() * 1500);
    report = await status(url);
    if (report.complete) break;
    assert.ok(Date.now() < deadline, `not complete after 180 s: ${JSON.stringify(report.rows)}`);
    const victims = [...live];
    if (victims.length) {
      const v = victims[Math.floor(random() * victims.length)];
      v.child.kill("SIGKILL");
      await v.done;
      kills++;
    }
    while (live.size < 4) spawnOne();
  }
  // The survivors see the queue drained and exit by themselves.
  const exits = await Promise.race([
    Promise.all([...live].map((w) => w.done)),
    sleep(30_000).then(() => undefined),
  ]);
  for (const w of live) w.child.kill("SIGKILL");
  assert.ok(exits, "workers exit once the queue is drained (--exit-when-empty)");
  for (const r of exits) ok(r, "worker");
  assert.ok(kills >= 3, `workers were killed during the run (${kills})`);
  diag(`${report.total} tasks, ${kills} workers SIGKILLed, ${all.length} started`);

  report = await status(url);
  for (const row of report.rows) {
    assert.equal(
      row.done,
      row.total,
      `stage ${row.stage}: every task done (${row.done}/${row.total})`,
    );
    assert.equal(row.enqueued, row.total, `stage ${row.stage}: each task enqueued once`);
    assert.equal(row.dead, 0, `stage ${row.stage}: nothing dead`);
    assert.equal(row.pending + row.leased + row.delayed, 0, `stage ${row.stage}: nothing left`);
  }
  assert.equal(report.done, report.total, "done once each: the counts add up to the plan");
  assert.equal(report.inFlight, 0);
  if (report.backlog) assert.deepEqual(report.backlog, { visible: 0, inFlight: 0, delayed: 0 });
  assert.deepEqual(await diffTrees(reference, dest), [], "byte-identical to the local run");
  assert.equal(existsSync(join(dest, ".voxport")), false, "job state removed on publish");
}

async function poisonRun(label: string, url: string): Promise<void> {
  const dest = join(tmp, `poison-${label}`);
  ok(await voxport(["ingest", small, dest, ...POISON_ARGS, "--queue", url]), "ingest --queue");
  // Corrupt the compressed pixels, keeping the header and the IEND trailer: the source's
  // open-time checks (size, type, truncation) pass, decoding fails. (A truncated slice is caught
  // when a worker opens the source, so it would fail every task that worker runs — also
  // dead-lettered with the file named, and fixed the same way.)
  const bad = join(small, "slice_0005.png");
  const original = await readFile(bad);
  const broken = Buffer.from(original);
  for (let i = (broken.length >> 1) - 40; i < (broken.length >> 1) + 40; i++) broken[i] ^= 0x5a;
  await writeFile(bad, broken);
  try {
    const workers = [startWorker(url), startWorker(url)].map((w) => w.done);
    for (const r of await Promise.all(workers)) ok(r, "worker");
    const report = await status(url);
    assert.equal(
      report.dead,
      1,
      `exactly the poisoned task is dead: ${JSON.stringify(report.deadLetters)}`,
    );
    const [dead] = report.deadLetters;
    assert.match(dead.id, /\.s0_[0-9-]+_[0-9-]+_0-8$/);
    assert.ok(dead.error.includes("slice_0005.png"), `the error names the file: ${dead.error}`);
    assert.match(dead.error, /^INVALID_SOURCE/);
    assert.equal(dead.attempt, 1, "dead-lettered at once, not retried");
    const rows = report.rows;
    assert.deepEqual(
      rows.map((r) => [r.done, r.total]),
      [
        [3, 4],
        [1, 2],
        [0, 1],
      ],
      "everything not depending on the poisoned task completed",
    );
    assert.equal(
      rows.reduce((n, r) => n + r.pending + r.leased + r.delayed, 0),
      0,
    );
  } finally {
    await writeFile(bad, original);
  }
  const retry = await voxport(["queue", "retry-failed", url]);
  ok(retry, "queue retry-failed");
  assert.match(retry.stderr, /1 dead-lettered task\(s\) put back/);
  ok(await finished(startWorker(url).child), "worker after retry-failed");
  const report = await status(url);
  assert.ok(report.complete, `complete after retry-failed: ${JSON.stringify(report.rows)}`);
  assert.equal(report.dead, 0);
  assert.deepEqual(await diffTrees(smallReference, dest), [], "byte-identical to the local run");
}

describe("signals (fq)", () => {
  test("SIGTERM finishes the running task, completes it and exits 0", async () => {
    const url = `fq://${join(tmp, "queue-signals")}`;
    ok(
      await voxport(["ingest", stack, join(tmp, "dest-signals"), ...FAULT_ARGS, "--queue", url]),
      "ingest --queue",
    );
    const waitDone = async (n: number) => {
      for (let i = 0; i < 300 && (await status(url)).done < n; i++) await sleep(100);
    };
    // Graceful: stop leasing, finish what runs, complete it, exit 0; nothing left leased.
    const a = startWorker(url);
    await waitDone(3);
    a.child.kill("SIGTERM");
    const ra = await Promise.race([a.done, sleep(15_000).then(() => undefined)]);
    assert.ok(ra, "exits within 15 s of SIGTERM");
    ok(ra, "worker after SIGTERM");
    const s = await status(url);
    assert.equal(s.inFlight, 0, "its task was completed, not abandoned");
    assert.equal(s.dead, 0);
    // (A second signal — abort, hand the leases back, exit 130 — is tested on the loop itself in
    // worker.test.ts: two signals sent from here may merge into one.)
  });
});

describe("fq", () => {
  test("fault: 4 workers, random SIGKILLs, byte-identical result, each task done once", (t) =>
    faultRun("fq", `fq://${join(tmp, "queue-fq")}`, (d) => t.diagnostic(d)));
  test("poison: dead-lettered with the file named, retry-failed completes", () =>
    poisonRun("fq", `fq://${join(tmp, "queue-fq-poison")}`));
});

describe("redis", { skip: noRedis }, () => {
  test("fault: 4 workers, random SIGKILLs, byte-identical result, each task done once", (t) =>
    faultRun("redis", `${redis!.url}/fault`, (d) => t.diagnostic(d)));
  test("poison: dead-lettered with the file named, retry-failed completes", () =>
    poisonRun("redis", `${redis!.url}/poison`));
});

describe("sqs (moto)", { skip: noMoto }, () => {
  test("fault: 4 workers, random SIGKILLs, byte-identical result, each task done once", (t) =>
    faultRun("sqs", sqsUrl(moto!, "fault", join(tmp, "sqs-state-fault")), (d) => t.diagnostic(d)));
  test("poison: dead-lettered with the file named, retry-failed completes", () =>
    poisonRun("sqs", sqsUrl(moto!, "poison", join(tmp, "sqs-state-poison"))));
});
