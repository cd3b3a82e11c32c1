import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { gzipSync } from "node:zlib";
import { isVoxportError } from "../src/errors.js";
import { PrecomputedVolume } from "../src/precomputed/volume.js";
import { SwiftKvStore } from "../src/storage/drivers/swift.js";
import { openStore } from "../src/storage/registry.js";
import { loadSwiftSettings } from "../src/storage/swift-auth.js";
import { writeStack } from "./fixtures/stack.js";
import { runCli } from "./helpers/cli.js";
import { skipUnless } from "./servers/common.js";
import { type SwiftServer, startSwift, swiftAvailable } from "./servers/swift.js";

/**
 * Swift objects above the segment size go up as Static Large Objects (Swift refuses single
 * PUTs above max_file_size, 5 GiB by default). The real Swift here has the slo middleware; the
 * segment size is made tiny so that small objects exercise the same path. A second Swift
 * without slo shows that such a cluster refuses the upload instead of storing the manifest
 * as data. What cannot be shown here: the 5 GiB refusal itself (max_file_size is read from
 * /etc/swift/swift.conf, which a test must not change, and Node 20 buffers stop at 4 GiB).
 */

const skip = skipUnless(swiftAvailable(), "OpenStack Swift", "test/setup/provision-swift.mjs");

let tmp: string;
let swift: SwiftServer | undefined;
let plain: SwiftServer | undefined;
let plainSettings: string;
const env: Record<string, string> = {
  VOXPORT_STORAGE_RETRY_BASE_MS: "5",
  VOXPORT_STORAGE_RETRY_MAX_MS: "200",
};
const savedEnv = { ...process.env };
let seq = 0;
const unique = (tag: string) => `${tag}-${process.pid}-${++seq}`;
const SEG = 64 * 1024;

before(async () => {
  if (skip) return;
  tmp = await mkdtemp(join(tmpdir(), "voxport-slo-"));
  const started = await Promise.allSettled([startSwift(), startSwift({ slo: false })]);
  if (started[0].status === "fulfilled") swift = started[0].value;
  if (started[1].status === "fulfilled") plain = started[1].value;
  const failed = started.find((r) => r.status === "rejected");
  if (failed) throw (failed as PromiseRejectedResult).reason;
  env.SWIFT_SETTINGS = await swift!.writeSettings("settings.json", 0o600);
  plainSettings = await plain!.writeSettings("settings.json", 0o600);
  Object.assign(process.env, env);
});

