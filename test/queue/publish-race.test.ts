import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { KvStore } from "../../src/storage/kvstore.js";
import { openStore } from "../../src/storage/registry.js";
import { prepareIngest } from "../../src/tasks/ingest.js";
import { dropStaleMarker } from "../../src/tasks/ingest-task.js";
import { DONE_PREFIX, type IngestJob, JOB_KEY } from "../../src/tasks/job.js";
import { publishDataset } from "../../src/tasks/run.js";
import { writeStack } from "../fixtures/stack.js";

/**
 * A queue may run a task twice (a lease expired while it ran; SQS even accepts the stale
 * receipt handle). A late duplicate writes its done marker at any moment, also while the
 * publish step is removing the job state. Whatever the interleaving, the published dataset
 * must have no `.voxport/` left (the fault test compares it byte for byte with a local run).
 */

let tmp: string;
let job: IngestJob;

async function voxportKeys(store: KvStore): Promise<string[]> {
  const out: string[] = [];
  for await (const k of store.list(".voxport/")) out.push(k);
  return out;
}

async function unpublished(name: string, markers: string[]): Promise<KvStore> {
  const store = openStore(join(tmp, name));
  await store.put(JOB_KEY, new TextEncoder().encode(JSON.stringify(job)));
  for (const m of markers) await store.put(`${DONE_PREFIX}${m}`, new Uint8Array(0));
  return store;
}

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), "voxport-publish-race-"));
  const src = join(tmp, "src");
  await writeStack(src, { width: 32, height: 32, depth: 8, dtype: "uint8", format: "png" });
  job = (
    await prepareIngest({
      source: src,
      destination: join(tmp, "unused"),
      resolution: [8, 8, 8],
      chunkSize: [16, 16, 8],
      workers: 0,
    })
  ).job;
});

after(() => rm(tmp, { recursive: true, force: true }));

describe("publish vs. a late duplicate task", () => {
  test("a marker written after publish is removed by the task's own check", async () => {
    const store = await unpublished("after", ["s0_a", "s0_b"]);
    await publishDataset(job, store);
    const late = `${DONE_PREFIX}s0_a`;
    await store.put(late, new Uint8Array(0));
    assert.equal(await dropStaleMarker(store, late), true);
    assert.deepEqual(await voxportKeys(store), []);
  });

  test("a marker written while publish lists (job.json still there) is removed by publish", async () => {
    const inner = await unpublished("during", ["s0_a", "s0_b", "s0_c"]);
    let raced: boolean | undefined;
    // The duplicate writes its marker and checks while publish is half-way through its listing:
    // job.json is still there, so the duplicate keeps its marker and publish must catch it.
    const store: KvStore = Object.create(inner, {
      list: {
        value: async function* (prefix: string) {
          for await (const k of inner.list(prefix)) {
            yield k;
            if (raced === undefined) {
              const late = `${DONE_PREFIX}s0_late`;
              await inner.put(late, new Uint8Array(0));
              raced = await dropStaleMarker(inner, late);
            }
          }
        },
      },
    });
    await publishDataset(job, store);
    assert.equal(raced, false, "the duplicate saw job.json and kept its marker");
    assert.deepEqual(await voxportKeys(inner), [], "publish removed it anyway");
    assert.notEqual(await inner.stat("info"), undefined);
  });

  test("an unpublished job keeps its markers", async () => {
    const store = await unpublished("open", ["s0_a"]);
    assert.equal(await dropStaleMarker(store, `${DONE_PREFIX}s0_a`), false);
    assert.deepEqual(await voxportKeys(store), [`${DONE_PREFIX}s0_a`, JOB_KEY]);
  });
});
