import assert from "node:assert/strict";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  CreateBucketCommand,
  GetBucketCorsCommand,
  GetBucketPolicyCommand,
  PutBucketCorsCommand,
  PutBucketPolicyCommand,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { isVoxportError } from "../src/errors.js";
import { GcsKvStore } from "../src/storage/drivers/gcs.js";
import { S3KvStore } from "../src/storage/drivers/s3.js";
import { SwiftKvStore } from "../src/storage/drivers/swift.js";
import type { PublicAccess } from "../src/storage/kvstore.js";
import { applyPublicAccess } from "../src/storage/public-access.js";
import { openStore } from "../src/storage/registry.js";
import { writeStack } from "./fixtures/stack.js";
import { runCli } from "./helpers/cli.js";
import { skipUnless } from "./servers/common.js";
import { createGcsBucket, type GcsServer, gcsAvailable, startGcs } from "./servers/gcs.js";
import { type MotoServer, motoAvailable, motoEnv, startMoto } from "./servers/moto.js";
import { type SwiftServer, startSwift, swiftAvailable } from "./servers/swift.js";

/**
 * `--public` / `--cors` (KvStore.setPublicAccess) against the real servers, shown the way a
 * browser would see it wherever the server can show it:
 *  - Swift enforces container ACLs and answers CORS preflights itself: anonymous reads fail
 *    before and succeed after, an allowed origin's preflight passes and another's is refused;
 *  - moto enforces bucket policies for anonymous requests (403 before, 200 after, 403 outside
 *    the prefix) and adds the bucket's CORS rule to GETs carrying an Origin. Its OPTIONS
 *    answers come from moto's own server wrapper (403, every origin echoed), not from the
 *    bucket's rules, so preflights are not tested on S3; the rules are read back instead;
 *  - the GCS emulator stores the IAM policy and bucket CORS but enforces neither and has no
 *    OPTIONS: the policy and CORS are read back through the JSON API, nothing more.
 */

const skipS3 = skipUnless(
  motoAvailable(),
  "moto (python3 -m moto.server)",
  "test/setup/provision-moto.mjs",
);
const skipGcs = skipUnless(gcsAvailable(), "the GCS emulator", "test/setup/provision-gcs.mjs");
const skipSwift = skipUnless(swiftAvailable(), "OpenStack Swift", "test/setup/provision-swift.mjs");

let tmp: string;
let stackDir: string;
let moto: MotoServer | undefined;
let gcs: GcsServer | undefined;
let swift: SwiftServer | undefined;
let s3: S3Client | undefined;
const env: Record<string, string> = {
  VOXPORT_STORAGE_RETRY_BASE_MS: "5",
  VOXPORT_STORAGE_RETRY_MAX_MS: "200",
};
const savedEnv = { ...process.env };
let seq = 0;
const unique = (tag: string) => `${tag}-${process.pid}-${++seq}`;
const NG = "https://neuroglancer-demo.appspot.com";
const PUBLIC: PublicAccess = { publicRead: true, corsOrigins: ["*"] };

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), "voxport-public-"));
  stackDir = join(tmp, "stack");
  await writeStack(stackDir, { width: 40, height: 30, depth: 6, dtype: "uint8", format: "png" });
  const starts: Promise<void>[] = [];
  if (!skipS3) {
    starts.push(
      startMoto().then(async (m) => {
        moto = m;
        Object.assign(env, motoEnv(m.endpoint));
        s3 = new S3Client({
          endpoint: m.endpoint,
          forcePathStyle: true,
          region: "us-east-1",
          credentials: { accessKeyId: "testing", secretAccessKey: "testing-secret" },
        });
      }),
    );
  }
  if (!skipGcs) {
    starts.push(
      startGcs().then((g) => {
        gcs = g;
        env.STORAGE_EMULATOR_HOST = g.host;
      }),
    );
  }
  if (!skipSwift) {
    starts.push(
      startSwift().then(async (s) => {
        swift = s;
        env.SWIFT_SETTINGS = await s.writeSettings("settings.json", 0o600);
      }),
    );
  }
  const failed = (await Promise.allSettled(starts)).find((r) => r.status === "rejected");
  if (failed) throw (failed as PromiseRejectedResult).reason;
  Object.assign(process.env, env);
});

