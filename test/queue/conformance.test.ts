import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe } from "node:test";
import { openQueue } from "../../src/queue/open.js";
import { queueConformance } from "../conformance/queue.js";
import { missing, type Server, sqsUrl, startMoto, startRedis } from "./servers.js";

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

let tmp: string;
let redis: Server | undefined;
let moto: Server | undefined;
const noRedis = missing("redis");
const noMoto = missing("moto");

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), "voxport-queue-conf-"));
  [redis, moto] = await Promise.all([
    noRedis ? undefined : startRedis(),
    noMoto ? undefined : startMoto(),
  ]);
});
after(async () => {
  await Promise.all([redis?.stop(), moto?.stop()]);
  await rm(tmp, { recursive: true, force: true });
});

queueConformance("mem", (name, o) => openQueue(`mem://${name}`, o));
queueConformance("fq", (name, o) => openQueue(`fq://${join(tmp, "fq", name)}`, o));

describe("redis", { skip: noRedis }, () => {
  queueConformance("redis", (name, o) => openQueue(`${redis!.url}/${name}`, o));
});

describe("sqs (moto)", { skip: noMoto }, () => {
  queueConformance(
    "sqs",
    (name, o) => openQueue(sqsUrl(moto!, name, join(tmp, "sqs-state", name)), o),
    { approximateCounts: true, shortLeaseMs: 1000, bigEnqueue: 0 },
  );
});
