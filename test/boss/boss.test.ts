import assert from "node:assert/strict";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { BossClient } from "../../src/boss/client.js";
import { prepareBossIngest } from "../../src/boss/prepare.js";
import { runBossJob } from "../../src/boss/run.js";
import { isVoxportError } from "../../src/errors.js";
import { runCli } from "../helpers/cli.js";
import { pythonMissingReason, runPython } from "../helpers/python.js";
import { type BossServer, type CutoutBox, startBossServer } from "../servers/boss.js";
import { cleanEnv, writeBossConfig, writeSlices } from "./helpers.js";

/**
 * The BOSS sink against test/servers/boss.ts: resources created in order, blosc cutouts aligned
 * to cuboids with empty blocks skipped, read back by python-blosc and by intern; bad input
 * stopped before any POST; failed blocks logged and completed by `voxport retry-log`.
 */

const SIZE: [number, number, number] = [1100, 600, 20];
// Zero where x ≥ 1024 in the first z group: that block must not be posted.
const f8 = (x: number, y: number, z: number) =>
  x >= 1024 && z < 16 ? 0 : ((x * 7 + y * 13 + z * 31) % 251) + 1;
const BOX: CutoutBox = { min: [0, 0, 0], max: SIZE };

let dir: string;
let server: BossServer;
let config: string;
let stack: string;
let voxels: Uint8Array;
const fast = { sleep: async () => {} };

function cutoutPosts(s: BossServer, channel: string) {
  return s.posts.filter((p) => p.channel === channel);
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "voxport-boss-"));
  server = await startBossServer();
  config = await writeBossConfig(dir, server);
  stack = join(dir, "stack");
  voxels = (await writeSlices(stack, SIZE, 8, f8)) as Uint8Array;
});