after(async () => {
  s3?.destroy();
  await Promise.all([moto?.stop(), gcs?.stop(), swift?.stop()]);
  for (const k of Object.keys(process.env)) if (!(k in savedEnv)) delete process.env[k];
  Object.assign(process.env, savedEnv);
  await rm(tmp, { recursive: true, force: true });
});

/** A request with no credentials at all, as Neuroglancer in a browser makes it. */
async function anonymous(
  url: string,
  init: { method?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; headers: Headers; body: Uint8Array }> {
  const r = await fetch(url, {
    ...init,
    headers: { "Accept-Encoding": "identity", ...init.headers },
  });
  return { status: r.status, headers: r.headers, body: new Uint8Array(await r.arrayBuffer()) };
}

const INGEST = [
  "--resolution",
  "4,4,40",
  "--chunk-size",
  "16,16,4",
  "--sharded",
  "--workers",
  "0",
  "--compress",
  "none",
];

// ---------------------------------------------------------------------------------------------

describe("s3 (moto): bucket policy for the prefix + CORS rule", { skip: skipS3 }, () => {
  async function bucket(): Promise<string> {
    const name = unique("pub").toLowerCase();
    await s3!.send(new CreateBucketCommand({ Bucket: name }));
    return name;
  }

  test("anonymous GET: 403 before, 200 after under the prefix, still 403 outside it", async () => {
    const b = await bucket();
    const store = new S3KvStore(`s3://${b}/datasets/em`);
    await store.put("info", new TextEncoder().encode('{"x":1}'), {
      contentType: "application/json",
    });
    await s3!.send(new PutObjectCommand({ Bucket: b, Key: "private/secret", Body: "s" }));
    await s3!.send(new PutObjectCommand({ Bucket: b, Key: "datasets/emx/info", Body: "s" }));
    const url = `${moto!.endpoint}/${b}/datasets/em/info`;
    assert.equal((await anonymous(url)).status, 403, "private before");
    await store.setPublicAccess({ publicRead: true, corsOrigins: [] });
    const got = await anonymous(url);
    assert.equal(got.status, 200);
    assert.equal(new TextDecoder().decode(got.body), '{"x":1}');
    assert.equal((await anonymous(`${moto!.endpoint}/${b}/private/secret`)).status, 403);
    assert.equal((await anonymous(`${moto!.endpoint}/${b}/datasets/emx/info`)).status, 403);
  });

  test("an existing bucket policy is merged, not replaced; a rerun adds nothing", async () => {
    const b = await bucket();
    const other = {
      Sid: "SomeoneElse",
      Effect: "Allow",
      Principal: { AWS: "arn:aws:iam::123456789012:root" },
      Action: "s3:PutObject",
      Resource: `arn:aws:s3:::${b}/uploads/*`,
    };
    await s3!.send(
      new PutBucketPolicyCommand({
        Bucket: b,
        Policy: JSON.stringify({ Version: "2012-10-17", Statement: [other] }),
      }),
    );
    const a = new S3KvStore(`s3://${b}/a`);
    const c = new S3KvStore(`s3://${b}/c/d`);
    await a.setPublicAccess({ publicRead: true, corsOrigins: [] });
    await c.setPublicAccess({ publicRead: true, corsOrigins: [] });
    await a.setPublicAccess({ publicRead: true, corsOrigins: [] });
    const policy = JSON.parse(
      (await s3!.send(new GetBucketPolicyCommand({ Bucket: b }))).Policy ?? "{}",
    );
    const statements = policy.Statement as Array<Record<string, unknown>>;
    assert.equal(statements.length, 3, JSON.stringify(statements));
    assert.deepEqual(
      statements.find((s) => s.Sid === "SomeoneElse"),
      other,
    );
    const resources = statements
      .filter((s) => s.Sid === a.publicReadSid() || s.Sid === c.publicReadSid())
      .map((s) => [s.Principal, s.Action, s.Resource]);
    assert.deepEqual(resources.sort(), [
      ["*", "s3:GetObject", `arn:aws:s3:::${b}/a/*`],
      ["*", "s3:GetObject", `arn:aws:s3:::${b}/c/d/*`],
    ]);
  });

  test("CORS: our rule is added beside existing rules, origins accumulate, GETs carry it", async () => {
    const b = await bucket();
    const theirs = {
      ID: "theirs",
      AllowedOrigins: ["https://upload.example.org"],
      AllowedMethods: ["PUT"],
      AllowedHeaders: ["*"],
    };
    await s3!.send(
      new PutBucketCorsCommand({ Bucket: b, CORSConfiguration: { CORSRules: [theirs] } }),
    );
    const store = new S3KvStore(`s3://${b}/ds`);
    await store.setPublicAccess({ publicRead: true, corsOrigins: [NG] });
    await store.setPublicAccess({ publicRead: false, corsOrigins: ["http://localhost:8080"] });
    const rules = (await s3!.send(new GetBucketCorsCommand({ Bucket: b }))).CORSRules ?? [];
    assert.equal(rules.length, 2);
    assert.deepEqual(rules.find((r) => r.ID === "theirs")?.AllowedOrigins, theirs.AllowedOrigins);
    const ours = rules.find((r) => r.ID === "voxport");
    assert.deepEqual(ours?.AllowedOrigins, ["http://localhost:8080", NG]);
    assert.deepEqual(ours?.AllowedMethods, ["GET", "HEAD"]);
    assert.ok(ours?.AllowedHeaders?.includes("Range"));
    assert.ok(ours?.ExposeHeaders?.includes("Content-Range"));
    assert.equal(ours?.MaxAgeSeconds, 3600);

    await store.put("info", new TextEncoder().encode("{}"));
    const got = await anonymous(`${moto!.endpoint}/${b}/ds/info`, { headers: { Origin: NG } });
    assert.equal(got.status, 200);
    assert.equal(got.headers.get("access-control-allow-origin"), NG);
    // These come from the bucket's rule (moto's own wrapper sends none of them).
    assert.equal(got.headers.get("access-control-allow-methods"), "GET, HEAD");
    assert.equal(got.headers.get("access-control-max-age"), "3600");
    assert.match(got.headers.get("access-control-expose-headers") ?? "", /Content-Range/);

    await store.setPublicAccess({ publicRead: false, corsOrigins: ["*"] });
    const after = (await s3!.send(new GetBucketCorsCommand({ Bucket: b }))).CORSRules ?? [];
    assert.deepEqual(after.find((r) => r.ID === "voxport")?.AllowedOrigins, ["*"]);
  });

  test("a bucket that refuses the policy: ingest --public fails before any work, saying why", async () => {
    // A moto that checks credentials after the first 4 requests (the setup below): a user whose
    // IAM policy allows s3:* but denies s3:PutBucketPolicy, as Block Public Access would.
    const strict = await startMoto({ env: { INITIAL_NO_AUTH_ACTION_COUNT: "4" } });
    try {
      const scope = (service: string) =>
        `AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20240101/us-east-1/${service}/aws4_request, SignedHeaders=host, Signature=00`;
      const iam = async (params: Record<string, string>) => {
        const r = await fetch(`${strict.endpoint}/`, {
          method: "POST",
          headers: {
            Authorization: scope("iam"),
            "Content-Type": "application/x-www-form-urlencoded",
          },
          body: new URLSearchParams({ ...params, Version: "2010-05-08" }),
        });
        const text = await r.text();
        assert.equal(r.status, 200, text);
        return text;
      };
      await iam({ Action: "CreateUser", UserName: "limited" });
      const key = await iam({ Action: "CreateAccessKey", UserName: "limited" });
      const id = /<AccessKeyId>([^<]+)</.exec(key)![1];
      const secret = /<SecretAccessKey>([^<]+)</.exec(key)![1];
      await iam({
        Action: "PutUserPolicy",
        UserName: "limited",
        PolicyName: "no-public",
        PolicyDocument: JSON.stringify({
          Version: "2012-10-17",
          Statement: [
            { Effect: "Allow", Action: "s3:*", Resource: "*" },
            { Effect: "Deny", Action: "s3:PutBucketPolicy", Resource: "*" },
          ],
        }),
      });
      const made = await fetch(`${strict.endpoint}/locked`, {
        method: "PUT",
        headers: { Authorization: scope("s3") },
      });
      assert.equal(made.status, 200, await made.text());

      const limited = {
        ...env,
        AWS_ENDPOINT_URL_S3: strict.endpoint,
        AWS_ACCESS_KEY_ID: id,
        AWS_SECRET_ACCESS_KEY: secret,
      };
      const r = await runCli(["ingest", stackDir, "s3://locked/em", ...INGEST, "--public"], {
        env: limited,
      });
      assert.notEqual(r.code, 0, r.stderr);
      const errors = r.stderr.split("\n").filter((l) => l.startsWith("voxport: error"));
      assert.equal(errors.length, 1, r.stderr);
      assert.match(errors[0], /cannot make s3:\/\/locked\/em public: access denied/);
      assert.match(errors[0], /put-public-access-block --bucket locked/);
      assert.ok(!r.stderr.includes(secret), "the secret key is in no output");
      // Nothing was written: not the job file, not a chunk.
      const saved = { ...process.env };
      Object.assign(process.env, limited);
      try {
        const keys: string[] = [];
        for await (const k of new S3KvStore("s3://locked").list("")) keys.push(k);
        assert.deepEqual(keys, []);
      } finally {
        for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
        Object.assign(process.env, saved);
      }
    } finally {
      await strict.stop();
    }
  });

  test("a missing bucket is one NOT_FOUND error naming it", async () => {
    await assert.rejects(
      new S3KvStore("s3://no-such-bucket-pub/ds").setPublicAccess(PUBLIC),
      (e: unknown) => isVoxportError(e, "NOT_FOUND") && /no-such-bucket-pub/.test(e.message),
    );
  });

  test("voxport ingest --public: the dataset reads anonymously, shards ranged", async () => {
    const b = await bucket();
    const r = await runCli(["ingest", stackDir, `s3://${b}/em`, ...INGEST, "--public"], { env });
    assert.equal(r.code, 0, r.stderr);
    const info = await anonymous(`${moto!.endpoint}/${b}/em/info`, { headers: { Origin: NG } });
    assert.equal(info.status, 200);
    const scale = JSON.parse(new TextDecoder().decode(info.body)).scales[0];
    const keys: string[] = [];
    for await (const k of openStore(`s3://${b}/em`).list(`${scale.key}/`)) keys.push(k);
    const shard = await anonymous(`${moto!.endpoint}/${b}/em/${keys[0]}`, {
      headers: { Range: "bytes=0-15" },
    });
    assert.equal(shard.status, 206);
    assert.equal(shard.body.length, 16);
    // --public without --cors opens CORS to every origin.
    const rules = (await s3!.send(new GetBucketCorsCommand({ Bucket: b }))).CORSRules ?? [];
    assert.deepEqual(rules.find((x) => x.ID === "voxport")?.AllowedOrigins, ["*"]);
  });
});

// ---------------------------------------------------------------------------------------------

describe("swift: container ACL + CORS metadata, enforced by Swift", { skip: skipSwift }, () => {
  async function container(): Promise<{ store: SwiftKvStore; base: string; name: string }> {
    const name = unique("pub");
    const store = new SwiftKvStore(`swift://${name}/ds`);
    await store.createContainer();
    const { storageUrl } = await store.session();
    return { store, base: `${storageUrl}/${name}`, name };
  }

  test("anonymous GET fails before and succeeds after; existing ACL entries are kept", async () => {
    const { store, base } = await container();
    await store.put("info", new TextEncoder().encode('{"ok":true}'), {
      contentType: "application/json",
    });
    const { token, storageUrl } = await store.session();
    // Someone else's grant, which --public must not drop.
    const pre = await fetch(base, {
      method: "POST",
      headers: { "X-Auth-Token": token!, "X-Container-Read": "test2:reader" },
    });
    assert.equal(pre.status, 204);
    const before = await anonymous(`${base}/ds/info`);
    assert.ok(before.status === 401 || before.status === 403, `anonymous before: ${before.status}`);
    await store.setPublicAccess({ publicRead: true, corsOrigins: [] });
    const got = await anonymous(`${base}/ds/info`);
    assert.equal(got.status, 200);
    assert.equal(new TextDecoder().decode(got.body), '{"ok":true}');
    // .rlistings: the container lists anonymously too.
    const listing = await anonymous(`${base}?format=json`);
    assert.equal(listing.status, 200);
    const head = await fetch(base, { method: "HEAD", headers: { "X-Auth-Token": token! } });
    assert.deepEqual(head.headers.get("x-container-read")?.split(","), [
      "test2:reader",
      ".r:*",
      ".rlistings",
    ]);
    assert.ok(storageUrl.includes("AUTH_"));
  });

  test("CORS: an allowed origin's preflight passes, another origin's is refused", async () => {
    const { store, base } = await container();
    await store.put("0/0.shard", new Uint8Array(100).fill(7));
    await store.setPublicAccess({ publicRead: true, corsOrigins: [NG] });
    await store.setPublicAccess({ publicRead: true, corsOrigins: ["http://localhost:8080"] });
    const preflight = (origin: string) =>
      anonymous(`${base}/ds/0/0.shard`, {
        method: "OPTIONS",
        headers: {
          Origin: origin,
          "Access-Control-Request-Method": "GET",
          "Access-Control-Request-Headers": "range",
        },
      });
    const ok = await preflight(NG);
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get("access-control-allow-origin"), NG);
    assert.match(ok.headers.get("access-control-allow-headers") ?? "", /range/i);
    assert.equal(ok.headers.get("access-control-max-age"), "3600");
    assert.equal((await preflight("http://localhost:8080")).status, 200, "origins accumulate");
    assert.equal((await preflight("https://evil.example.com")).status, 401);
    // The real GET: ranged, with the headers a page needs exposed.
    const got = await anonymous(`${base}/ds/0/0.shard`, {
      headers: { Origin: NG, Range: "bytes=10-19" },
    });
    assert.equal(got.status, 206);
    assert.deepEqual([...got.body], new Array(10).fill(7));
    assert.equal(got.headers.get("access-control-allow-origin"), NG);
    assert.match(got.headers.get("access-control-expose-headers") ?? "", /content-range/i);
  });

  test("voxport ingest --public --cors: anonymous reads of info and shards", async () => {
    const { base, name } = await container();
    const r = await runCli(
      ["ingest", stackDir, `swift://${name}/em`, ...INGEST, "--public", "--cors", NG],
      { env },
    );
    assert.equal(r.code, 0, r.stderr);
    const info = await anonymous(`${base}/em/info`, { headers: { Origin: NG } });
    assert.equal(info.status, 200);
    assert.equal(info.headers.get("access-control-allow-origin"), NG);
    const scale = JSON.parse(new TextDecoder().decode(info.body)).scales[0];
    const listing = await anonymous(`${base}?prefix=em/${scale.key}/&format=json`);
    const first = (
      JSON.parse(new TextDecoder().decode(listing.body)) as Array<{ name: string }>
    )[0];
    const shard = await anonymous(`${base}/${first.name}`, { headers: { Range: "bytes=-16" } });
    assert.equal(shard.status, 206);
    assert.equal(shard.body.length, 16);
  });

  test("a missing container is one NOT_FOUND error, and nothing is created", async () => {
    const name = unique("absent");
    await assert.rejects(
      new SwiftKvStore(`swift://${name}/ds`).setPublicAccess(PUBLIC),
      (e: unknown) => isVoxportError(e, "NOT_FOUND") && e.message.includes(name),
    );
  });
});

