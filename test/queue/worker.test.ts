import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { VoxportError } from "../../src/errors.js";
import { ingestItem, MessageError, parseMessage } from "../../src/queue/message.js";
import { openQueue, queueOptions } from "../../src/queue/open.js";
import type { Lease, Queue } from "../../src/queue/queue.js";
import { parseSqsUrl } from "../../src/queue/sqs/url.js";
import { backoffMs, TASK_RETRY } from "../../src/worker/backoff.js";
import type { TaskOutcome } from "../../src/worker/handler.js";
import { LeaseKeeper } from "../../src/worker/lease-keeper.js";
import { isRetryable, WorkerLoop } from "../../src/worker/loop.js";

let n = 0;
const fresh = (o = {}) => openQueue(`mem://worker-test-${process.pid}-${n++}`, o);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ok: TaskOutcome = { kind: "ingest", parents: [] };

describe("backoff", () => {
  test("exponential, capped, jittered downward only", () => {
    const none = () => 0;
    const full = () => 0.999999;
    assert.deepEqual(
      [1, 2, 3, 4].map((a) => backoffMs(a, TASK_RETRY, none)),
      [2000, 4000, 8000, 16000],
    );
    assert.equal(backoffMs(30, TASK_RETRY, none), TASK_RETRY.maxMs, "capped");
    assert.equal(backoffMs(10_000, TASK_RETRY, none), TASK_RETRY.maxMs, "no overflow");
    assert.equal(backoffMs(0, TASK_RETRY, none), 2000, "attempt < 1 counts as 1");
    // Jitter 0.5: between half and all of the delay.
    assert.equal(backoffMs(3, TASK_RETRY, full), 4000);
    for (let i = 0; i < 100; i++) {
      const d = backoffMs(3, TASK_RETRY);
      assert.ok(d >= 4000 && d <= 8000, String(d));
    }
    // Unlike python-task-queue's clamp, the delay keeps growing past 2 s.
    assert.ok(backoffMs(5, { baseMs: 500, maxMs: 60_000, jitter: 0 }) === 8000);
  });
});

describe("messages", () => {
  test("round trip and validation", () => {
    const item = ingestItem("s3://b/em", {
      id: "s0_0-64_0-64_0-16",
      stage: 0,
      box: { min: [0, 0, 0], max: [64, 64, 16] },
    });
    const m = parseMessage(item.body);
    assert.equal(m.kind, "ingest");
    assert.equal(m.job, "s3://b/em");
    const bad = (body: string, re: RegExp) =>
      assert.throws(
        () => parseMessage(body),
        (e: unknown) => e instanceof MessageError && re.test((e as Error).message),
      );
    bad("{nope", /not JSON/);
    bad('{"v":2,"kind":"ingest"}', /version 2 is not supported/);
    bad(
      '{"v":1,"kind":"mesh","job":"x"}',
      /unknown task kind "mesh"; known kinds: ingest, publish/,
    );
    bad(
      '{"v":1,"kind":"ingest","job":"x","task":{"id":"a","stage":0,"box":{"min":[0,0],"max":[1,1,1]}}}',
      /task\.box\.min/,
    );
    assert.equal(
      isRetryable(new MessageError("x")),
      false,
      "a bad message is dead-lettered at once",
    );
  });

  test("queue URLs", () => {
    assert.deepEqual(queueOptions("fq:///x?max-attempts=3&retry-delay=10"), {
      maxAttempts: 3,
      maxLeases: 20,
      retryDelayMs: 10,
    });
    assert.throws(() => queueOptions("fq:///x?max-attempts=0"), /max-attempts/);
    const loc = parseSqsUrl("sqs://127.0.0.1:4566/em-ingest?state=file%3A%2F%2F%2Ftmp%2Fs");
    assert.deepEqual(loc, {
      name: "em-ingest",
      region: "us-east-1",
      endpoint: "http://127.0.0.1:4566",
      state: "file:///tmp/s",
    });
    const aws = parseSqsUrl("sqs://sqs.eu-west-1.amazonaws.com/123456789012/em?state=s3://b/q");
    assert.equal(aws.region, "eu-west-1");
    assert.equal(aws.endpoint, undefined);
    assert.throws(() => parseSqsUrl("sqs://aws/em"), /state=STORE_URL/);
  });

  test("error classes", () => {
    for (const code of [
      "INVALID_SOURCE",
      "INVALID_INFO",
      "CODEC",
      "UNSUPPORTED",
      "INVALID_ARGUMENT",
    ] as const) {
      assert.equal(isRetryable(new VoxportError(code, "x")), false, code);
    }
    for (const code of ["STORAGE", "NOT_FOUND", "CONFLICT"] as const) {
      assert.equal(isRetryable(new VoxportError(code, "x")), true, code);
    }
    assert.equal(isRetryable(new Error("worker thread exited unexpectedly")), true);
  });
});

