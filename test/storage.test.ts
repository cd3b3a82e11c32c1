import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { pathToFileURL } from "node:url";
import { gzipSync } from "node:zlib";
import { FileKvStore } from "../src/storage/drivers/file.js";
import { HttpKvStore } from "../src/storage/drivers/http.js";
import { clearMemoryStore, MemoryKvStore } from "../src/storage/drivers/memory.js";
import {
  joinKey,
  readBytes,
  readJson,
  registerScheme,
  requireBytes,
  writeJson,
} from "../src/storage/index.js";
import type { KvStore } from "../src/storage/kvstore.js";
import { knownSchemes, openStore } from "../src/storage/registry.js";
import { bytes, collect, rejectsWith, runStorageConformance, text } from "./conformance/storage.js";
import { startTestHttpServer, type TestHttpServer } from "./conformance/storage-http-server.js";

let scratch: string;
let counter = 0;
before(async () => {
  scratch = await fs.mkdtemp(path.join(tmpdir(), "voxport-storage-"));
});
after(async () => {
  await fs.rm(scratch, { recursive: true, force: true });
});

/** A fresh directory under the test's scratch folder. */
async function freshDir(): Promise<string> {
  const dir = path.join(scratch, `d${++counter}`);
  await fs.mkdir(dir, { recursive: true });
  return dir;
}

