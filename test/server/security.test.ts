import assert from "node:assert/strict";
import { createSign, generateKeyPairSync } from "node:crypto";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { pathToFileURL } from "node:url";
import { listFiles, type Running, startServer, TOKEN, tempDir, writeSection } from "./helpers.js";

// Auth, body limits, confinement and logging, through real HTTP on loopback.

let root: string;
let allowed: string;
let outside: string;
let srv: Running;

before(async () => {
  root = await tempDir("security");
  allowed = join(root, "data");
  outside = join(root, "outside");
  await mkdir(join(allowed, "lab", "raw"), { recursive: true });
  await mkdir(outside, { recursive: true });
  await writeSection(join(allowed, "lab", "raw", "s0.png"), 64, 64, 0);
  await writeSection(join(outside, "secret.png"), 64, 64, 1);
  srv = await startServer({
    allow: [`${pathToFileURL(allowed).href}/`],
    bucketBase: `${pathToFileURL(allowed).href}/`,
    bodyLimit: 4096,
  });
});

after(async () => {
  await srv?.close();
  await rm(root, { recursive: true, force: true });
});

const slice = (over: Record<string, unknown>) => ({
  img: "raw/s0.png",
  transform: [1, 0, 0, 1, 0, 0],
  bbox: [64, 64],
  dest: "lab",
  "dest-tmp": "lab_tmp",
  slice: 0,
  ...over,
});

test("missing or wrong token: 401 with nothing but 'unauthorized'", async () => {
  const WRONG = "wrong-token-that-must-never-be-logged-42";
  for (const headers of [
    { authorization: "" },
    { authorization: `Bearer ${WRONG}` },
    { authorization: `Basic ${Buffer.from(`u:${TOKEN}`).toString("base64")}` },
    { authorization: `Bearer ${TOKEN.slice(0, -1)}` },
  ]) {
    const r = await srv.post("/alignedslice", slice({}), headers);
    assert.equal(r.status, 401);
    assert.equal(r.headers.get("www-authenticate"), "Bearer");
    assert.deepEqual(await r.json(), { error: "unauthorized" });
  }
  assert.equal((await fetch(`${srv.url}/healthz`)).status, 200, "healthz needs no token");
  // A good token works, and neither token is in any log line.
  const ok = await srv.post("/alignedslice", slice({}));
  assert.equal(ok.status, 200, await ok.text());
  assert.ok(srv.logs.length > 5);
  for (const line of srv.logs) {
    assert.ok(!line.includes(TOKEN), `token in log: ${line}`);
    assert.ok(!line.includes(WRONG), `wrong token in log: ${line}`);
    assert.ok(!line.includes(TOKEN.slice(0, 16)), `token prefix in log: ${line}`);
  }
});

test("oversized body: 413", async () => {
  const r = await srv.post("/alignedslice", slice({ run_id: "x".repeat(10_000) }));
  assert.equal(r.status, 413);
});

test("malformed JSON and bad fields: 400 naming the field", async () => {
  const broken = await srv.post("/ngmeta", '{"dest": "lab", "minz": ');
  assert.equal(broken.status, 400);
  assert.equal(((await broken.json()) as { field: string }).field, "(body)");
  const cases: [Record<string, unknown>, string][] = [
    [{ bbox: "[64, " }, "bbox"],
    [{ bbox: [64, -1] }, "bbox.1"],
    [{ transform: "[1 0 0 0 0 0]" }, "transform"],
    [{ slice: "five" }, "slice"],
    [{ img: undefined }, "img"],
  ];
  for (const [over, field] of cases) {
    const r = await srv.post("/alignedslice", slice(over));
    assert.equal(r.status, 400, JSON.stringify(over));
    const body = (await r.json()) as { field: string; error: string };
    assert.equal(body.field, field, JSON.stringify(body));
    assert.ok(body.error.startsWith(`${field}:`), body.error);
  }
  const meta = await srv.post("/ngmeta", {
    dest: "lab_ng",
    minz: 5,
    maxz: 2,
    resolution: 8,
    bbox: [64, 64],
    writeRaw: "maybe",
  });
  assert.equal(meta.status, 400);
  assert.equal(((await meta.json()) as { field: string }).field, "writeRaw");
});