describe("lease keeper", () => {
  test("renews held leases in one batch at half their length; reports lost ones once", async () => {
    const q = await fresh();
    await q.enqueue([1, 2, 3].map((i) => ({ id: `t${i}`, stage: 0, body: "{}" })));
    const leases = await q.lease(3, 400);
    const batches: number[] = [];
    const spy: Queue = Object.create(q);
    spy.renewMany = (ls: readonly Lease[], ms: number) => {
      batches.push(ls.length);
      return q.renewMany(ls, ms);
    };
    const lost: string[] = [];
    const keeper = new LeaseKeeper(spy, 400, { onLost: (l) => lost.push(l.id) });
    for (const l of leases) keeper.add(l);
    await sleep(1000);
    assert.ok(batches.length >= 2, `renewed repeatedly (${batches.length})`);
    assert.ok(
      batches.every((b) => b === 3),
      `one call for all three leases (${batches})`,
    );
    assert.deepEqual(lost, []);
    // Another holder takes t1 over (release, then lease by someone else).
    await q.release(leases[0]);
    await q.lease(1, 60_000);
    await sleep(500);
    assert.deepEqual(lost, ["t1"]);
    assert.equal(keeper.isLost(leases[0]), true);
    assert.equal(keeper.isLost(leases[1]), false);
    keeper.close();
  });
});

describe("worker loop (mem://)", () => {
  test("runs everything, retries retryable errors, dead-letters bad input, exits when drained", async () => {
    const q = await fresh({ maxAttempts: 3 });
    await q.enqueue(["a", "b", "flaky", "bad"].map((id) => ({ id, stage: 0, body: id })));
    const calls: Record<string, number> = {};
    const loop = new WorkerLoop({
      queue: q,
      concurrency: 2,
      leaseMs: 2000,
      waitMs: 50,
      exitWhenEmpty: true,
      handler: async (lease) => {
        calls[lease.id] = (calls[lease.id] ?? 0) + 1;
        if (lease.id === "bad")
          throw new VoxportError("INVALID_SOURCE", "/data/s9.png: truncated PNG");
        if (lease.id === "flaky" && lease.attempt < 2) throw new Error("ECONNRESET");
        return lease.id === "a"
          ? {
              kind: "ingest",
              parents: [{ item: { id: "parent", stage: 1, body: "p" }, expected: 2 }],
            }
          : lease.id === "b"
            ? {
                kind: "ingest",
                parents: [{ item: { id: "parent", stage: 1, body: "p" }, expected: 2 }],
              }
            : ok;
      },
    });
    // The retry waits out a ~2 s backoff; fast-forward by retrying with no delay.
    const fail = q.fail.bind(q);
    q.fail = (l, e, o) => fail(l, e, { ...o, delayMs: 10 });
    const s = await loop.run();
    assert.equal(s.stopped, "empty");
    assert.deepEqual(calls, { a: 1, b: 1, flaky: 2, bad: 1, parent: 1 });
    assert.equal(s.done, 4);
    assert.equal(s.dead, 1);
    const dead = await q.deadLetters();
    assert.deepEqual(
      dead.map((d) => d.id),
      ["bad"],
    );
    assert.match(dead[0].error, /^INVALID_SOURCE: \/data\/s9\.png/);
  });

  test("a task whose lease is lost is not completed; stop() lets running tasks finish", async () => {
    const q = await fresh();
    await q.enqueue([
      { id: "slow", stage: 0, body: "" },
      { id: "next", stage: 0, body: "" },
    ]);
    const dropped: string[] = [];
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const loop = new WorkerLoop({
      queue: q,
      concurrency: 1,
      leaseMs: 300,
      waitMs: 50,
      handler: async (lease) => {
        if (lease.id === "slow") await gate;
        return ok;
      },
      onEvent: (e) => {
        if (e.type === "lost") dropped.push(e.lease.id);
      },
    });
    const running = loop.run();
    await sleep(100);
    // An operator releases every lease: the worker's renewal is refused.
    assert.equal(await q.releaseAll(), 1);
    await sleep(400);
    loop.stop();
    release();
    const s = await running;
    assert.equal(s.lost, 1);
    assert.deepEqual(dropped, ["slow"]);
    const stats = await q.stats();
    assert.equal(stats.stages[0].done, 0, "the dropped result was not recorded");
    assert.equal(stats.stages[0].pending, 2, "nothing leased after stop");
  });

  test("abort() (the second signal) hands held leases back at once", async () => {
    const q = await fresh();
    await q.enqueue([{ id: "held", stage: 0, body: "" }]);
    const loop = new WorkerLoop({
      queue: q,
      concurrency: 1,
      leaseMs: 60_000,
      waitMs: 50,
      handler: () => new Promise<TaskOutcome>(() => undefined), // never finishes
    });
    const running = loop.run();
    await sleep(100);
    assert.equal((await q.stats()).stages[0].leased, 1);
    await loop.abort();
    const st = (await q.stats()).stages[0];
    assert.equal(st.leased, 0, "released, not left to expire after 60 s");
    assert.equal(st.pending, 1);
    const [again] = await q.lease(1, 1000);
    assert.equal(again.attempt, 1, "a released lease does not count as an attempt");
    void running;
  });
});
