import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { Command } from "commander";
import { registerFetch } from "../src/cli/fetch.js";
import { isVoxportError } from "../src/errors.js";
import type { Vec3 } from "../src/ops/array.js";
import { PrecomputedVolume } from "../src/precomputed/volume.js";
import { openImageStack } from "../src/sources/image-stack.js";
import { SwiftKvStore } from "../src/storage/drivers/swift.js";
import type { KvStore } from "../src/storage/kvstore.js";
import { openStore } from "../src/storage/registry.js";
import { writeStack } from "./fixtures/stack.js";
import { runCli } from "./helpers/cli.js";
import { type RefVolume, refDownsample, refFromFunction } from "./helpers/reference.js";
import { skipUnless } from "./servers/common.js";
import { startFaultProxy } from "./servers/fault-proxy.js";
import { createGcsBucket, type GcsServer, gcsAvailable, startGcs } from "./servers/gcs.js";
import { type MotoServer, motoAvailable, motoEnv, startMoto } from "./servers/moto.js";
import { type SwiftServer, startSwift, swiftAvailable } from "./servers/swift.js";

/**
 * Whole pipelines against the real servers: `voxport ingest --sharded` into each object store
 * and back voxel-exact; slices read straight from object stores (no staging); `voxport fetch`;
 * an ingest through a proxy that injects 503s, throttling and cut connections; and bad input
 * that must fail with one clear error before any work.
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
const env: Record<string, string> = {
  VOXPORT_STORAGE_RETRY_BASE_MS: "5",
  VOXPORT_STORAGE_RETRY_MAX_MS: "200",
};
const savedEnv = { ...process.env };

// One small stack shared by every case: 150×97×23 uint8 PNG, offset, several shards and tasks.
const SIZE: Vec3 = [150, 97, 23];
const OFFSET: Vec3 = [10, -20, 3];
let stackDir: string;
let ref0: RefVolume;

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), "voxport-cloud-ingest-"));
  stackDir = join(tmp, "stack");
  const stack = await writeStack(stackDir, {
    width: SIZE[0],
    height: SIZE[1],
    depth: SIZE[2],
    dtype: "uint8",
    format: "png",
  });
  ref0 = refFromFunction(OFFSET, SIZE, 1, stack.expected);
  const starts: Promise<void>[] = [];
  if (!skipS3) {
    starts.push(
      startMoto().then(async (m) => {
        moto = m;
        Object.assign(env, motoEnv(m.endpoint));
        const s3 = new S3Client({
          endpoint: m.endpoint,
          forcePathStyle: true,
          region: "us-east-1",
          credentials: { accessKeyId: "testing", secretAccessKey: "testing-secret" },
        });
        for (const b of ["out", "inp", "faults"])
          await s3.send(new CreateBucketCommand({ Bucket: b }));
        s3.destroy();
      }),
    );
  }
  if (!skipGcs) {
    starts.push(
      startGcs().then(async (g) => {
        gcs = g;
        env.STORAGE_EMULATOR_HOST = g.host;
        await createGcsBucket(g.host, "out");
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
  // allSettled: every server that did start is recorded (and stopped by after()) even when
  // another failed.
  const failed = (await Promise.allSettled(starts)).find((r) => r.status === "rejected");
  if (failed) throw (failed as PromiseRejectedResult).reason;
  // The in-process checks read through the same settings as the CLI runs.
  Object.assign(process.env, env);
  if (swift) {
    for (const c of ["in", "out"]) await new SwiftKvStore(`swift://${c}`).createContainer();
  }
  // The input stack, uploaded as plain objects, for the remote-input cases.
  const files = (await readdir(stackDir)).sort();
  const inputs: KvStore[] = [];
  if (moto) inputs.push(openStore("s3://inp/stack"));
  if (swift) inputs.push(openStore("swift://in/stack"));
  for (const store of inputs) {
    for (const f of files) {
      await store.put(f, new Uint8Array(await readFile(join(stackDir, f))), {
        contentType: "image/png",
      });
    }
    await store.put("README.txt", new TextEncoder().encode("not a slice"));
    await store.put(
      "other/slice_0000.png",
      new Uint8Array(await readFile(join(stackDir, files[0]))),
    );
  }
});

after(async () => {
  await Promise.all([moto?.stop(), gcs?.stop(), swift?.stop()]);
  for (const k of Object.keys(process.env)) if (!(k in savedEnv)) delete process.env[k];
  Object.assign(process.env, savedEnv);
  await rm(tmp, { recursive: true, force: true });
});

/** Every scale read back through the store equals the reference pyramid (as ingest.test.ts). */
async function checkPyramid(dest: string, base: RefVolume): Promise<PrecomputedVolume> {
  const vol = await PrecomputedVolume.open(openStore(dest));
  const scales = vol.info.scales;
  let ref = base;
  for (let j = 0; j < scales.length; j++) {
    const s = scales[j];
    if (j > 0) {
      const f = [0, 1, 2].map((d) =>
        Math.round(s.resolution[d] / scales[j - 1].resolution[d]),
      ) as Vec3;
      ref = refDownsample(ref, f, "average");
    }
    assert.deepEqual(s.size, ref.shape, `scale ${j} size`);
    const max = [0, 1, 2].map((d) => ref.origin[d] + ref.shape[d]) as Vec3;
    const block = await vol.read(j, { min: ref.origin, max });
    for (let i = 0; i < ref.data.length; i++) {
      if (Number(block.data[i]) !== ref.data[i]) {
        assert.fail(
          `${dest} scale ${j} voxel #${i}: got ${block.data[i]}, expected ${ref.data[i]}`,
        );
      }
    }
  }
  return vol;
}

