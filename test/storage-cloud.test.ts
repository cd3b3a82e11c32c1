import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { gzipSync } from "node:zlib";
import { CreateBucketCommand, HeadObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { isVoxportError } from "../src/errors.js";
import { GcsKvStore } from "../src/storage/drivers/gcs.js";
import { S3KvStore } from "../src/storage/drivers/s3.js";
import { SwiftKvStore } from "../src/storage/drivers/swift.js";
import { readBytes } from "../src/storage/io.js";
import type { KvStore } from "../src/storage/kvstore.js";
import { LazyKvStore } from "../src/storage/lazy.js";
import { openStore } from "../src/storage/registry.js";
import { loadSwiftSettings } from "../src/storage/swift-auth.js";
import { collect, rejectsWith, runStorageConformance } from "./conformance/storage.js";
import { skipUnless } from "./servers/common.js";
import { type FaultProxy, startFaultProxy } from "./servers/fault-proxy.js";
import { createGcsBucket, type GcsServer, gcsAvailable, startGcs } from "./servers/gcs.js";
import { type MotoServer, motoAvailable, motoEnv, startMoto } from "./servers/moto.js";
import { type SwiftServer, startSwift, swiftAvailable } from "./servers/swift.js";

/**
 * Every cloud driver against a real protocol server started here: the shared conformance suite,
 * then what is particular to each (metadata as a browser sees it, multipart, pagination, 401
 * refresh, credentials), then failures (fault-injecting proxy, missing bucket, bad secrets).
 */

const skipS3 = skipUnless(
  motoAvailable(),
  "moto (python3 -m moto.server)",
  "test/setup/provision-moto.mjs",
);
const skipGcs = skipUnless(gcsAvailable(), "the GCS emulator", "test/setup/provision-gcs.mjs");
const skipSwift = skipUnless(swiftAvailable(), "OpenStack Swift", "test/setup/provision-swift.mjs");

let tmp: string;
let moto: MotoServer | undefined;
let gcs: GcsServer | undefined;
let swift: SwiftServer | undefined;
const savedEnv = { ...process.env };
let seq = 0;
const unique = (tag: string) => `${tag}-${process.pid}-${++seq}`;

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), "voxport-cloud-"));
  // Fast backoff: the fault tests retry a lot.
  process.env.VOXPORT_STORAGE_RETRY_BASE_MS = "5";
  process.env.VOXPORT_STORAGE_RETRY_MAX_MS = "100";
  const starts: Promise<void>[] = [];
  if (!skipS3) {
    starts.push(
      startMoto().then(async (m) => {
        moto = m;
        Object.assign(process.env, motoEnv(m.endpoint));
        const s3 = new S3Client({
          endpoint: m.endpoint,
          forcePathStyle: true,
          region: "us-east-1",
        });
        for (const b of ["conformance", "specifics", "faults"]) {
          await s3.send(new CreateBucketCommand({ Bucket: b }));
        }
        s3.destroy();
      }),
    );
  }
  if (!skipGcs) {
    starts.push(
      startGcs().then(async (g) => {
        gcs = g;
        process.env.STORAGE_EMULATOR_HOST = g.host;
        await createGcsBucket(g.host, "conformance");
        await createGcsBucket(g.host, "specifics");
      }),
    );
  }
  if (!skipSwift) {
    starts.push(
      startSwift().then(async (s) => {
        swift = s;
        process.env.SWIFT_SETTINGS = await s.writeSettings("settings.json", 0o600);
        for (const c of ["conformance", "specifics"]) {
          await new SwiftKvStore(`swift://${c}`).createContainer();
        }
      }),
    );
  }
  // allSettled: every server that did start is recorded (and stopped by after()) even when
  // another failed.
  const failed = (await Promise.allSettled(starts)).find((r) => r.status === "rejected");
  if (failed) throw (failed as PromiseRejectedResult).reason;
});

