import assert from "node:assert/strict";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { pathToFileURL } from "node:url";
import { openQueue } from "../../src/queue/open.js";
import { isDrained, type Queue } from "../../src/queue/queue.js";
import { runCli } from "../helpers/cli.js";
import { type Running, readAll, startServer, tempDir, writeSection } from "./helpers.js";

// POST /tasks runs queue messages as a worker does. Here no worker runs at all: the test leases
// each message from an fq:// queue and hands it to the server (half directly, half wrapped in a
// Pub/Sub push envelope); the server forwards the next-stage tasks it makes ready (and finally
// the publish step) back onto the queue. The result must equal a plain local ingest.

let root: string;
let srv: Running;
let queue: Queue;
const flags = ["--resolution=8,8,8", "--chunk-size=32,32,16", "--memory=1MiB"];

before(async () => {
  root = await tempDir("tasks");
  await mkdir(join(root, "s"));
  for (let z = 0; z < 16; z++) {
    await writeSection(join(root, "s", `s${String(z).padStart(3, "0")}.png`), 128, 96, z);
  }
  const q = `fq://${join(root, "queue")}`;
  const enq = await runCli([
    "ingest",
    join(root, "s"),
    pathToFileURL(join(root, "viaHttp")).href,
    ...flags,
    `--queue=${q}`,
  ]);
  assert.equal(enq.code, 0, enq.stderr);
  const local = await runCli([
    "ingest",
    join(root, "s"),
    pathToFileURL(join(root, "local")).href,
    ...flags,
  ]);
  assert.equal(local.code, 0, local.stderr);
  srv = await startServer({ allow: [`${pathToFileURL(root).href}/`], forward: q });
  queue = await openQueue(q);
});

after(async () => {
  await queue?.close();
  await srv?.close();
  await rm(root, { recursive: true, force: true });
});

test("task messages and push envelopes through /tasks build the same dataset", async () => {
  let n = 0;
  let published = false;
  const kinds: string[] = [];
  for (let round = 0; round < 100 && !published; round++) {
    const leases = await queue.lease(10, 60_000);
    if (leases.length === 0) {
      if (isDrained(await queue.stats())) break;
      continue;
    }
    for (const lease of leases) {
      const push = n++ % 2 === 1;
      const body = push
        ? {
            message: {
              data: Buffer.from(lease.body).toString("base64"),
              messageId: String(n),
              attributes: { id: lease.id },
            },
            subscription: "projects/p/subscriptions/voxport",
            deliveryAttempt: 1,
          }
        : JSON.parse(lease.body);
      const r = await srv.post("/tasks", body);
      const out = (await r.json()) as { status: string; kind: string };
      assert.equal(r.status, 200, JSON.stringify(out));
      assert.equal(out.status, "done");
      kinds.push(out.kind);
      if (out.kind === "publish") published = true;
      const c = await queue.complete(lease);
      assert.ok(c.ok);
    }
  }
  assert.ok(published, "the publish step was forwarded and run");
  assert.equal(kinds.filter((k) => k === "ingest").length, 8, "3 + 4 + 1 tasks of the plan");
  const viaHttp = await readAll(join(root, "viaHttp"));
  const local = await readAll(join(root, "local"));
  assert.deepEqual([...viaHttp.keys()], [...local.keys()]);
  for (const [k, v] of viaHttp) assert.ok(v.equals(local.get(k)!), `${k} differs`);
  assert.ok(!viaHttp.has(".voxport/job.json"), "published: job state removed");

  // Delivered again (Pub/Sub is at-least-once): acknowledged, the dataset unchanged.
  const again = await srv.post("/tasks", {
    v: 1,
    kind: "publish",
    job: pathToFileURL(join(root, "viaHttp")).href,
  });
  assert.equal(again.status, 200);
  assert.deepEqual(await readAll(join(root, "viaHttp")), viaHttp);
});

test("beyond --concurrency: 429 with Retry-After; bad messages: 400 direct, acked when pushed", async () => {
  const job = pathToFileURL(join(root, "viaHttp")).href;
  const rs = await Promise.all(
    Array.from({ length: 8 }, () => srv.post("/tasks", { v: 1, kind: "publish", job })),
  );
  const codes = rs.map((r) => r.status).sort();
  assert.ok(
    codes.every((c) => c === 200 || c === 429),
    String(codes),
  );
  const busy = rs.filter((r) => r.status === 429);
  assert.ok(busy.length >= 1, `expected some 429s, got ${codes}`);
  assert.equal(busy[0].headers.get("retry-after"), "5");
  for (const r of rs) await r.arrayBuffer();

  const bad = await srv.post("/tasks", { v: 1, kind: "ingest", job, task: { id: "x" } });
  assert.equal(bad.status, 400);
  assert.match(((await bad.json()) as { error: string }).error, /task\.stage/);
  const pushed = await srv.post("/tasks", {
    message: { data: Buffer.from('{"v":2,"kind":"ingest"}').toString("base64"), messageId: "9" },
  });
  assert.equal(pushed.status, 200);
  assert.equal(((await pushed.json()) as { status: string }).status, "rejected");
});