const INGEST_FLAGS = [
  "--resolution",
  "4,4,40",
  "--offset",
  OFFSET.join(","),
  "--chunk-size",
  "16,16,8",
  "--memory",
  "2MiB",
  "--workers",
  "2",
  "--sharded",
  "--shard-size",
  "64KiB",
  "--json",
];

async function ingest(source: string, dest: string, extraEnv: Record<string, string> = {}) {
  const r = await runCli(["ingest", source, dest, ...INGEST_FLAGS], {
    env: { ...env, ...extraEnv },
  });
  assert.equal(r.code, 0, `voxport ingest ${source} ${dest}\n${r.stderr}`);
  const summary = JSON.parse(r.stdout.trim().split("\n").pop()!);
  assert.equal(summary.status, "completed");
  return summary;
}

async function listKeys(url: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const k of openStore(url).list("")) keys.push(k);
  return keys.sort();
}

async function checkSharded(dest: string) {
  const vol = await checkPyramid(dest, ref0);
  assert.ok(vol.info.scales.length >= 2, "a pyramid was built");
  assert.ok(
    vol.info.scales.every((s) => s.sharding),
    "every scale is sharded",
  );
  const keys = await listKeys(dest);
  const shards = keys.filter((k) => k.startsWith(`${vol.info.scales[0].key}/`));
  assert.ok(shards.length > 1 && shards.every((k) => k.endsWith(".shard")), shards.join(","));
  assert.ok(!keys.some((k) => k.startsWith(".voxport/")), "job state removed after publishing");
}

describe("voxport ingest --sharded into each object store, read back voxel-exact", () => {
  test("s3 (moto)", { skip: skipS3 }, async () => {
    await ingest(stackDir, "s3://out/em");
    await checkSharded("s3://out/em");
  });

  test("gs (emulator)", { skip: skipGcs }, async () => {
    await ingest(stackDir, "gs://out/em");
    await checkSharded("gs://out/em");
  });

  test("swift (tempauth)", { skip: skipSwift }, async () => {
    await ingest(stackDir, "swift://out/em");
    await checkSharded("swift://out/em");
  });
});