test("locations outside or escaping the allowed prefixes: 403, nothing read or written", async () => {
  const before = await listFiles(root);
  const enc = (s: string) => s.replace(/\./g, "%2e");
  const attempts: [string, Record<string, unknown>][] = [
    ["dest", slice({ dest: pathToFileURL(outside).href, img: "secret.png" })],
    ["dest", slice({ dest: outside, img: "secret.png" })],
    ["dest", slice({ dest: `${pathToFileURL(allowed).href}/../outside`, img: "secret.png" })],
    ["dest", slice({ dest: `${pathToFileURL(allowed).href}/%2e%2e/outside`, img: "secret.png" })],
    ["dest", slice({ dest: "../outside", img: "secret.png" })],
    ["dest", slice({ dest: enc(".."), img: "outside/secret.png" })],
    ["img", slice({ img: "../../outside/secret.png" })],
    ["img", slice({ img: `${enc("..")}/${enc("..")}/outside/secret.png` })],
    ["img", slice({ img: "raw/%252e%252e/x.png" })],
    ["dest-tmp", slice({ "dest-tmp": pathToFileURL(join(outside, "tmp")).href })],
    ["dest-tmp", slice({ "dest-tmp": "s3://other-bucket/x" })],
    ["dest-tmp", slice({ "dest-tmp": `${pathToFileURL(allowed).href}-evil/x` })],
  ];
  for (const [field, body] of attempts) {
    const r = await srv.post("/alignedslice", body);
    const text = await r.text();
    assert.equal(r.status, 403, `${JSON.stringify(body)} → ${text}`);
    assert.equal((JSON.parse(text) as { field: string }).field, field);
  }
  const ng = await srv.post("/ngmeta", {
    dest: pathToFileURL(outside).href,
    minz: 0,
    maxz: 0,
    resolution: 8,
    bbox: [64, 64],
  });
  assert.equal(ng.status, 403);
  const task = await srv.post("/tasks", {
    v: 1,
    kind: "publish",
    job: `${pathToFileURL(allowed).href}/../outside/em`,
  });
  assert.equal(task.status, 403);
  // A Pub/Sub delivery of the same is acknowledged (redelivery cannot fix it), not run.
  const pushed = await srv.post("/tasks", {
    message: {
      data: Buffer.from(JSON.stringify({ v: 1, kind: "publish", job: outside })).toString("base64"),
      messageId: "1",
    },
    subscription: "projects/p/subscriptions/s",
  });
  assert.equal(pushed.status, 200);
  assert.equal(((await pushed.json()) as { status: string }).status, "rejected");
  assert.deepEqual(await listFiles(root), before, "no file created or removed anywhere");
});

// ---- Google identity tokens ----------------------------------------------------------------

function b64url(x: Buffer | string): string {
  return Buffer.from(x).toString("base64url");
}

function signJwt(key: string, kid: string, claims: Record<string, unknown>): string {
  const head = b64url(JSON.stringify({ alg: "RS256", typ: "JWT", kid }));
  const body = b64url(JSON.stringify(claims));
  const sig = createSign("RSA-SHA256").update(`${head}.${body}`).sign(key);
  return `${head}.${body}.${b64url(sig)}`;
}

test("identity tokens: signature, audience, expiry and e-mail are checked", async () => {
  const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const other = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const certs = join(root, "certs.json");
  await writeFile(certs, JSON.stringify({ k1: publicKey.export({ type: "spki", format: "pem" }) }));
  const AUD = "https://voxport-abc.a.run.app";
  const id = await startServer({
    allow: [`${pathToFileURL(allowed).href}/`],
    auth: { audience: AUD, certs, emails: ["pusher@p.iam.gserviceaccount.com"] },
  });
  try {
    const now = Math.floor(Date.now() / 1000);
    const claims = {
      iss: "https://accounts.google.com",
      aud: AUD,
      sub: "1",
      email: "pusher@p.iam.gserviceaccount.com",
      email_verified: true,
      iat: now,
      exp: now + 600,
    };
    const pem = privateKey.export({ type: "pkcs8", format: "pem" }) as string;
    const call = (token: string) =>
      id.post("/ngmeta", { dest: "x" }, { authorization: `Bearer ${token}` });
    // Past auth, the (deliberately incomplete) body is what fails: 400, not 401.
    assert.equal((await call(signJwt(pem, "k1", claims))).status, 400);
    const refused = [
      signJwt(pem, "k1", { ...claims, aud: "https://someone-else.run.app" }),
      signJwt(pem, "k1", { ...claims, exp: now - 3600, iat: now - 7200 }),
      signJwt(pem, "k1", { ...claims, email: "intruder@evil.example" }),
      signJwt(pem, "k1", { ...claims, iss: "https://evil.example" }),
      signJwt(other.privateKey.export({ type: "pkcs8", format: "pem" }) as string, "k1", claims),
      TOKEN, // static tokens are not configured on this server
    ];
    for (const t of refused) {
      const r = await call(t);
      assert.equal(r.status, 401);
      assert.deepEqual(await r.json(), { error: "unauthorized" });
    }
    for (const line of id.logs) assert.ok(!line.includes(refused[0].slice(-20)), line);
  } finally {
    await id.close();
  }
});