after(async () => {
  await Promise.all([swift?.stop(), plain?.stop()]);
  for (const k of Object.keys(process.env)) if (!(k in savedEnv)) delete process.env[k];
  Object.assign(process.env, savedEnv);
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

function pattern(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Authenticated raw access to the container, to look behind the store. */
async function raw(store: SwiftKvStore) {
  const { storageUrl, token } = await store.session();
  const auth = { "X-Auth-Token": token! };
  return {
    storageUrl,
    async segments(): Promise<string[]> {
      const r = await fetch(`${storageUrl}/${store.segmentContainer}?format=json`, {
        headers: auth,
      });
      if (r.status === 404) return [];
      return ((await r.json()) as Array<{ name: string }>).map((e) => e.name);
    },
    async head(key: string): Promise<Headers> {
      const r = await fetch(`${storageUrl}/${store.container}/${store.root}${key}`, {
        method: "HEAD",
        headers: auth,
      });
      return r.headers;
    },
  };
}

describe("swift static large objects", { skip }, () => {
  test("segments, then a manifest: exact whole, ranged across segments, suffix, metadata", async () => {
    const container = unique("big");
    const store = new SwiftKvStore(`swift://${container}/ds`, { segmentSize: SEG });
    await store.createContainer();
    const data = new Uint8Array(gzipSync(pattern(SEG * 5 + 1234, 7), { level: 0 }));
    await store.put("0/0.shard", data, {
      contentType: "application/octet-stream",
      contentEncoding: "gzip",
      cacheControl: "max-age=30",
    });
    const look = await raw(store);
    const segments = await look.segments();
    assert.equal(segments.length, Math.ceil(data.length / SEG));
    assert.ok(
      segments.every((s) => s.startsWith("ds/0/0.shard/slo/")),
      segments.join(","),
    );
    const head = await look.head("0/0.shard");
    assert.equal(head.get("x-static-large-object"), "True");
    assert.equal(head.get("content-encoding"), "gzip");
    assert.equal(head.get("cache-control"), "max-age=30");

    const whole = await store.get("0/0.shard");
    assert.equal(whole?.contentEncoding, "gzip");
    assert.equal(whole?.contentType, "application/octet-stream");
    assert.deepEqual(whole?.data, data);
    const offset = SEG - 100;
    const ranged = await store.get("0/0.shard", { range: { offset, length: SEG + 200 } });
    assert.deepEqual(ranged?.data, data.subarray(offset, offset + SEG + 200));
    assert.equal(ranged?.totalSize, data.length);
    const suffix = await store.get("0/0.shard", { range: { suffixLength: 1500 } });
    assert.deepEqual(suffix?.data, data.subarray(data.length - 1500));
    assert.equal((await store.stat("0/0.shard"))?.size, data.length);
    // Not listed as keys of the store: the segments live in their own container.
    const keys: string[] = [];
    for await (const k of store.list("")) keys.push(k);
    assert.deepEqual(keys, ["0/0.shard"]);
  });

  test("overwrite and delete remove the segments of the object they replace", async () => {
    const container = unique("life");
    const store = new SwiftKvStore(`swift://${container}`, { segmentSize: SEG });
    await store.createContainer();
    const look = await raw(store);
    await store.put("a", pattern(SEG * 3 + 5, 1));
    const first = await look.segments();
    assert.equal(first.length, 4);
    await store.put("a", pattern(SEG * 2 + 9, 2));
    const second = await look.segments();
    assert.equal(second.length, 3);
    assert.ok(!second.some((s) => first.includes(s)), "old segments deleted");
    assert.deepEqual((await store.get("a"))?.data, pattern(SEG * 2 + 9, 2));
    // A small object over a large one: plain PUT, and the old segments go.
    await store.put("a", pattern(100, 3));
    assert.deepEqual(await look.segments(), []);
    assert.deepEqual((await store.get("a"))?.data, pattern(100, 3));
    assert.equal((await look.head("a")).get("x-static-large-object"), null);

    await store.put("b", pattern(SEG * 2 + 1, 4));
    await store.put("c", pattern(10, 5));
    assert.equal((await look.segments()).length, 3);
    await store.delete("b");
    assert.deepEqual(await look.segments(), []);
    assert.equal(await store.get("b"), undefined);
    // Plain objects and missing keys delete as before in a container with segments.
    await store.delete("c");
    await store.delete("never-there");
    assert.equal(await store.get("c"), undefined);
  });

  test("a public container's large objects read anonymously (segments get the ACL)", async () => {
    // Public first, segments container made later (it copies the ACL) …
    const one = new SwiftKvStore(`swift://${unique("pubbig")}`, { segmentSize: SEG });
    await one.createContainer();
    await one.makePublic();
    await one.put("x", pattern(SEG * 2 + 3, 9));
    // … and segments first, public later (setPublicAccess reaches the segments container).
    const two = new SwiftKvStore(`swift://${unique("pubbig")}`, { segmentSize: SEG });
    await two.createContainer();
    await two.put("x", pattern(SEG * 2 + 3, 9));
    const { storageUrl } = await two.session();
    const before = await fetch(`${storageUrl}/${two.container}/x`);
    await before.body?.cancel();
    assert.ok(before.status === 401 || before.status === 403, `before: ${before.status}`);
    await two.setPublicAccess({ publicRead: true, corsOrigins: [] });
    for (const store of [one, two]) {
      const r = await fetch(`${storageUrl}/${store.container}/x`, {
        headers: { Range: `bytes=${SEG - 10}-${SEG + 9}` },
      });
      assert.equal(r.status, 206, store.container);
      assert.deepEqual(
        new Uint8Array(await r.arrayBuffer()),
        pattern(SEG * 2 + 3, 9).subarray(SEG - 10, SEG + 10),
      );
    }
  });

  test("a cluster without the slo middleware refuses the manifest; no segments are left", async () => {
    const settings = loadSwiftSettings({ SWIFT_SETTINGS: plainSettings });
    const container = unique("noslo");
    const store = new SwiftKvStore(`swift://${container}`, { segmentSize: SEG, settings });
    await store.createContainer();
    await assert.rejects(
      store.put("big", pattern(SEG * 2 + 1, 3)),
      (e: unknown) =>
        isVoxportError(e, "STORAGE") &&
        /refused the static large object manifest \(HTTP 422/.test(e.message) &&
        /slo middleware/.test(e.message),
    );
    assert.equal(await store.get("big"), undefined, "no manifest stored as data");
    assert.deepEqual(await (await raw(store)).segments(), []);
  });

  test("voxport ingest with tiny segments: shards are SLOs and the dataset equals a local ingest", async () => {
    const stack = join(tmp, "stack");
    await writeStack(stack, { width: 70, height: 50, depth: 12, dtype: "uint8", format: "png" });
    const container = unique("ing");
    await new SwiftKvStore(`swift://${container}`).createContainer();
    const flags = [
      "--resolution",
      "4,4,40",
      "--chunk-size",
      "16,16,4",
      "--sharded",
      "--workers",
      "2",
      "--compress",
      "none",
    ];
    const local = join(tmp, "local");
    const a = await runCli(["ingest", stack, local, ...flags], { env });
    assert.equal(a.code, 0, a.stderr);
    const b = await runCli(["ingest", stack, `swift://${container}/em`, ...flags], {
      env: { ...env, VOXPORT_SWIFT_SEGMENT_SIZE: "2048" },
    });
    assert.equal(b.code, 0, b.stderr);

    const remote = new SwiftKvStore(`swift://${container}/em`);
    const look = await raw(remote);
    const keys: string[] = [];
    for await (const k of remote.list("")) keys.push(k);
    const shards = keys.filter((k) => k.endsWith(".shard"));
    const large: string[] = [];
    for (const k of shards) {
      if ((await look.head(k)).get("x-static-large-object") === "True") large.push(k);
    }
    assert.ok(large.length > 0, `some shards exceed 2048 bytes: ${shards.join(",")}`);
    const localStore = openStore(local);
    for (const k of keys) {
      assert.deepEqual((await remote.get(k))?.data, (await localStore.get(k))?.data, k);
    }
    // Read through the sharded reader (ranged reads on the SLOs), every scale, voxel-exact.
    const vr = await PrecomputedVolume.open(remote);
    const vl = await PrecomputedVolume.open(localStore);
    for (let j = 0; j < vl.info.scales.length; j++) {
      const s = vl.info.scales[j];
      const min = s.voxel_offset ?? [0, 0, 0];
      const box = { min, max: min.map((o, d) => o + s.size[d]) as [number, number, number] };
      const [x, y] = await Promise.all([vr.read(j, box), vl.read(j, box)]);
      assert.deepEqual(x.data, y.data, `scale ${j}`);
    }
  });
});