describe("remote inputs: slices read straight from the store", () => {
  test("s3 glob → file://, exact (stray objects ignored)", { skip: skipS3 }, async () => {
    const out = join(tmp, "from-s3");
    await ingest("s3://inp/stack/slice_*.png", `file://${out}`);
    await checkPyramid(`file://${out}`, ref0);
  });

  test("swift → swift in one command, exact", { skip: skipSwift }, async () => {
    // A prefix: its direct image files (README.txt and other/ are not slices).
    await ingest("swift://in/stack", "swift://out/from-swift");
    await checkSharded("swift://out/from-swift");
  });

  test(
    "--filter selects by regex from the start of the relative name, natural order",
    { skip: skipS3 },
    async () => {
      const src = await openImageStack("s3://inp/stack", { filter: "slice_00(0|1)\\d\\.png" });
      assert.equal(src.slices.length, 20);
      assert.deepEqual(src.size, [SIZE[0], SIZE[1], 20]);
      assert.equal(src.slices[0].name, "slice_0000.png");
      assert.equal(src.slices[19].name, "slice_0019.png");
      // Nested names are reachable with a filter (the seed's 'data/raw/…' filters).
      const nested = await openImageStack("s3://inp/stack", { filter: "other/" });
      assert.equal(nested.slices.length, 1);
      const block = await src.read({ min: [0, 0, 5], max: [SIZE[0], SIZE[1], 7] });
      for (const z of [5, 6]) {
        for (const [x, y] of [
          [0, 0],
          [149, 96],
          [77, 41],
        ]) {
          assert.equal(
            block.data[x + SIZE[0] * (y + SIZE[1] * (z - 5))],
            ref0.data[x + SIZE[0] * (y + SIZE[1] * z)],
          );
        }
      }
    },
  );

  test(
    "a public Swift container over plain http(s), listed and filtered",
    { skip: skipSwift },
    async () => {
      const store = new SwiftKvStore("swift://in");
      await store.makePublic();
      const { storageUrl } = await store.session();
      const src = await openImageStack(`${storageUrl}/in`, { filter: "stack/slice_000\\d" });
      assert.equal(src.slices.length, 10);
      const one = await src.read({ min: [0, 0, 3], max: [SIZE[0], SIZE[1], 4] });
      assert.equal(one.data[7 + SIZE[0] * 9], ref0.data[7 + SIZE[0] * (9 + SIZE[1] * 3)]);
    },
  );

  test(
    "a regex that matches nothing: INVALID_SOURCE before any read, naming URL and regex",
    { skip: skipS3 },
    async () => {
      await assert.rejects(
        openImageStack("s3://inp/stack", { filter: "nope_\\d+" }),
        (e: unknown) => {
          assert.ok(isVoxportError(e, "INVALID_SOURCE"), String(e));
          assert.match(e.message, /nope_\\d\+/);
          assert.match(e.message, /s3:\/\/inp\/stack/);
          assert.match(e.message, /slice_0000\.png|README/);
          return true;
        },
      );
      await assert.rejects(openImageStack("s3://inp/stack", { filter: "(" }), (e: unknown) =>
        isVoxportError(e, "INVALID_ARGUMENT"),
      );
    },
  );
});

/** Runs `voxport fetch …` in-process (registerFetch is wired into main.ts by the CLI owner). */
async function fetchCli(args: string[]): Promise<string> {
  const program = new Command().exitOverride().configureOutput({ writeErr: () => {} });
  registerFetch(program);
  const writes: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string) => {
    writes.push(String(chunk));
    return true;
  }) as typeof process.stderr.write;
  try {
    await program.parseAsync(["node", "voxport", "fetch", ...args]);
  } finally {
    process.stderr.write = write;
  }
  return writes.join("");
}

describe("voxport fetch", () => {
  test(
    "copies the filtered objects to a local folder, nested names kept",
    { skip: skipS3 },
    async () => {
      const dest = join(tmp, "fetched");
      const out = await fetchCli(["s3://inp/stack", dest, "--filter", "slice_000[0-4]|other/"]);
      assert.match(out, /fetched 6 file\(s\)/);
      const files = (await readdir(dest)).sort();
      assert.deepEqual(files, [
        "other",
        "slice_0000.png",
        "slice_0001.png",
        "slice_0002.png",
        "slice_0003.png",
        "slice_0004.png",
      ]);
      assert.deepEqual(
        await readFile(join(dest, "slice_0003.png")),
        await readFile(join(stackDir, "slice_0003.png")),
      );
      assert.ok(existsSync(join(dest, "other", "slice_0000.png")));
    },
  );

  test("a single file from Swift", { skip: skipSwift }, async () => {
    const dest = join(tmp, "fetched-one");
    await fetchCli(["swift://in/stack/slice_0007.png", dest]);
    assert.deepEqual(await readdir(dest), ["slice_0007.png"]);
  });

  test(
    "a regex matching nothing fails before anything is written",
    { skip: skipSwift },
    async () => {
      const dest = join(tmp, "fetched-none");
      await assert.rejects(
        fetchCli(["swift://in/stack", dest, "--filter", "zzz"]),
        (e: unknown) => isVoxportError(e, "INVALID_SOURCE") && /zzz/.test(e.message),
      );
      assert.equal(existsSync(dest), false);
    },
  );
});

