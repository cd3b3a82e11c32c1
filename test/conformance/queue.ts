import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Lease, Queue, QueueItem, QueueOptions, QueueStats } from "../../src/queue/queue.js";
import { totals } from "../../src/queue/queue.js";

/**
 * One behavioural suite for every Queue backend (mem, fq, redis, sqs), after BullMQ's
 * adapter-conformance tests and cloud-files' one-suite-per-protocol habit. `open(name, opts)`
 * returns a handle on queue `name`; calling it twice with the same name gives two handles on
 * one queue (two workers). Each test uses a fresh name.
 */
export type QueueFactory = (name: string, options: QueueOptions) => Promise<Queue>;

export interface QueueConformanceOptions {
  /** Lease length for expiry tests; SQS counts whole seconds. Default 400. */
  shortLeaseMs?: number;
  /** Per-stage pending/leased are not known exactly (SQS): skip those assertions. */
  approximateCounts?: boolean;
  /** Tasks in the big-enqueue case (several calls in flight, overlapping). Default 25,000 — past
   * fq's threshold for placement threads; 0 skips it (SQS on moto does ~200 tasks/s). */
  bigEnqueue?: number;
}

let counter = 0;
function uniqueName(label: string): string {
  return `c${process.pid}-${Date.now().toString(36)}-${counter++}-${label}`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function item(id: string, stage = 0, body?: string): QueueItem {
  return { id, stage, body: body ?? JSON.stringify({ v: 1, id, text: "ünïcødé ✓" }) };
}

function stage(stats: QueueStats, s: number) {
  return (
    stats.stages.find((c) => c.stage === s) ?? {
      stage: s,
      enqueued: 0,
      pending: 0,
      delayed: 0,
      leased: 0,
      done: 0,
      dead: 0,
    }
  );
}

/** Leases until `n` leases are held or `ms` pass (SQS may hand out fewer per call). */
async function leaseN(q: Queue, n: number, leaseMs: number, ms = 5000): Promise<Lease[]> {
  const out: Lease[] = [];
  const deadline = Date.now() + ms;
  while (out.length < n && Date.now() < deadline) {
    out.push(...(await q.lease(n - out.length, leaseMs, 200)));
  }
  return out;
}

export function queueConformance(
  backend: string,
  open: QueueFactory,
  opts: QueueConformanceOptions = {},
): void {
  const short = opts.shortLeaseMs ?? 400;
  /** Long enough for a short lease to have run out. */
  const expire = () => sleep(short * 1.5 + 200);
  const long = 30_000;
  const options: QueueOptions = { maxAttempts: 2, maxLeases: 2, retryDelayMs: 1000 };

  async function withQueue(label: string, fn: (q: Queue, name: string) => Promise<void>) {
    const name = uniqueName(label);
    const q = await open(name, options);
    try {
      await fn(q, name);
    } finally {
      await q.purge().catch(() => undefined);
      await q.close();
    }
  }

  describe(`queue conformance: ${backend}`, () => {
    test("enqueue dedupes by id, across calls and within a batch", () =>
      withQueue("dedupe", async (q) => {
        assert.equal(await q.enqueue([item("a"), item("b"), item("a"), item("c", 1)]), 3);
        assert.equal(await q.enqueue([item("a"), item("b"), item("d")]), 1);
        const s = await q.stats();
        assert.equal(stage(s, 0).enqueued, 3);
        assert.equal(stage(s, 1).enqueued, 1);
        await assert.rejects(q.enqueue([item("bad id/with slash")]));
      }));

    const big = opts.bigEnqueue ?? 25_000;
    test(
      `${big} tasks in calls 4 at a time, then again overlapping: each id counted once, bodies intact`,
      { skip: big === 0 && "bigEnqueue: 0" },
      () =>
        withQueue("big", async (q) => {
          const body = (i: number) => JSON.stringify({ v: 1, i, pad: "x".repeat(i % 97) });
          const items = (from: number, to: number) => {
            const out: QueueItem[] = [];
            for (let i = from; i < Math.min(big, to); i++) out.push(item(`b${i}`, i % 3, body(i)));
            return out;
          };
          const chunk = Math.ceil(big / 4);
          // Two-thirds of the ids, in 4 concurrent calls (as `voxport ingest --queue` sends them).
          const first = Math.floor((big * 2) / 3);
          const q4 = Math.ceil(first / 4);
          const calls = [0, 1, 2, 3].map((k) =>
            q.enqueue(items(k * q4, Math.min(first, (k + 1) * q4))),
          );
          assert.equal(
            (await Promise.all(calls)).reduce((a, b) => a + b, 0),
            first,
          );
          // Then everything again in chunks, each overlapping known ids: only the new ones count.
          let added = 0;
          for (let start = 0; start < big; start += chunk)
            added += await q.enqueue(items(start, start + chunk));
          assert.equal(added, big - first, "known ids are not counted again");
          const s = await q.stats();
          assert.equal(
            [0, 1, 2].reduce((n, k) => n + stage(s, k).enqueued, 0),
            big,
          );
          assert.equal(stage(s, 1).enqueued, Math.floor((big - 2) / 3) + 1);
          // A sample of tasks comes back with its own body.
          const got = await leaseN(q, 200, long);
          assert.equal(got.length, 200);
          for (const l of got) assert.equal(l.body, body(Number(l.id.slice(1))), l.id);
          assert.equal(new Set(got.map((l) => l.id)).size, 200, "no task leased twice");
        }),
    );

    test("lease hands each task to one holder with a fresh token; the body round-trips", () =>
      withQueue("lease", async (q) => {
        const body = JSON.stringify({ v: 1, kind: "ingest", job: "file:///x y/z", text: "µm ✓" });
        await q.enqueue([item("t1", 0, body), item("t2", 2)]);
        const got = await leaseN(q, 2, long);
        assert.equal(got.length, 2);
        const t1 = got.find((l) => l.id === "t1")!;
        const t2 = got.find((l) => l.id === "t2")!;
        assert.equal(t1.body, body);
        assert.equal(t1.stage, 0);
        assert.equal(t2.stage, 2);
        assert.equal(t1.attempt, 1);
        assert.notEqual(t1.token, t2.token);
        assert.notEqual(t1.token, t1.id, "the task id is never the lease handle");
        assert.ok(t1.expiresAt > Date.now());
        assert.deepEqual(await q.lease(5, long, 0), [], "nothing left to lease");
        if (!opts.approximateCounts) {
          const s = await q.stats();
          assert.equal(stage(s, 0).leased, 1);
          assert.equal(stage(s, 0).pending, 0);
        }
      }));

    test("complete counts once; a second complete or renew of the same lease fails", () =>
      withQueue("complete", async (q) => {
        await q.enqueue([item("a"), item("b")]);
        const [a] = await leaseN(q, 1, long);
        assert.deepEqual(await q.complete(a), { ok: true, released: [] });
        assert.equal((await q.complete(a)).ok, false);
        assert.equal(await q.renew(a, long), false);
        assert.equal(await q.release(a), false);
        const s = await q.stats();
        assert.equal(stage(s, 0).done, 1);
        assert.equal(stage(s, 0).enqueued, 2);
        assert.ok(s.lastDoneAt && s.lastDoneAt <= Date.now() + 5000);
        assert.equal(await q.enqueue([item(a.id)]), 0, "a done id still dedupes");
      }));

    test("an expired lease recirculates with a new token; the old holder has lost it", () =>
      withQueue("expire", async (q) => {
        await q.enqueue([item("x")]);
        const [first] = await leaseN(q, 1, short);
        await expire();
        const [second] = await leaseN(q, 1, long);
        assert.ok(second, "the task is leasable again");
        assert.equal(second.id, "x");
        assert.equal(second.attempt, 2);
        assert.notEqual(second.token, first.token);
        assert.equal(await q.renew(first, long), false);
        assert.equal((await q.complete(first)).ok, false);
        assert.equal(await q.fail(first, "late", { retryable: true }), "lost");
        assert.equal((await q.complete(second)).ok, true);
        assert.equal(stage(await q.stats(), 0).done, 1);
      }));

    test("renewing keeps a lease past its first expiry; renewMany answers per lease", () =>
      withQueue("renew", async (q) => {
        await q.enqueue([item("r1"), item("r2")]);
        const leases = await leaseN(q, 2, short);
        assert.equal(leases.length, 2);
        for (let i = 0; i < 3; i++) {
          await sleep(short * 0.5);
          assert.deepEqual(await q.renewMany(leases, short), [true, true]);
        }
        assert.deepEqual(await q.lease(2, long, 0), [], "renewed leases are not handed out");
        assert.equal((await q.complete(leases[0])).ok, true);
        assert.deepEqual(await q.renewMany(leases, short), [false, true]);
      }));

    test("retryable failures back off and retry up to max-attempts, then dead-letter", () =>
      withQueue("retry", async (q) => {
        await q.enqueue([item("f")]);
        const [a] = await leaseN(q, 1, long);
        assert.equal(
          await q.fail(a, "transient: ECONNRESET", { retryable: true, delayMs: 1000 }),
          "retry",
        );
        assert.deepEqual(await q.lease(1, long, 0), [], "not visible during the backoff");
        const [b] = await leaseN(q, 1, long, 4000);
        assert.ok(b, "visible again after the backoff");
        assert.equal(b.attempt, 2);
        assert.equal(
          await q.fail(b, "transient again", { retryable: true, delayMs: 1000 }),
          "dead",
        );
        const dead = await q.deadLetters();
        assert.deepEqual(
          dead.map((d) => [d.id, d.stage, d.error]),
          [["f", 0, "transient again"]],
        );
        assert.equal(stage(await q.stats(), 0).dead, 1);
        assert.equal(await q.retryFailed(), 1);
        const [c] = await leaseN(q, 1, long);
        assert.equal(c.id, "f");
        assert.equal(c.attempt, 1, "retry-failed starts the attempts afresh");
        assert.equal((await q.complete(c)).ok, true);
        const s = stage(await q.stats(), 0);
        assert.equal(s.dead, 0);
        assert.equal(s.done, 1);
      }));

    test("a non-retryable failure dead-letters at once with its error", () =>
      withQueue("poison", async (q) => {
        await q.enqueue([item("p", 3), item("ok", 3)]);
        const leases = await leaseN(q, 2, long);
        const p = leases.find((l) => l.id === "p")!;
        const msg = "INVALID_SOURCE: /data/s0042.png: truncated";
        assert.equal(await q.fail(p, msg, { retryable: false }), "dead");
        const dead = await q.deadLetters();
        assert.equal(dead.length, 1);
        assert.equal(dead[0].error, msg);
        assert.equal(dead[0].stage, 3);
        assert.equal(dead[0].attempt, 1);
      }));

    test("release hands a task back at once without counting the attempt", () =>
      withQueue("release", async (q) => {
        await q.enqueue([item("r")]);
        const [a] = await leaseN(q, 1, long);
        assert.equal(await q.release(a), true);
        const [b] = await leaseN(q, 1, long);
        assert.equal(b.id, "r");
        assert.notEqual(b.token, a.token);
        if (!opts.approximateCounts) assert.equal(b.attempt, 1);
        assert.equal((await q.complete(a)).ok, false);
      }));

    test("a parent is enqueued once, by the child that completes its set", () =>
      withQueue("deps", async (q) => {
        const parent = { item: item("P", 1, '{"parent":true}'), expected: 3 };
        const other = { item: item("Q", 1), expected: 2 };
        await q.enqueue([item("c1"), item("c2"), item("c3")]);
        const kids = await leaseN(q, 3, long);
        assert.equal(kids.length, 3);
        const byId = Object.fromEntries(kids.map((k) => [k.id, k]));
        assert.deepEqual(await q.complete(byId.c1, { parents: [parent, other] }), {
          ok: true,
          released: [],
        });
        assert.deepEqual((await q.complete(byId.c2, { parents: [parent, other] })).released, ["Q"]);
        assert.deepEqual((await q.complete(byId.c3, { parents: [parent] })).released, ["P"]);
        const s = await q.stats();
        assert.equal(stage(s, 1).enqueued, 2);
        const ps = await leaseN(q, 2, long);
        assert.deepEqual(ps.map((l) => l.id).sort(), ["P", "Q"]);
        assert.equal(ps.find((l) => l.id === "P")!.body, '{"parent":true}');
      }));

    test("children completing at the same time release their parent exactly once", () =>
      withQueue("deps-race", async (q, name) => {
        const q2 = await open(name, options);
        try {
          const n = 8;
          await q.enqueue(Array.from({ length: n }, (_, i) => item(`k${i}`)));
          const kids = await leaseN(q, n, long);
          assert.equal(kids.length, n);
          const parent = { item: item("PP", 1), expected: n };
          const results = await Promise.all(
            kids.map((k, i) => (i % 2 ? q : q2).complete(k, { parents: [parent] })),
          );
          assert.ok(results.every((r) => r.ok));
          assert.equal(results.flatMap((r) => r.released).length, 1);
          const s = await q.stats();
          assert.equal(stage(s, 1).enqueued, 1);
          assert.equal(stage(s, 0).done, n);
        } finally {
          await q2.close();
        }
      }));

    test("two workers leasing at once never hold the same task", () =>
      withQueue("race", async (q, name) => {
        const q2 = await open(name, options);
        try {
          const n = 40;
          await q.enqueue(Array.from({ length: n }, (_, i) => item(`t${i}`)));
          const seen: string[] = [];
          const drain = async (h: Queue) => {
            for (let idle = 0; idle < 3; ) {
              const got = await h.lease(5, long, 100);
              if (got.length === 0) idle++;
              for (const l of got) {
                seen.push(l.id);
                assert.equal((await h.complete(l)).ok, true);
              }
            }
          };
          await Promise.all([drain(q), drain(q2)]);
          assert.equal(seen.length, n, "each task leased once");
          assert.equal(new Set(seen).size, n);
          assert.equal(stage(await q.stats(), 0).done, n);
        } finally {
          await q2.close();
        }
      }));

    test("a task whose leases keep expiring is dead-lettered after max-leases", () =>
      withQueue("stalls", async (q) => {
        await q.enqueue([item("s")]);
        for (let i = 0; i < 2; i++) {
          const got = await leaseN(q, 1, short);
          assert.equal(got.length, 1, `lease ${i + 1}`);
          await expire();
        }
        assert.deepEqual(await q.lease(1, long, 1000), []);
        const dead = await q.deadLetters();
        assert.equal(dead.length, 1);
        assert.match(dead[0].error, /2 times/);
      }));

    test("releaseAll ends every lease; purge forgets everything", () =>
      withQueue("ops", async (q) => {
        await q.enqueue([item("a"), item("b"), item("c", 1)]);
        const held = await leaseN(q, 3, long);
        assert.equal(held.length, 3);
        assert.equal(await q.releaseAll(), 3);
        assert.equal(await q.renew(held[0], long), false);
        const again = await leaseN(q, 3, long);
        assert.equal(again.length, 3);
        await q.setMeta("job-1", '{"destination":"file:///d"}');
        assert.deepEqual(await q.getMeta(), { "job-1": '{"destination":"file:///d"}' });
        await q.purge();
        const t = totals(await q.stats());
        assert.equal(t.enqueued, 0);
        assert.deepEqual(await q.getMeta(), {});
        assert.equal(await q.enqueue([item("a")]), 1, "purged ids are new again");
      }));

    test("a waiting lease wakes up for a task enqueued meanwhile", () =>
      withQueue("wait", async (q, name) => {
        const q2 = await open(name, options);
        try {
          const started = Date.now();
          const waiting = q.lease(1, long, 5000);
          await sleep(300);
          await q2.enqueue([item("late")]);
          const got = await waiting;
          assert.equal(got.length, 1);
          assert.ok(Date.now() - started < 4500, "answered before the wait ran out");
        } finally {
          await q2.close();
        }
      }));
  });
}
