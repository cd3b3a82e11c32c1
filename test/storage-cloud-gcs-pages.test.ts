import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { isVoxportError } from "../src/errors.js";
import { GcsKvStore } from "../src/storage/drivers/gcs.js";

/**
 * GCS listings beyond one page. The GCS emulator the other tests use ignores maxResults and
 * pageToken (it always answers with every object in one page), so it cannot show pagination.
 * Here a small HTTP server in the test speaks the JSON API's object-list endpoint
 * (GET /storage/v1/b/BUCKET/o?prefix=&maxResults=&pageToken=) with real pages and opaque
 * tokens, and the official client, pointed at it through STORAGE_EMULATOR_HOST, walks it.
 */

const BUCKET = "paged";
const NAMES = [
  ...Array.from({ length: 23 }, (_, i) => `root/ds/k${String(i).padStart(3, "0")}`),
  "root/other/x",
  "unrelated",
].sort();

let server: Server;
let host: string;
const seen: Array<{ prefix: string | null; maxResults: string | null; pageToken: string | null }> =
  [];
const saved = process.env.STORAGE_EMULATOR_HOST;

before(async () => {
  server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    // The client puts STORAGE_EMULATOR_HOST where https://storage.googleapis.com/storage/v1 goes.
    const m = /^(?:\/storage\/v1)?\/b\/([^/]+)\/o$/.exec(url.pathname);
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { "Content-Type": "application/json" });
      res.end(JSON.stringify(body));
    };
    if (req.method !== "GET" || m === null) return send(501, { error: { code: 501 } });
    if (m[1] !== BUCKET) {
      return send(404, { error: { code: 404, message: "The specified bucket does not exist." } });
    }
    const q = url.searchParams;
    seen.push({
      prefix: q.get("prefix"),
      maxResults: q.get("maxResults"),
      pageToken: q.get("pageToken"),
    });
    const matching = NAMES.filter((n) => n.startsWith(q.get("prefix") ?? ""));
    const start = q.get("pageToken")
      ? Number(Buffer.from(q.get("pageToken")!, "base64url").toString())
      : 0;
    const size = Number(q.get("maxResults") ?? 1000);
    const page = matching.slice(start, start + size);
    const next = start + size < matching.length ? start + size : undefined;
    send(200, {
      kind: "storage#objects",
      items: page.map((name) => ({ kind: "storage#object", name, bucket: BUCKET, size: "1" })),
      ...(next === undefined
        ? {}
        : { nextPageToken: Buffer.from(String(next)).toString("base64url") }),
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  host = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  process.env.STORAGE_EMULATOR_HOST = host;
});

after(async () => {
  if (saved === undefined) delete process.env.STORAGE_EMULATOR_HOST;
  else process.env.STORAGE_EMULATOR_HOST = saved;
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

test("gs listing follows nextPageToken through every page (pages of 4)", async () => {
  seen.length = 0;
  const store = new GcsKvStore(`gs://${BUCKET}/root`, { listPageSize: 4 });
  const keys: string[] = [];
  for await (const k of store.list("ds/")) keys.push(k);
  assert.deepEqual(
    keys,
    Array.from({ length: 23 }, (_, i) => `ds/k${String(i).padStart(3, "0")}`),
  );
  assert.equal(seen.length, 6, JSON.stringify(seen));
  assert.ok(seen.every((r) => r.prefix === "root/ds/" && r.maxResults === "4"));
  assert.equal(seen[0].pageToken, null);
  assert.ok(seen.slice(1).every((r) => r.pageToken !== null));
});

test("a listing that fits one page makes one request; the whole root is listed", async () => {
  seen.length = 0;
  const store = new GcsKvStore(`gs://${BUCKET}/root`);
  const keys: string[] = [];
  for await (const k of store.list("")) keys.push(k);
  assert.equal(keys.length, 24);
  assert.ok(keys.includes("other/x") && !keys.includes("unrelated"));
  assert.equal(seen.length, 1);
  assert.equal(seen[0].maxResults, "1000");
});

test("a missing bucket is NOT_FOUND naming it", async () => {
  const store = new GcsKvStore("gs://nope/root", { listPageSize: 4 });
  await assert.rejects(
    async () => {
      for await (const _ of store.list("")) {
        // nothing
      }
    },
    (e: unknown) => isVoxportError(e, "NOT_FOUND") && /"nope"/.test(e.message),
  );
});