after(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

async function prepare(channel: string, extra: Record<string, unknown> = {}) {
  return prepareBossIngest({
    source: { kind: "image-stack", input: stack },
    destination: `boss://lab/em/${channel}`,
    resolution: [4, 4, 40],
    configFile: config,
    workers: 2,
    backoffMs: 1,
    env: {},
    ...extra,
  });
}

describe("BOSS ingest", () => {
  test("creates resources in order, posts aligned non-empty blocks, verifies", async () => {
    const p = await prepare("raw");
    const summary = await runBossJob(p, fast);
    assert.equal(summary.status, "completed");
    assert.deepEqual(summary.resources.created, [
      "collection lab",
      "coordinate frame lab_em",
      "experiment em",
      "channel raw",
    ]);
    // The POSTs that created them came in that order too.
    const creates = server.requests
      .filter((r) => r.method === "POST" && !r.path.includes("/cutout/"))
      .map((r) => r.path);
    assert.deepEqual(creates, [
      "/v1/collection/lab/",
      "/v1/coord/lab_em/",
      "/v1/collection/lab/experiment/em/",
      "/v1/collection/lab/experiment/em/channel/raw/",
    ]);
    const posts = cutoutPosts(server, "lab/em/raw");
    assert.equal(summary.blocksPosted, 3);
    assert.equal(summary.blocksEmpty, 1);
    assert.equal(posts.length, 3);
    for (const post of posts) {
      assert.equal(post.status, 201);
      // Starts on cuboid boundaries; ends on one or at the data's edge.
      assert.deepEqual(
        post.box.min.map((v, d) => v % [512, 512, 16][d]),
        [0, 0, 0],
      );
      for (let d = 0; d < 3; d++) {
        assert.ok(post.box.max[d] % [512, 512, 16][d] === 0 || post.box.max[d] === SIZE[d]);
      }
    }
    assert.ok(
      !posts.some((q) => q.box.min[0] === 1024 && q.box.min[2] === 0),
      "empty block posted",
    );
    assert.deepEqual(server.read("lab/em/raw", BOX), voxels);
    assert.equal(summary.verify?.match, true);
    const frame = server.coords.get("lab_em");
    assert.deepEqual([frame?.x_stop, frame?.y_stop, frame?.z_stop], SIZE);
    const exp = server.experiments.get("lab/em");
    // max(1, ceil(log2(1100/512)) + 1) = 3; 4×4×40 is anisotropic.
    assert.equal(exp?.num_hierarchy_levels, 3);
    assert.equal(exp?.hierarchy_method, "anisotropic");
  });

  test("python-blosc decodes every posted body; intern reads back exactly the voxels", async (t) => {
    const missing = pythonMissingReason();
    if (missing) return t.skip(missing);
    const posts = cutoutPosts(server, "lab/em/raw");
    assert.ok(posts.length > 0, "run after the ingest test");
    const files = await Promise.all(
      posts.map(async (p, i) => {
        const file = join(dir, `post${i}.blosc`);
        await writeFile(file, p.body);
        return { file, box: p.box };
      }),
    );
    const expected = join(dir, "expected.raw");
    await writeFile(expected, voxels);
    const r = await runPython<Record<string, unknown>>("test/boss/py/check_boss.py", {
      host: server.host,
      token: server.token,
      collection: "lab",
      experiment: "em",
      channel: "raw",
      datatype: "uint8",
      box: BOX,
      expected,
      posts: files,
    });
    assert.equal(r.posts, 3);
    assert.deepEqual(r.post_mismatches, []);
    assert.equal(r.intern_datatype, "uint8");
    assert.deepEqual(r.intern_shape, [SIZE[2], SIZE[1], SIZE[0]]);
    assert.equal(r.intern_equal, true, JSON.stringify(r));
    assert.equal(r.intern_sum, r.expected_sum);
  });

  test("16-bit image and uint64 annotation channels", async () => {
    const s16 = join(dir, "s16");
    const v16 = (await writeSlices(
      s16,
      [700, 300, 17],
      16,
      (x, y, z) => x * 60 + y + z * 7,
    )) as Uint16Array;
    const p = await prepareBossIngest({
      source: { kind: "image-stack", input: s16 },
      destination: "boss://lab/em16/raw16",
      resolution: [8, 8, 8],
      configFile: config,
      env: {},
    });
    assert.equal(p.job.datatype, "uint16");
    await runBossJob(p, fast);
    const got16 = server.read("lab/em16/raw16", { min: [0, 0, 0], max: [700, 300, 17] });
    assert.deepEqual(new Uint16Array(got16.buffer), v16);
    assert.equal(server.experiments.get("lab/em16")?.hierarchy_method, "isotropic");

    const labels = join(dir, "labels");
    const lv = (await writeSlices(labels, [600, 300, 16], 16, (x, y) =>
      x < 300 ? 0 : 1 + ((x >> 6) + (y >> 6) * 16),
    )) as Uint16Array;
    const a = await prepareBossIngest({
      source: { kind: "image-stack", input: labels },
      destination: "boss://lab/em16/seg",
      resolution: [8, 8, 8],
      type: "segmentation",
      sourceChannel: "raw16",
      configFile: config,
      env: {},
    });
    assert.equal(a.job.datatype, "uint64");
    assert.equal(a.job.channelType, "annotation");
    await runBossJob(a, fast);
    const seg = server.channels.get("lab/em16/seg")?.json;
    assert.equal(seg?.type, "annotation");
    assert.deepEqual(seg?.sources, ["raw16"]);
    const got = new BigUint64Array(
      server.read("lab/em16/seg", { min: [0, 0, 0], max: [600, 300, 16] }).buffer,
    );
    assert.deepEqual(Array.from(got, Number), Array.from(lv));
  });

  test("negative offsets: shifted with --offset-extents and recorded as offsets metadata", async () => {
    await assert.rejects(
      prepare("neg", { offset: [0, 0, -5] }),
      (e: unknown) => isVoxportError(e, "INVALID_ARGUMENT") && /--offset-extents/.test(e.message),
    );
    const p = await prepareBossIngest({
      source: { kind: "image-stack", input: stack },
      destination: "boss://lab/shifted/raw",
      resolution: [4, 4, 40],
      offset: [10, 0, -5],
      offsetExtents: true,
      configFile: config,
      verify: false,
      env: {},
    });
    assert.deepEqual(p.job.extent, { min: [10, 0, 0], max: [1110, 600, 20] });
    await runBossJob(p, fast);
    assert.equal(server.metadata.get("lab/shifted/offsets"), "[0,0,5]");
    const got = server.read("lab/shifted/raw", { min: [10, 0, 0], max: [1110, 600, 20] });
    assert.deepEqual(got, voxels);
  });
});

describe("BOSS bad input stops before any POST", () => {
  const cutouts = () => server.posts.length;

  test("no token", async () => {
    const home = join(dir, "home-empty");
    const noToken = join(dir, "notoken.cfg");
    await writeFile(noToken, `[Default]\nprotocol = http\nhost = ${server.host}\n`);
    await chmod(noToken, 0o600);
    const before = server.requests.length;
    const r = await runCli(
      ["ingest", stack, "boss://lab/em/x", "-r", "4,4,40", "--boss-config", noToken],
      { env: cleanEnv(home) },
    );
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /no BOSS token/);
    const r2 = await runCli(["ingest", stack, "boss://lab/em/x", "-r", "4,4,40"], {
      env: cleanEnv(home),
    });
    assert.equal(r2.code, 2, r2.stderr);
    assert.match(r2.stderr, /no BOSS token.*BOSS_TOKEN/);
    assert.equal(server.requests.length, before, "nothing was sent");
  });

  test("a config file others can read is refused with chmod 600", async () => {
    const open = join(dir, "open.cfg");
    await writeFile(
      open,
      `[Default]\nprotocol = http\nhost = ${server.host}\ntoken = ${server.token}\n`,
    );
    await chmod(open, 0o644);
    await assert.rejects(
      prepare("x", { configFile: open }),
      (e: unknown) =>
        isVoxportError(e) && /chmod 600/.test(e.message) && !e.message.includes(server.token),
    );
  });

  test("a channel of another datatype", async () => {
    const client = new BossClient({ protocol: "http", host: server.host, token: server.token });
    await client.createResource("/collection/lab/experiment/em/channel/other16/", {
      name: "other16",
      description: "",
      datatype: "uint16",
      type: "image",
      sources: [],
      related: [],
    });
    const n = cutouts();
    const p = await prepare("other16");
    await assert.rejects(
      runBossJob(p, fast),
      (e: unknown) =>
        isVoxportError(e, "INVALID_ARGUMENT") && /exists as image uint16.*uint8/.test(e.message),
    );
    assert.equal(cutouts(), n);
  });

  test("extents outside the coordinate frame", async () => {
    const client = new BossClient({ protocol: "http", host: server.host, token: server.token });
    await client.createResource("/coord/small/", {
      name: "small",
      x_start: 0,
      x_stop: 512,
      y_start: 0,
      y_stop: 512,
      z_start: 0,
      z_stop: 16,
      x_voxel_size: 4,
      y_voxel_size: 4,
      z_voxel_size: 40,
      voxel_unit: "nanometers",
    });
    await client.createResource("/collection/lab/experiment/small/", {
      name: "small",
      coord_frame: "small",
      num_hierarchy_levels: 1,
    });
    const n = cutouts();
    const p = await prepareBossIngest({
      source: { kind: "image-stack", input: stack },
      destination: "boss://lab/small/raw",
      resolution: [4, 4, 40],
      configFile: config,
      env: {},
    });
    await assert.rejects(
      runBossJob(p, fast),
      (e: unknown) => isVoxportError(e) && /lies outside coordinate frame small/.test(e.message),
    );
    assert.equal(cutouts(), n);
    assert.equal(server.channels.has("lab/small/raw"), false);
  });
});