/** All file names under `dir`, recursively, relative to it. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await fs.readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}

// ---------------------------------------------------------------------------------------------
// Conformance: mem, file, http

runStorageConformance("mem", async () => new MemoryKvStore(`mem://conformance-${++counter}`), {
  keepsContentType: true,
});

runStorageConformance("file", async () => new FileKvStore(await freshDir()));

let server: TestHttpServer | undefined;
const backing = new Map<KvStore, KvStore>();
async function httpServer(): Promise<TestHttpServer> {
  server ??= await startTestHttpServer(await fs.realpath(scratch));
  return server;
}
after(async () => {
  await server?.close();
});

runStorageConformance(
  "http",
  async () => {
    const srv = await httpServer();
    const dir = await freshDir();
    const store = new HttpKvStore(`${srv.url}/${path.basename(dir)}`, { baseDelayMs: 1 });
    backing.set(store, new FileKvStore(dir));
    return store;
  },
  { writerFor: (store) => backing.get(store)!, keepsContentType: false, decodesGzip: true },
);

// ---------------------------------------------------------------------------------------------
// Memory driver

describe("mem driver", () => {
  test("stores opened with the same URL share contents", async () => {
    const a = new MemoryKvStore("mem://shared-test");
    const b = new MemoryKvStore("mem://shared-test/");
    await a.put("k", bytes(7));
    assert.equal(b.url, "mem://shared-test");
    assert.deepEqual((await b.get("k"))?.data, bytes(7));
    assert.equal(await new MemoryKvStore("mem://other-test").get("k"), undefined);
    clearMemoryStore("mem://shared-test");
    assert.equal(await new MemoryKvStore("mem://shared-test").get("k"), undefined);
  });

  test("keeps a copy: changing the caller's buffer does not change the object", async () => {
    const store = new MemoryKvStore("mem://copy-test");
    const data = bytes(1, 2, 3);
    await store.put("k", data);
    data[0] = 99;
    const read = await store.get("k");
    read!.data[1] = 99;
    assert.deepEqual((await store.get("k"))?.data, bytes(1, 2, 3));
  });

  test("rejects a URL without a name", () => {
    assert.throws(() => new MemoryKvStore("mem://"), /expected mem:\/\/<name>/);
  });
});

// ---------------------------------------------------------------------------------------------
// File driver

describe("file driver", () => {
  test("accepts plain paths, file:///abs and file://./relative", async () => {
    const dir = await freshDir();
    const abs = new FileKvStore(pathToFileURL(dir).href);
    assert.equal(abs.root, dir);
    assert.equal(abs.url, pathToFileURL(dir).href);
    assert.equal(new FileKvStore(`${dir}/`).url, abs.url);
    const rel = path.relative(process.cwd(), dir);
    assert.equal(new FileKvStore(rel).root, dir);
    assert.equal(new FileKvStore(`file://./${rel}`).root, dir);
    assert.equal(new FileKvStore(`file://${rel}`).root, dir);
    const spaced = new FileKvStore(path.join(dir, "with space"));
    assert.ok(spaced.url.endsWith("/with%20space"), spaced.url);
    assert.equal(new FileKvStore(spaced.url).root, path.join(dir, "with space"));
  });

  test("puts are atomic renames and leave no temp files", async () => {
    const dir = await freshDir();
    const store = new FileKvStore(dir, { fsync: true });
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        store.put(`a/b/k${i % 4}`, new Uint8Array(4096).fill(i)),
      ),
    );
    await store.put("info", text("{}"));
    assert.deepEqual(await filesUnder(dir), ["a/b/k0", "a/b/k1", "a/b/k2", "a/b/k3", "info"]);
  });

  test("a temp file left by a crashed writer is not listed and not read", async () => {
    const dir = await freshDir();
    const store = new FileKvStore(dir);
    await store.put("x/chunk", bytes(1));
    await fs.writeFile(path.join(dir, "x", ".chunk.tmp-1234-abcdef012345"), "partial");
    assert.deepEqual(await collect(store.list("")), ["x/chunk"]);
    assert.deepEqual(await collect(store.list("x/")), ["x/chunk"]);
  });

  test("gzip objects are stored as <key>.gz (CloudVolume convention)", async () => {
    const dir = await freshDir();
    const store = new FileKvStore(dir);
    const plain = text("voxels ".repeat(100));
    const gz = new Uint8Array(gzipSync(plain));
    await store.put("8_8_40/0-64_0-64_0-64", gz, { contentEncoding: "gzip" });
    assert.deepEqual(await filesUnder(dir), ["8_8_40/0-64_0-64_0-64.gz"]);
    assert.deepEqual(await collect(store.list("8_8_40/")), ["8_8_40/0-64_0-64_0-64"]);
    const stat = await store.stat("8_8_40/0-64_0-64_0-64");
    assert.equal(stat?.contentEncoding, "gzip");
    assert.equal(stat?.size, gz.length);

    await store.put("8_8_40/0-64_0-64_0-64", plain);
    assert.deepEqual(await filesUnder(dir), ["8_8_40/0-64_0-64_0-64"], "stale .gz removed");
    await store.put("8_8_40/0-64_0-64_0-64", gz, { contentEncoding: "gzip" });
    assert.deepEqual(await filesUnder(dir), ["8_8_40/0-64_0-64_0-64.gz"], "stale plain removed");
  });

  test("a .gz written by another tool is found; a plain file next to it wins", async () => {
    const dir = await freshDir();
    const store = new FileKvStore(dir);
    const gz = gzipSync(text("from cloudvolume"));
    await fs.writeFile(path.join(dir, "chunk.gz"), gz);
    assert.equal((await store.get("chunk"))?.contentEncoding, "gzip");
    assert.deepEqual(await readBytes(store, "chunk"), text("from cloudvolume"));
    await fs.writeFile(path.join(dir, "chunk"), "plain");
    assert.deepEqual(await store.get("chunk"), {
      data: text("plain"),
      totalSize: 5,
      contentEncoding: undefined,
    });
    assert.deepEqual(await collect(store.list("")), ["chunk"], "listed once");
    await store.delete("chunk");
    assert.deepEqual(await filesUnder(dir), [], "delete removes both");
  });

  test("a byte range of a gzip object is UNSUPPORTED and names the key", async () => {
    const store = new FileKvStore(await freshDir());
    await store.put("shard/0.shard", new Uint8Array(gzipSync(bytes(1, 2, 3))), {
      contentEncoding: "gzip",
    });
    await rejectsWith(
      store.get("shard/0.shard", { range: { offset: 0, length: 2 } }),
      "UNSUPPORTED",
      `${store.url}/shard/0.shard`,
    );
    await rejectsWith(
      store.get("shard/0.shard", { range: { suffixLength: 2 } }),
      "UNSUPPORTED",
      "shard/0.shard",
    );
  });

  test("an unwritable location is a STORAGE error naming the path and operation", async () => {
    // Tests run as root, where chmod does not stop writes; a regular file used as a directory
    // (ENOTDIR) fails for root too.
    const dir = await freshDir();
    const blocker = path.join(dir, "a-file");
    await fs.writeFile(blocker, "x");
    const store = new FileKvStore(path.join(blocker, "sub"));
    await rejectsWith(
      store.put("8_8_40/info", text("{}")),
      "STORAGE",
      `cannot write ${path.join(blocker, "sub", "8_8_40", "info")}: not a directory`,
    );
    assert.equal(await store.get("8_8_40/info"), undefined, "reads under a file are just missing");
    assert.deepEqual(await collect(store.list("")), []);
  });

  test("a key that names a directory is missing, and writing it fails clearly", async () => {
    const dir = await freshDir();
    const store = new FileKvStore(dir);
    await store.put("a/b", bytes(1));
    assert.equal(await store.get("a"), undefined);
    assert.equal(await store.stat("a"), undefined);
    await rejectsWith(store.put("a", bytes(2)), "STORAGE", path.join(dir, "a"));
    assert.deepEqual(await filesUnder(dir), ["a/b"], "failed put leaves no temp file");
  });
});

// ---------------------------------------------------------------------------------------------
// HTTP driver against a real local server

describe("file driver sweep", () => {
  test("removes temp files of dead writers, keeps live ones and real objects", async () => {
    const root = await fs.mkdtemp(path.join(tmpdir(), "voxport-sweep-"));
    try {
      const store = new FileKvStore(root);
      await store.put("a/b/chunk", text("data"));
      const dir = path.join(root, "a", "b");
      // pid 2^22 + 1 is above Linux's pid_max default, so no process has it.
      const dead = path.join(dir, `.chunk.tmp-${2 ** 22 + 1}-abcdef`);
      const live = path.join(dir, `.chunk.tmp-${process.pid}-012345`);
      await fs.writeFile(dead, "partial");
      await fs.writeFile(live, "in progress");
      assert.equal(await store.sweep(""), 1);
      const left = (await fs.readdir(dir)).sort();
      assert.deepEqual(left, [path.basename(live), "chunk"].sort());
      assert.equal(Buffer.from((await store.get("a/b/chunk"))!.data).toString(), "data");
    } finally {
      await fs.rm(root, { recursive: true, force: true });
    }
  });
});

describe("http driver", () => {
  let srv: TestHttpServer;
  let dir: string;
  let files: FileKvStore;
  let store: HttpKvStore;
  before(async () => {
    srv = await httpServer();
    dir = await freshDir();
    files = new FileKvStore(dir);
    store = new HttpKvStore(`${srv.url}/${path.basename(dir)}/`, { baseDelayMs: 1 });
    await files.put("info", text('{"type":"image"}'));
    await files.put("gz/chunk", new Uint8Array(gzipSync(text("zipped ".repeat(50)))), {
      contentEncoding: "gzip",
    });
  });
  const reset = () => {
    srv.behaviour.failNext = 0;
    srv.behaviour.retryAfter = undefined;
    srv.behaviour.headNotAllowed = false;
    srv.behaviour.ignoreRange = false;
    srv.behaviour.statusFor.clear();
    srv.requests.length = 0;
  };

  test("retries 503s with backoff and then succeeds", async () => {
    reset();
    srv.behaviour.failNext = 3;
    assert.deepEqual(await readJson(store, "info"), { type: "image" });
    assert.equal(srv.requests.length, 4);
  });

  test("gives up after the configured attempts with a STORAGE error naming the URL", async () => {
    reset();
    srv.behaviour.failNext = 100;
    const few = new HttpKvStore(store.url, { attempts: 3, baseDelayMs: 1 });
    await rejectsWith(few.get("info"), "STORAGE", `${store.url}/info`, "HTTP 503", "3 attempts");
    assert.equal(srv.requests.length, 3);
  });

  test("honours Retry-After, capped by maxDelayMs", async () => {
    reset();
    srv.behaviour.failNext = 1;
    srv.behaviour.retryAfter = "120";
    const capped = new HttpKvStore(store.url, { baseDelayMs: 1, maxDelayMs: 50 });
    const started = Date.now();
    assert.ok(await capped.get("info"));
    const waited = Date.now() - started;
    assert.ok(waited >= 40 && waited < 5000, `waited ${waited} ms`);
  });

  test("network errors are retried, then reported", async () => {
    // A port that was just free: connections are refused.
    const probe = await startTestHttpServer(dir);
    const deadUrl = probe.url;
    await probe.close();
    const dead = new HttpKvStore(deadUrl, { attempts: 2, baseDelayMs: 1 });
    await rejectsWith(dead.get("info"), "STORAGE", deadUrl, "network error", "2 attempts");
  });

  test("404 and 403 read as missing; other 4xx are STORAGE errors", async () => {
    reset();
    const prefix = new URL(store.url).pathname;
    srv.behaviour.statusFor.set(`${prefix}/forbidden`, 403);
    srv.behaviour.statusFor.set(`${prefix}/bad`, 400);
    assert.equal(await store.get("forbidden"), undefined);
    assert.equal(await store.stat("forbidden"), undefined);
    await rejectsWith(store.get("bad"), "STORAGE", `${store.url}/bad`, "HTTP 400");
  });

  test("sends Range headers and reads 206 responses", async () => {
    reset();
    await files.put(
      "shard",
      Uint8Array.from({ length: 64 }, (_, i) => i),
    );
    const part = await store.get("shard", { range: { offset: 8, length: 4 } });
    assert.deepEqual(part, {
      data: bytes(8, 9, 10, 11),
      contentType: "application/octet-stream",
      totalSize: 64,
    });
    const tail = await store.get("shard", { range: { suffixLength: 2 } });
    assert.deepEqual(tail?.data, bytes(62, 63));
    assert.deepEqual(
      srv.requests.map((r) => r.range),
      ["bytes=8-11", "bytes=-2"],
    );
  });

  test("slices the body itself when a server ignores Range", async () => {
    reset();
    srv.behaviour.ignoreRange = true;
    await files.put(
      "shard2",
      Uint8Array.from({ length: 64 }, (_, i) => i),
    );
    assert.deepEqual(
      (await store.get("shard2", { range: { offset: 60, length: 10 } }))?.data,
      bytes(60, 61, 62, 63),
    );
    const tail = await store.get("shard2", { range: { suffixLength: 3 } });
    assert.deepEqual(tail, {
      data: bytes(61, 62, 63),
      contentType: "application/octet-stream",
      totalSize: 64,
    });
  });

  test("stat uses HEAD, and falls back to a one-byte GET on 405", async () => {
    reset();
    assert.equal((await store.stat("info"))?.size, 16);
    assert.deepEqual(
      srv.requests.map((r) => r.method),
      ["HEAD"],
    );
    reset();
    srv.behaviour.headNotAllowed = true;
    assert.equal((await store.stat("info"))?.size, 16);
    assert.equal(await store.stat("missing"), undefined);
    assert.deepEqual(
      srv.requests.map((r) => `${r.method} ${r.range ?? ""}`),
      ["HEAD ", "GET bytes=0-0", "HEAD ", "GET bytes=0-0"],
    );
  });

  test("Content-Encoding: gzip is decoded by fetch; ranges of such objects are UNSUPPORTED", async () => {
    reset();
    const object = await store.get("gz/chunk");
    assert.equal(object?.contentEncoding, undefined);
    assert.deepEqual(object?.data, text("zipped ".repeat(50)));
    assert.equal((await store.stat("gz/chunk"))?.contentEncoding, "gzip");
    await rejectsWith(
      store.get("gz/chunk", { range: { offset: 0, length: 4 } }),
      "UNSUPPORTED",
      `${store.url}/gz/chunk`,
    );
  });

  test("keys are percent-encoded per segment; a base query string is kept", async () => {
    reset();
    await files.put("odd/a b#c?d", bytes(5));
    const withQuery = new HttpKvStore(`${store.url}?token=abc`, { baseDelayMs: 1 });
    assert.deepEqual((await withQuery.get("odd/a b#c?d"))?.data, bytes(5));
    assert.match(srv.requests[0].path, /\/odd\/a%20b%23c%3Fd$/);
  });

  test("aborting during a backoff wait rejects with ABORTED", async () => {
    reset();
    srv.behaviour.failNext = 100;
    const slow = new HttpKvStore(store.url, { baseDelayMs: 10_000 });
    const controller = new AbortController();
    const pending = slow.get("info", { signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    await rejectsWith(pending, "ABORTED", `${store.url}/info`);
    reset();
  });
});

// ---------------------------------------------------------------------------------------------
// Registry

describe("registry", () => {
  test("openStore picks the driver by scheme; a bare path is a local directory", async () => {
    const dir = await freshDir();
    assert.ok(openStore(dir) instanceof FileKvStore);
    assert.ok(openStore(pathToFileURL(dir).href) instanceof FileKvStore);
    assert.ok(openStore("mem://registry-test") instanceof MemoryKvStore);
    assert.ok(openStore("http://127.0.0.1:1/x") instanceof HttpKvStore);
    assert.ok(openStore("HTTPS://example.org/data") instanceof HttpKvStore);
    assert.equal(openStore(dir).url, pathToFileURL(dir).href);
  });

  test("an unknown scheme is UNSUPPORTED and lists the known ones", () => {
    assert.throws(
      () => openStore("az://bucket/em"),
      (e: Error & { code?: string }) =>
        e.code === "UNSUPPORTED" &&
        e.message.includes('"az"') &&
        e.message.includes("file://, gs://, http://, https://, mem://, s3://, swift://"),
    );
  });

  test("registerScheme adds a scheme once; twice throws", () => {
    const scheme = `test${++counter}`;
    registerScheme(scheme, (url) => new MemoryKvStore(url.replace(`${scheme}://`, "mem://")));
    assert.ok(knownSchemes().includes(scheme));
    assert.equal(openStore(`${scheme}://abc`).url, "mem://abc");
    assert.throws(
      () => registerScheme(scheme, () => new MemoryKvStore("mem://x")),
      /already registered/,
    );
    assert.throws(
      () => registerScheme("file", () => new MemoryKvStore("mem://x")),
      /already registered/,
    );
    assert.throws(
      () => registerScheme("Bad Scheme", () => new MemoryKvStore("mem://x")),
      /invalid/,
    );
  });
});

// ---------------------------------------------------------------------------------------------
// io helpers

describe("io helpers", () => {
  test("readBytes gunzips; requireBytes names the missing URL", async () => {
    const store = new MemoryKvStore(`mem://io-${++counter}`);
    await store.put("z", new Uint8Array(gzipSync(text("hello"))), { contentEncoding: "gzip" });
    assert.deepEqual(await readBytes(store, "z"), text("hello"));
    assert.deepEqual(await requireBytes(store, "z"), text("hello"));
    await rejectsWith(requireBytes(store, "absent"), "NOT_FOUND", `${store.url}/absent`);
    await store.put("corrupt", bytes(1, 2, 3), { contentEncoding: "gzip" });
    await rejectsWith(readBytes(store, "corrupt"), "CODEC", `${store.url}/corrupt`);
  });

  test("writeJson writes pretty JSON with a newline, no-cache and a JSON content type", async () => {
    const store = new MemoryKvStore(`mem://io-${++counter}`);
    await writeJson(store, "info", { type: "image", scales: [] });
    const object = await store.get("info");
    assert.equal(object?.contentType, "application/json");
    assert.equal(
      new TextDecoder().decode(object?.data),
      '{\n  "type": "image",\n  "scales": []\n}\n',
    );
    assert.deepEqual(await readJson(store, "info"), { type: "image", scales: [] });
  });

  test("readJson: NOT_FOUND and INVALID_INFO name the URL", async () => {
    const store = new MemoryKvStore(`mem://io-${++counter}`);
    await rejectsWith(readJson(store, "info"), "NOT_FOUND", `${store.url}/info`);
    await store.put("info", text("{not json"));
    await rejectsWith(readJson(store, "info"), "INVALID_INFO", `${store.url}/info`);
    await store.put("info", bytes(0xff, 0xfe));
    await rejectsWith(readJson(store, "info"), "INVALID_INFO", `${store.url}/info`);
  });

  test("joinKey", () => {
    assert.equal(joinKey("8_8_40", "0-64_0-64_0-64"), "8_8_40/0-64_0-64_0-64");
    assert.equal(joinKey("a/", "/b/", "", "c"), "a/b/c");
    assert.equal(joinKey("", "info"), "info");
    assert.equal(joinKey(), "");
  });
});