// ---------------------------------------------------------------------------------------------

describe("gs (emulator): IAM binding + bucket CORS, read back", { skip: skipGcs }, () => {
  interface Binding {
    role: string;
    members: string[];
  }
  interface CorsEntry {
    origin?: string[];
    method?: string[];
    responseHeader?: string[];
    maxAgeSeconds?: number;
  }
  const api = async (path: string, init?: RequestInit) => {
    const r = await fetch(`${gcs!.host}/storage/v1${path}`, init);
    assert.ok(r.ok, `${path}: HTTP ${r.status}`);
    return (await r.json()) as { bindings: Binding[]; cors: CorsEntry[] };
  };

  test("allUsers:objectViewer is added to the policy, other bindings kept, once", async () => {
    const b = unique("pub");
    await createGcsBucket(gcs!.host, b);
    const theirs = { role: "roles/storage.admin", members: ["user:admin@example.org"] };
    await api(`/b/${b}/iam`, {
      method: "PUT",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ bindings: [theirs] }),
    });
    const store = new GcsKvStore(`gs://${b}/em`);
    await store.setPublicAccess({ publicRead: true, corsOrigins: [] });
    await store.setPublicAccess({ publicRead: true, corsOrigins: [] });
    const policy = await api(`/b/${b}/iam`);
    assert.deepEqual(
      policy.bindings.find((x) => x.role === "roles/storage.admin"),
      theirs,
    );
    const viewer = policy.bindings.filter((x) => x.role === "roles/storage.objectViewer");
    assert.equal(viewer.length, 1);
    assert.deepEqual(viewer[0].members, ["allUsers"]);
  });

  test("CORS entry added beside existing ones; origins accumulate", async () => {
    const b = unique("cors");
    await createGcsBucket(gcs!.host, b);
    const theirs = { origin: ["https://upload.example.org"], method: ["PUT"], maxAgeSeconds: 60 };
    await api(`/b/${b}`, {
      method: "PATCH",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ cors: [theirs] }),
    });
    const store = new GcsKvStore(`gs://${b}/em`);
    await store.setPublicAccess({ publicRead: false, corsOrigins: [NG] });
    await store.setPublicAccess({ publicRead: false, corsOrigins: ["http://localhost:8080"] });
    const { cors } = await api(`/b/${b}`);
    assert.equal(cors.length, 2, JSON.stringify(cors));
    assert.deepEqual(cors[0], theirs);
    assert.deepEqual(cors[1].origin, ["http://localhost:8080", NG]);
    assert.deepEqual(cors[1].method, ["GET", "HEAD"]);
    assert.ok(cors[1].responseHeader?.includes("Range"));
    assert.ok(cors[1].responseHeader?.includes("Content-Range"));
    assert.equal(cors[1].maxAgeSeconds, 3600);
    // The emulator granted nothing else: no IAM binding was asked for.
    const policy = await api(`/b/${b}/iam`);
    assert.equal(policy.bindings.length, 0);
  });

  test("voxport ingest --public through the registry (lazy store) sets both", async () => {
    const b = unique("ing");
    await createGcsBucket(gcs!.host, b);
    const r = await runCli(["ingest", stackDir, `gs://${b}/em`, ...INGEST, "--public"], { env });
    assert.equal(r.code, 0, r.stderr);
    const policy = await api(`/b/${b}/iam`);
    assert.ok(
      policy.bindings.some(
        (x) => x.role === "roles/storage.objectViewer" && x.members.includes("allUsers"),
      ),
    );
    assert.deepEqual((await api(`/b/${b}`)).cors[0].origin, ["*"]);
  });

  test("a missing bucket is one NOT_FOUND error", async () => {
    await assert.rejects(
      applyPublicAccess(openStore("gs://no-such-bucket-pub/em"), PUBLIC),
      (e: unknown) => isVoxportError(e, "NOT_FOUND") && /no-such-bucket-pub/.test(e.message),
    );
  });
});