describe("failed blocks: the log lists them and retry-log completes them", () => {
  test("500 for some blocks, then voxport retry-log", async () => {
    const log = join(dir, "ingest.log");
    server.failPost = (ch, b) => ch === "lab/flaky/raw" && b.min[2] === 16;
    const args = [
      "ingest",
      stack,
      "boss://lab/flaky/raw",
      "-r",
      "4,4,40",
      "--boss-config",
      config,
      "--post-attempts",
      "2",
      "--post-backoff",
      "5ms",
      "--workers",
      "1",
      "--log",
      log,
    ];
    const r = await runCli(args, { env: cleanEnv(join(dir, "home")) });
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      /2 block\(s\) failed after 2 attempt\(s\); re-post them with: voxport retry-log/,
    );
    const text = await readFile(log, "utf8");
    const failed = text.split("\n").filter((l) => / FAILED /.test(l));
    assert.equal(failed.length, 2);
    assert.ok(
      failed.every(
        (l) => / 0-1024_0-600_16-20 | 1024-1100_0-600_16-20 /.test(l) && /HTTP 500/.test(l),
      ),
    );
    assert.ok(!text.includes(server.token), "the token never reaches the log");
    // Two attempts for each failed block.
    assert.equal(
      server.posts.filter((p) => p.channel === "lab/flaky/raw" && p.status === 500).length,
      4,
    );

    server.failPost = undefined;
    const again = await runCli(["retry-log", log, "--boss-config", config], {
      env: cleanEnv(join(dir, "home")),
    });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /2 posted, 0 now empty, 0 still failing/);
    assert.deepEqual(server.read("lab/flaky/raw", BOX), voxels);
    const after = await readFile(log, "utf8");
    assert.equal(after.split("\n").filter((l) => / POSTED /.test(l)).length, 2);
    // Nothing left: a second run posts nothing.
    const third = await runCli(["retry-log", log, "--boss-config", config], {
      env: cleanEnv(join(dir, "home")),
    });
    assert.equal(third.code, 0);
    assert.match(third.stderr, /no failed blocks left/);
  });
});

describe("BOSS ingest as queue tasks", () => {
  test("ingest --queue enqueues boss-block tasks; workers post them and verify", async () => {
    const queue = `fq://${join(dir, "queue")}`;
    const env = cleanEnv(join(dir, "home"));
    const hook = join(dir, "work.log");
    const r = await runCli(
      [
        "ingest",
        stack,
        "boss://lab/queued/raw",
        "-r",
        "4,4,40",
        "--boss-config",
        config,
        "--queue",
        queue,
      ],
      { env },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /enqueued 2 task\(s\)/);
    assert.equal(server.posts.filter((p) => p.channel === "lab/queued/raw").length, 0);
    assert.ok(server.channels.has("lab/queued/raw"), "resources exist before any worker runs");
    const w = await runCli(
      ["work", queue, "--workers", "2", "--exit-when-empty", "--wait", "200ms", "--log", hook],
      {
        env: { ...env, BOSS_TOKEN: server.token },
      },
    );
    assert.equal(w.code, 0, w.stderr);
    assert.deepEqual(server.read("lab/queued/raw", BOX), voxels);
    const text = await readFile(hook, "utf8");
    assert.match(text, /verification of z=\d+: match/);
    assert.match(text, /finished: 3 tasks done/);
  });
});
