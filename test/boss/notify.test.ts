import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { withJobReport } from "../../src/notify/report.js";
import { runCli } from "../helpers/cli.js";
import { writeSlices } from "./helpers.js";

/**
 * --notify and --log: a local receiver gets the Slack-shaped message with counts, duration and
 * the log tail on success and on failure; a webhook that fails (500, or nothing listening)
 * never changes the job's outcome.
 */

interface Received {
  path: string;
  body: { text: string; voxport: Record<string, unknown> };
}

let receiver: Server;
let base: string;
const received: Received[] = [];
let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "voxport-notify-"));
  receiver = createServer((req, res) => {
    let data = "";
    req.on("data", (c) => {
      data += c;
    });
    req.on("end", () => {
      if (req.url?.startsWith("/broken")) {
        res.writeHead(500);
        res.end("down");
        return;
      }
      received.push({ path: req.url ?? "", body: JSON.parse(data) });
      res.writeHead(200);
      res.end("ok");
    });
  });
  await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
});

after(async () => {
  receiver.closeAllConnections();
  await new Promise<void>((r) => receiver.close(() => r()));
  await rm(dir, { recursive: true, force: true });
});

describe("notifications", () => {
  test("finish: counts, duration and the log tail; failing webhooks do not fail the job", async () => {
    received.length = 0;
    const warnings: string[] = [];
    const log = join(dir, "a.log");
    const out = await withJobReport(
      {
        notify: [`${base}/hooks/T000/B000/secret`, `${base}/broken/x`, "http://127.0.0.1:9/none"],
        log,
      },
      "ingest",
      "./stack → boss://lab/em/raw",
      async ({ log: l }) => {
        l?.line("POST succeeded in 0.01 sec");
        return { counts: { "blocks posted": 12, "blocks failed": 0 } };
      },
      {
        argv: ["voxport", "ingest", "--notify", `${base}/hooks/T000/B000/secret`],
        warn: (w) => warnings.push(w),
      },
    );
    assert.deepEqual(out.counts, { "blocks posted": 12, "blocks failed": 0 });
    assert.equal(received.length, 1);
    const m = received[0].body;
    assert.equal(received[0].path, "/hooks/T000/B000/secret");
    assert.match(
      m.text,
      /^voxport ingest finished on .+: \.\/stack → boss:\/\/lab\/em\/raw in \d+s — 12 blocks posted, 0 blocks failed/,
    );
    assert.match(
      m.text,
      /```\n.*voxport ingest --notify http:\/\/127\.0\.0\.1:\d+\/…\n.*POST succeeded/s,
    );
    assert.equal(m.voxport.status, "finished");
    assert.deepEqual(m.voxport.counts, { "blocks posted": 12, "blocks failed": 0 });
    assert.equal(typeof m.voxport.seconds, "number");
    assert.equal(warnings.length, 2, warnings.join("\n"));
    assert.ok(warnings.every((w) => /notification to .* failed .*the job is not affected/.test(w)));
    // Webhook URLs are secrets: the log has only their origin.
    assert.ok(!(await readFile(log, "utf8")).includes("secret"));
  });

  test("failure: the error is reported and still thrown", async () => {
    received.length = 0;
    await assert.rejects(
      withJobReport(
        { notify: [`${base}/hook`] },
        "work",
        "fq://q",
        async () => {
          throw new Error("queue unreachable");
        },
        { warn: () => {} },
      ),
      /queue unreachable/,
    );
    assert.equal(received.length, 1);
    assert.equal(received[0].body.voxport.status, "failed");
    assert.match(received[0].body.text, /voxport work FAILED .*\nerror: queue unreachable/);
  });

  test("voxport ingest --notify: message on finish, a broken webhook leaves exit 0", async () => {
    received.length = 0;
    const stack = join(dir, "stack");
    await writeSlices(stack, [64, 64, 4], 8, (x, y, z) => x + y + z);
    const r = await runCli([
      "ingest",
      stack,
      join(dir, "out"),
      "-r",
      "4,4,40",
      "--workers",
      "0",
      "--notify",
      `${base}/hook`,
      "--notify",
      `${base}/broken`,
      "--log",
      join(dir, "ingest.log"),
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /notification to http:\/\/127\.0\.0\.1:\d+\/… failed \(HTTP 500\)/);
    assert.equal(received.length, 1);
    assert.match(received[0].body.text, /voxport ingest finished .* — 1 tasks, \d+ scales/);
    assert.match(await readFile(join(dir, "ingest.log"), "utf8"), /finished: 1 tasks/);
  });
});