// ---------------------------------------------------------------------------------------------

describe("--public/--cors on what has no access policy: one clear error, before any work", () => {
  for (const [what, args] of [
    ["ingest to a folder", ["ingest", "STACK", "OUT", ...INGEST, "--public"]],
    ["ingest to mem://", ["ingest", "STACK", "mem://x", ...INGEST, "--cors", NG]],
    ["convert to a folder", ["convert", "OUT", "OUT2", "--public"]],
  ] as const) {
    test(what, async () => {
      const out = join(tmp, unique("local"));
      const argv = args.map((a) =>
        a === "STACK" ? stackDir : a === "OUT" ? out : a === "OUT2" ? `${out}-2` : a,
      );
      const r = await runCli(argv, { env });
      assert.equal(r.code, 2, r.stderr);
      assert.match(
        r.stderr,
        /--public\/--cors apply to object stores \(s3:\/\/, gs:\/\/, swift:\/\/\)/,
      );
      const made = await readdir(tmp);
      assert.ok(!made.some((f) => f.startsWith(out.split("/").pop()!)), "nothing written");
    });
  }

  test("a bad origin names the flag", async () => {
    const r = await runCli(
      ["ingest", stackDir, "s3://whatever/em", ...INGEST, "--cors", "https://x.org/path"],
      { env },
    );
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--cors "https:\/\/x\.org\/path": an origin is/);
  });
});