describe("fault injection: 503s, throttling and cut connections on a fraction of requests", () => {
  test(
    "a sharded ingest from S3 to S3 through the proxy completes and is exact",
    { skip: skipS3 },
    async () => {
      const proxy = await startFaultProxy(moto!.endpoint, { rate: 0.12, seed: 2024 });
      try {
        const endpoint = `?endpoint=${encodeURIComponent(proxy.url)}`;
        const dest = `s3://faults/em${endpoint}`;
        await ingest(`s3://inp/stack/slice_*.png${endpoint}`, dest);
        const faults = Object.values(proxy.stats.faults).reduce((a, b) => a + b, 0);
        proxy.setRate(0);
        await checkSharded(dest);
        assert.ok(faults >= 10, `faults injected: ${JSON.stringify(proxy.stats)}`);
        for (const kind of ["503", "slowdown", "429", "reset", "cut"] as const) {
          assert.ok(
            proxy.stats.faults[kind] > 0,
            `${kind} injected: ${JSON.stringify(proxy.stats)}`,
          );
        }
      } finally {
        await proxy.close();
      }
    },
  );
});

describe("bad input: one clear error, before any work", () => {
  async function expectFailure(
    args: string[],
    pattern: RegExp,
    opts: { code?: number; env?: Record<string, string>; secret?: string } = {},
  ) {
    const r = await runCli(args, { env: { ...env, ...opts.env } });
    assert.equal(r.code, opts.code ?? 2, `exit code; stderr: ${r.stderr}`);
    assert.match(r.stderr, pattern);
    const errors = r.stderr.split("\n").filter((l) => l.startsWith("voxport: error"));
    assert.equal(errors.length, 1, r.stderr);
    if (opts.secret) {
      assert.ok(
        !r.stderr.includes(opts.secret) && !r.stdout.includes(opts.secret),
        "secret leaked",
      );
    }
    return r;
  }

  test("missing S3 bucket", { skip: skipS3 }, async () => {
    await expectFailure(
      ["ingest", stackDir, "s3://no-such-bucket/em", ...INGEST_FLAGS],
      /S3 bucket "no-such-bucket" does not exist/,
    );
  });

  test("missing Swift container (nothing created)", { skip: skipSwift }, async () => {
    await expectFailure(
      ["ingest", stackDir, "swift://no-such-container/em", ...INGEST_FLAGS],
      /Swift container "no-such-container" does not exist/,
    );
  });

  test("wrong Swift password: the password is in no output", { skip: skipSwift }, async () => {
    const password = "Wr0ng-pass-5150";
    const settings = await swift!.writeSettings("wrong.json", 0o600, { os_password: password });
    await expectFailure(
      ["ingest", stackDir, "swift://out/never", ...INGEST_FLAGS],
      /authentication failed/,
      {
        code: 1,
        env: { SWIFT_SETTINGS: settings },
        secret: password,
      },
    );
    assert.deepEqual(await listKeys("swift://out/never"), [], "nothing written");
  });

  test(
    "a world-readable Swift settings file is refused with the fix",
    { skip: skipSwift },
    async () => {
      const settings = await swift!.writeSettings("open.json", 0o644);
      await expectFailure(
        ["ingest", stackDir, "swift://out/never", ...INGEST_FLAGS],
        new RegExp(`chmod 600 ${settings}`),
        {
          env: { SWIFT_SETTINGS: settings },
          secret: swift!.key,
        },
      );
    },
  );

  test("a remote input that does not exist", { skip: skipS3 }, async () => {
    await expectFailure(
      ["ingest", "s3://no-such-bucket/stack", join(tmp, "never"), ...INGEST_FLAGS],
      /no-such-bucket/,
    );
    assert.equal(existsSync(join(tmp, "never")), false);
  });

  test(
    "a token Swift rejects: access denied, and the token is in no output",
    { skip: skipSwift },
    async () => {
      // A token that Swift rejects, supplied directly (OS_AUTH_TOKEN + OS_STORAGE_URL).
      const { storageUrl } = await new SwiftKvStore("swift://out").session();
      const token = "AUTH_tkdeadbeefdeadbeefdeadbeefdeadbeef";
      const r = await expectFailure(
        ["ingest", stackDir, "swift://out/never2", ...INGEST_FLAGS],
        /access denied/,
        {
          code: 1,
          env: { SWIFT_SETTINGS: "", OS_AUTH_TOKEN: token, OS_STORAGE_URL: storageUrl },
          secret: token,
        },
      );
      assert.match(r.stderr, /swift:\/\/out\/never2/, "the destination is named");
    },
  );
});