after(async () => {
  await Promise.all([moto?.stop(), gcs?.stop(), swift?.stop()]);
  for (const k of Object.keys(process.env)) if (!(k in savedEnv)) delete process.env[k];
  Object.assign(process.env, savedEnv);
  await rm(tmp, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// The shared suite, through openStore (so the registry's s3/gs/swift entries are what is tested).

function conformance(name: string, skip: string | undefined, url: () => string, manyKeys = 1100) {
  if (skip !== undefined) {
    test(`storage conformance: ${name}`, { skip }, () => {});
    return;
  }
  runStorageConformance(name, async () => openStore(url()), { keepsContentType: true, manyKeys });
}

conformance("s3 (moto)", skipS3, () => `s3://conformance/${unique("c")}`);
// The emulator neither paginates listings nor is quick to write to: fewer keys.
conformance("gs (emulator)", skipGcs, () => `gs://conformance/${unique("c")}`, 200);
conformance("swift (tempauth)", skipSwift, () => `swift://conformance/${unique("c")}`);

// ---------------------------------------------------------------------------------------------

describe("s3 specifics", { skip: skipS3 }, () => {
  test("the registry opens s3:// lazily and the SDK store behind it is an S3KvStore", async () => {
    const store = openStore("s3://specifics/lazy/");
    assert.ok(store instanceof LazyKvStore);
    assert.equal(store.url, "s3://specifics/lazy");
    assert.ok((await store.store()) instanceof S3KvStore);
  });

  test("metadata as a browser sees it: Content-Type, Content-Encoding, Cache-Control", async () => {
    const store = new S3KvStore("s3://specifics/meta");
    const gz = new Uint8Array(gzipSync(Buffer.from("x".repeat(1000))));
    await store.put("8_8_40/0-64_0-64_0-64", gz, {
      contentType: "application/octet-stream",
      contentEncoding: "gzip",
      cacheControl: "max-age=3600",
    });
    // moto refuses anonymous reads, so look with a second, independent client.
    const s3 = new S3Client({
      endpoint: moto!.endpoint,
      forcePathStyle: true,
      region: "us-east-1",
    });
    const head = await s3.send(
      new HeadObjectCommand({ Bucket: "specifics", Key: "meta/8_8_40/0-64_0-64_0-64" }),
    );
    s3.destroy();
    assert.equal(head.ContentEncoding, "gzip");
    assert.equal(head.ContentType, "application/octet-stream");
    assert.equal(head.CacheControl, "max-age=3600");
    assert.equal(head.ContentLength, gz.length);
  });

  test("?endpoint= in the URL overrides AWS_ENDPOINT_URL_S3 (path style)", async () => {
    const saved = process.env.AWS_ENDPOINT_URL_S3;
    process.env.AWS_ENDPOINT_URL_S3 = "http://127.0.0.1:1"; // nothing listens there
    try {
      const store = openStore(`s3://specifics/q?endpoint=${encodeURIComponent(moto!.endpoint)}`);
      assert.equal(store.url, "s3://specifics/q");
      await store.put("k", Uint8Array.of(7));
      assert.deepEqual((await store.get("k"))?.data, Uint8Array.of(7));
    } finally {
      process.env.AWS_ENDPOINT_URL_S3 = saved;
    }
  });

  test("large objects go up as a multipart upload and read back exactly, ranged too", async () => {
    const store = new S3KvStore("s3://specifics/multipart", {
      multipartThreshold: 6 * 1024 * 1024,
      partSize: 5 * 1024 * 1024,
    });
    const size = 13 * 1024 * 1024 + 12345;
    const data = new Uint8Array(size);
    for (let i = 0; i < size; i++) data[i] = (i * 2654435761) >>> 24;
    await store.put("shard.shard", data, { contentType: "application/octet-stream" });
    const stat = await store.stat("shard.shard");
    assert.equal(stat?.size, size);
    // A multipart ETag is "<md5 of part md5s>-<parts>".
    assert.match(stat?.etag ?? "", /-3"?$/, `etag ${stat?.etag}`);
    const back = await store.get("shard.shard");
    assert.ok(back && Buffer.compare(back.data, data) === 0, "whole object");
    const mid = await store.get("shard.shard", {
      range: { offset: 5 * 1024 * 1024 - 10, length: 20 },
    });
    assert.deepEqual(mid?.data, data.slice(5 * 1024 * 1024 - 10, 5 * 1024 * 1024 + 10));
    const tail = await store.get("shard.shard", { range: { suffixLength: 100 } });
    assert.deepEqual(tail?.data, data.slice(size - 100));
    assert.equal(tail?.totalSize, size);
  });

  test("listing pages through ListObjectsV2 continuation tokens (small pages)", async () => {
    const store = new S3KvStore("s3://specifics/pages", { listPageSize: 7 });
    const keys = Array.from({ length: 50 }, (_, i) => `d/${i}`);
    await Promise.all(keys.map((k) => store.put(k, Uint8Array.of(1))));
    assert.deepEqual(await collect(store.list("d/")), [...keys].sort());
  });

  test("a missing bucket is one NOT_FOUND error naming it", async () => {
    const store = openStore("s3://no-such-bucket-here/x");
    await rejectsWith(store.get("info"), "NOT_FOUND", "no-such-bucket-here", "does not exist");
    await rejectsWith(store.put("info", Uint8Array.of(1)), "NOT_FOUND", "no-such-bucket-here");
    await rejectsWith(collect(store.list("")), "NOT_FOUND", "no-such-bucket-here");
  });

  test("wrong credentials: one clear error, and the secret key is not in it", async () => {
    // A moto that checks signatures (every request authenticated from the first).
    const strict = await startMoto({ env: { INITIAL_NO_AUTH_ACTION_COUNT: "0" } });
    const secret = "wrongSecretKey/ABCDEFGHIJKLMNOP1234567";
    const saved = { id: process.env.AWS_ACCESS_KEY_ID, key: process.env.AWS_SECRET_ACCESS_KEY };
    process.env.AWS_ACCESS_KEY_ID = "AKIAWRONGWRONGWRONG1";
    process.env.AWS_SECRET_ACCESS_KEY = secret;
    try {
      const store = new S3KvStore(`s3://specifics/x?endpoint=${strict.endpoint}`);
      const e = await store.get("info").then(
        () => undefined,
        (err: unknown) => err,
      );
      assert.ok(isVoxportError(e, "STORAGE"), String(e));
      assert.match(e.message, /access denied/);
      assert.match(e.message, /credentials/);
      assert.ok(!e.message.includes(secret), "the secret key is not in the message");
      assert.ok(!String(e.stack).includes(secret));
    } finally {
      process.env.AWS_ACCESS_KEY_ID = saved.id;
      process.env.AWS_SECRET_ACCESS_KEY = saved.key;
      await strict.stop();
    }
  });

  test("an AWS shared credentials file readable by others is refused with the fix", async () => {
    const file = join(tmp, "aws-credentials");
    await writeFile(file, "[default]\naws_access_key_id = A\naws_secret_access_key = B\n", {
      mode: 0o644,
    });
    const saved = { ...process.env };
    delete process.env.AWS_ACCESS_KEY_ID;
    delete process.env.AWS_SECRET_ACCESS_KEY;
    process.env.AWS_SHARED_CREDENTIALS_FILE = file;
    try {
      assert.throws(
        () => new S3KvStore("s3://specifics/x"),
        (e: unknown) =>
          isVoxportError(e, "INVALID_ARGUMENT") && e.message.includes(`chmod 600 ${file}`),
      );
    } finally {
      delete process.env.AWS_SHARED_CREDENTIALS_FILE;
      Object.assign(process.env, saved);
    }
  });

  test("503s, throttling and cut connections through a proxy: every operation still succeeds", async () => {
    const proxy: FaultProxy = await startFaultProxy(moto!.endpoint, { rate: 0.3, seed: 7 });
    try {
      const store = new S3KvStore(`s3://faults/p?endpoint=${proxy.url}`);
      const keys = Array.from({ length: 60 }, (_, i) => `k/${i}`);
      await Promise.all(
        keys.map((k, i) =>
          store.put(k, new Uint8Array(4096 + i).fill(i), {
            contentEncoding: i % 2 ? "gzip" : undefined,
          }),
        ),
      );
      for (const [i, k] of keys.entries()) {
        const o = await store.get(k);
        assert.equal(o?.data.length, 4096 + i);
        assert.ok(o?.data.every((b) => b === i));
        assert.equal(o?.contentEncoding, i % 2 ? "gzip" : undefined);
      }
      assert.deepEqual(await collect(store.list("k/")), [...keys].sort());
      const faults = Object.values(proxy.stats.faults).reduce((a, b) => a + b, 0);
      assert.ok(faults > 20, `faults injected: ${JSON.stringify(proxy.stats)}`);
      for (const kind of ["503", "slowdown", "429", "reset", "cut"] as const) {
        assert.ok(proxy.stats.faults[kind] > 0, `${kind} injected`);
      }
    } finally {
      await proxy.close();
    }
  });

  test("a server that never recovers: STORAGE error after the configured attempts", async () => {
    const proxy = await startFaultProxy(moto!.endpoint, { rate: 1, kinds: ["503"] });
    try {
      const store = new S3KvStore(`s3://faults/p?endpoint=${proxy.url}`, {
        policy: { attempts: 3 },
      });
      await rejectsWith(store.get("x"), "STORAGE", "s3://faults/p/x", "3 attempts");
      assert.equal(proxy.stats.requests, 3);
    } finally {
      await proxy.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe("gs specifics", { skip: skipGcs }, () => {
  test("metadata is kept: contentEncoding, contentType, cacheControl", async () => {
    const store = new GcsKvStore("gs://specifics/meta");
    const gz = new Uint8Array(gzipSync(Buffer.from("y".repeat(500))));
    await store.put("a/b", gz, {
      contentType: "application/octet-stream",
      contentEncoding: "gzip",
      cacheControl: "no-cache",
    });
    const r = await fetch(
      `${gcs!.host}/storage/v1/b/specifics/o/${encodeURIComponent("meta/a/b")}`,
    );
    const meta = (await r.json()) as Record<string, string>;
    assert.equal(meta.contentEncoding, "gzip");
    assert.equal(meta.contentType, "application/octet-stream");
    assert.equal(meta.cacheControl, "no-cache");
    assert.deepEqual(await readBytes(store, "a/b"), new Uint8Array(Buffer.from("y".repeat(500))));
  });

  test("large objects use a resumable upload", async () => {
    const store = new GcsKvStore("gs://specifics/big", { resumableThreshold: 1024 * 1024 });
    const data = new Uint8Array(3 * 1024 * 1024 + 7).map((_, i) => i % 251);
    await store.put("shard", data);
    const back = await store.get("shard");
    assert.ok(back && Buffer.compare(back.data, data) === 0);
    assert.deepEqual(
      (await store.get("shard", { range: { suffixLength: 9 } }))?.data,
      data.slice(-9),
    );
  });

  test("a missing bucket is NOT_FOUND on write and list", async () => {
    const store = openStore("gs://no-such-bucket-here/x");
    await rejectsWith(store.put("info", Uint8Array.of(1)), "NOT_FOUND", "no-such-bucket-here");
    await rejectsWith(collect(store.list("")), "NOT_FOUND", "no-such-bucket-here");
  });

  test("a GOOGLE_APPLICATION_CREDENTIALS file readable by others is refused", async () => {
    const file = join(tmp, "gcp-key.json");
    await writeFile(file, JSON.stringify({ type: "service_account", private_key: "secret" }), {
      mode: 0o640,
    });
    const saved = process.env.STORAGE_EMULATOR_HOST;
    delete process.env.STORAGE_EMULATOR_HOST;
    process.env.GOOGLE_APPLICATION_CREDENTIALS = file;
    try {
      assert.throws(
        () => new GcsKvStore("gs://specifics/x"),
        (e: unknown) => isVoxportError(e, "INVALID_ARGUMENT") && e.message.includes("chmod 600"),
      );
    } finally {
      delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
      process.env.STORAGE_EMULATOR_HOST = saved;
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe("swift specifics", { skip: skipSwift }, () => {
  test("objects keep Content-Encoding, Content-Type and Cache-Control; makePublic sets ACL + CORS", async () => {
    const container = unique("pub");
    const store = new SwiftKvStore(`swift://${container}/ds`);
    await store.createContainer();
    const gz = new Uint8Array(gzipSync(Buffer.from("z".repeat(700))));
    await store.put("8_8_40/0-64_0-64_0-64", gz, {
      contentType: "application/octet-stream",
      contentEncoding: "gzip",
      cacheControl: "max-age=60",
    });
    await store.makePublic();
    const { storageUrl } = await store.session();
    // Anonymous, as Neuroglancer reads it.
    const r = await fetch(`${storageUrl}/${container}/ds/8_8_40/0-64_0-64_0-64`, {
      headers: { Origin: "https://neuroglancer-demo.appspot.com" },
    });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get("content-encoding"), "gzip");
    assert.equal(r.headers.get("content-type"), "application/octet-stream");
    assert.equal(r.headers.get("cache-control"), "max-age=60");
    assert.equal(r.headers.get("access-control-allow-origin"), "*");
    assert.equal(await r.text(), "z".repeat(700), "fetch inflated it, as a browser would");
  });

  test("listing pages with marker (small pages)", async () => {
    const store = new SwiftKvStore(`swift://specifics/${unique("pages")}`, { listPageSize: 9 });
    const keys = Array.from({ length: 40 }, (_, i) => `p/${i}`);
    await Promise.all(keys.map((k) => store.put(k, Uint8Array.of(1))));
    assert.deepEqual(await collect(store.list("p/")), [...keys].sort());
  });

  test("a revoked token is renewed on 401", async () => {
    const store = new SwiftKvStore(`swift://specifics/${unique("renew")}`);
    await store.put("k", Uint8Array.of(1));
    // Revoke it behind the driver's back: the cached session now holds a token Swift rejects.
    const auth = (store as unknown as { auth: { current?: { token?: string } } }).auth;
    assert.ok(auth.current);
    auth.current.token = "AUTH_tk00000000000000000000000000000000";
    assert.deepEqual((await store.get("k"))?.data, Uint8Array.of(1));
    assert.notEqual(auth.current?.token, "AUTH_tk00000000000000000000000000000000");
  });

  test("a missing container is one NOT_FOUND error naming it", async () => {
    const store = openStore("swift://no-such-container/x");
    await rejectsWith(
      store.put("info", Uint8Array.of(1)),
      "NOT_FOUND",
      '"no-such-container"',
      "does not exist",
    );
    await rejectsWith(collect(store.list("")), "NOT_FOUND", "no-such-container");
    assert.equal(await store.get("info"), undefined);
  });

  test("wrong password: one clear error without the password or any token", async () => {
    const password = "wrong-Pa55word-7731";
    const file = await swift!.writeSettings("bad.json", 0o600, { os_password: password });
    const settings = loadSwiftSettings({ SWIFT_SETTINGS: file });
    const store = new SwiftKvStore("swift://specifics/x", { settings });
    const e = await store.put("k", Uint8Array.of(1)).then(
      () => undefined,
      (err: unknown) => err,
    );
    assert.ok(isVoxportError(e, "STORAGE"), String(e));
    assert.match(e.message, /authentication failed/);
    assert.match(e.message, /test:tester/);
    assert.ok(e.message.includes(file), "names the settings file");
    assert.ok(!e.message.includes(password), "no password in the message");
    assert.ok(!String(e.stack).includes(password));
  });

  test("a settings file readable by group or others is refused with the chmod fix", async () => {
    for (const mode of [0o644, 0o640, 0o604]) {
      const file = await swift!.writeSettings(`open-${mode.toString(8)}.json`, mode);
      assert.throws(
        () => loadSwiftSettings({ SWIFT_SETTINGS: file }),
        (e: unknown) =>
          isVoxportError(e, "INVALID_ARGUMENT") &&
          e.message.includes(`chmod 600 ${file}`) &&
          !e.message.includes("testing"),
      );
    }
  });

  test("a broken settings file does not echo its content", async () => {
    const file = join(swift!.dir, "broken.json");
    await writeFile(file, '{"os_password": "hunter2-secret" "os_username": "x"}', { mode: 0o600 });
    assert.throws(
      () => loadSwiftSettings({ SWIFT_SETTINGS: file }),
      (e: unknown) =>
        isVoxportError(e, "INVALID_ARGUMENT") &&
        e.message.includes("not valid JSON") &&
        !e.message.includes("hunter2"),
    );
  });

  test("OS_* variables work as well as the settings file", async () => {
    const settings = loadSwiftSettings({
      OS_AUTH_URL: swift!.authUrl,
      OS_USERNAME: swift!.user,
      OS_PASSWORD: swift!.key,
      OS_AUTH_VERSION: "1",
    });
    const store: KvStore = new SwiftKvStore(`swift://specifics/${unique("env")}`, { settings });
    await store.put("k", Uint8Array.of(5));
    assert.deepEqual((await store.get("k"))?.data, Uint8Array.of(5));
  });
});
