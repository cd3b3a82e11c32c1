import { mkdtemp, rm } from "node:fs/promises";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import {
  CreateQueueCommand,
  DeleteQueueCommand,
  SendMessageBatchCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { Redis } from "ioredis";
import { openQueue } from "../src/queue/open.js";
import { enqueueInFlight, type Queue, type QueueItem } from "../src/queue/queue.js";
import { missing, type Server, sqsUrl, startMoto, startRedis } from "../test/queue/servers.js";

/**
 * Queue throughput (issue "Distributed execution on real queues"):
 *  - fq and Redis: enqueue 1,000,000 tasks (fq: batches of 10,000; Redis: batches of 100,000,
 *    which the queue sends as BullMQ addBulk pipelines of 1,000, four in flight), then the
 *    per-task cost of one lease + renew + complete cycle, one task at a time, on that full queue;
 *  - SQS on moto: enqueue 20,000 tasks (SendMessageBatch of 10, concurrent senders) next to the
 *    emulator's own floor — the same number of bare SendMessageBatch calls with the same
 *    concurrency, into queues of the same sizes — so the figure shows voxport's overhead, not
 *    moto's speed. moto's SendMessageBatch slows down linearly with the queue's length
 *    (measured here: ~65 ms a call into an empty queue, ~500 ms at 1,200 messages), so both
 *    sides spread the tasks over queues of `perQueue` (200) tasks.
 * Servers are started on free loopback ports and stopped; a missing one is reported skipped.
 */

export interface EnqueueFigures {
  tasks: number;
  seconds: number;
  perSecond: number;
}

export interface CycleFigures {
  /** Tasks put through lease → renew → complete. */
  cycles: number;
  /** Per task, all three calls. */
  microsPerTask: number;
  /** The first lease call (fq: listing the million-entry directory once). */
  firstLeaseMillis: number;
}

export interface QueueBenchResult {
  fq?: { enqueue: EnqueueFigures; cycle: CycleFigures };
  redis?: {
    enqueue: EnqueueFigures;
    cycle: CycleFigures;
    usedMemoryBytes: number;
    /** CPU time per enqueued task: this process (BullMQ + ioredis) and the Redis server. The
     * machine may be shared, so these say more than the wall-clock rate alone. */
    clientCpuMicros: number;
    serverCpuMicros: number;
    /** 1-minute load average when the enqueue finished, and the CPU count. */
    load: number;
    cpus: number;
  };
  sqs?: {
    enqueue: EnqueueFigures;
    floor: EnqueueFigures & { calls: number };
    senders: number;
    queues: number;
    /** voxport's enqueue time ÷ the floor's. */
    ratioToFloor: number;
    cycle: CycleFigures;
  };
  skipped: Record<string, string>;
}

export interface QueueBenchOptions {
  tasks?: number;
  cycles?: number;
  sqsTasks?: number;
  sqsCycles?: number;
  senders?: number;
  /** SQS tasks per queue (see above). */
  perQueue?: number;
  only?: ("fq" | "redis" | "sqs")[];
}

function body(i: number): string {
  const x = (i % 1000) * 64;
  const y = (Math.floor(i / 1000) % 1000) * 64;
  const z = Math.floor(i / 1_000_000) * 16;
  return JSON.stringify({
    v: 1,
    kind: "ingest",
    job: "s3://bench-bucket/em/dataset",
    task: {
      id: `s0_${x}-${x + 64}_${y}-${y + 64}_${z}-${z + 16}`,
      stage: 0,
      box: { min: [x, y, z], max: [x + 64, y + 64, z + 16] },
    },
  });
}

async function enqueueMany(
  queueFor: (i: number) => Queue,
  n: number,
  batch = 10_000,
  depth = 4,
): Promise<EnqueueFigures> {
  // As `voxport ingest --queue` does (src/tasks/enqueue.ts): a few calls in flight.
  const t0 = performance.now();
  const calls = function* () {
    for (let i = 0; i < n; i += batch) {
      const items: QueueItem[] = [];
      for (let j = i; j < Math.min(n, i + batch); j++)
        items.push({ id: `t${j}`, stage: 0, body: body(j) });
      yield () => queueFor(i).enqueue(items);
    }
  };
  const added = await enqueueInFlight(calls(), depth);
  const seconds = (performance.now() - t0) / 1000;
  if (added !== n) throw new Error(`enqueued ${added} of ${n}`);
  return { tasks: n, seconds, perSecond: n / seconds };
}

async function cycle(q: Queue, n: number, leaseMs = 60_000): Promise<CycleFigures> {
  const t1 = performance.now();
  const first = await q.lease(1, leaseMs);
  const firstLeaseMillis = performance.now() - t1;
  await q.complete(first[0]);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const [l] = await q.lease(1, leaseMs);
    if (!l) throw new Error("queue ran dry");
    if (!(await q.renew(l, leaseMs))) throw new Error("renew refused");
    if (!(await q.complete(l)).ok) throw new Error("complete refused");
  }
  return { cycles: n, microsPerTask: ((performance.now() - t0) * 1000) / n, firstLeaseMillis };
}

async function mapLimit(n: number, limit: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

export async function benchQueue(opts: QueueBenchOptions = {}): Promise<QueueBenchResult> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  const tasks = opts.tasks ?? 1_000_000;
  const cycles = opts.cycles ?? 20_000;
  const sqsTasks = opts.sqsTasks ?? 20_000;
  const sqsCycles = opts.sqsCycles ?? 200;
  const senders = opts.senders ?? 8;
  const want = (b: "fq" | "redis" | "sqs") => !opts.only || opts.only.includes(b);
  const out: QueueBenchResult = { skipped: {} };
  const tmp = await mkdtemp(join(tmpdir(), "voxport-bench-queue-"));
  try {
    if (want("fq")) {
      const q = await openQueue(`fq://${join(tmp, "fq")}`);
      const enqueue = await enqueueMany(() => q, tasks);
      out.fq = { enqueue, cycle: await cycle(q, cycles) };
      await q.close();
      await rm(join(tmp, "fq"), { recursive: true, force: true });
    }

    if (want("redis")) {
      const why = missing("redis");
      if (why) out.skipped.redis = why;
      else {
        const server: Server = await startRedis();
        try {
          const q = await openQueue(`${server.url}/bench`);
          const c = new Redis({ host: "127.0.0.1", port: server.port });
          const serverCpu = async () => {
            const info = await c.info("cpu");
            const field = (name: string) =>
              Number(new RegExp(`${name}:([0-9.]+)`).exec(info)?.[1] ?? 0);
            return field("used_cpu_user") + field("used_cpu_sys");
          };
          const server0 = await serverCpu();
          const client0 = process.cpuUsage();
          // Batches of 100,000: the queue pipelines them to Redis in chunks of 1,000.
          const enqueue = await enqueueMany(() => q, tasks, 100_000);
          const client = process.cpuUsage(client0);
          const serverSeconds = (await serverCpu()) - server0;
          const usedMemoryBytes = Number(
            /used_memory:(\d+)/.exec(await c.info("memory"))?.[1] ?? 0,
          );
          await c.quit();
          out.redis = {
            enqueue,
            cycle: await cycle(q, cycles),
            usedMemoryBytes,
            clientCpuMicros: (client.user + client.system) / tasks,
            serverCpuMicros: (serverSeconds * 1e6) / tasks,
            load: loadavg()[0],
            cpus: availableParallelism(),
          };
          await q.close();
        } finally {
          await server.stop();
        }
      }
    }

    if (want("sqs")) {
      const why = missing("moto");
      if (why) out.skipped.sqs = why;
      else {
        const moto = await startMoto();
        try {
          const perQueue = opts.perQueue ?? 200;
          const queues = Math.ceil(sqsTasks / perQueue);
          // The floor: bare SendMessageBatch calls, same count, concurrency and queue sizes.
          const sqs = new SQSClient({
            region: "us-east-1",
            endpoint: moto.url,
            credentials: { accessKeyId: "bench", secretAccessKey: "bench" },
          });
          const callsPerQueue = Math.ceil(perQueue / 10);
          const urls: string[] = [];
          for (let k = 0; k < queues; k++) {
            const r = await sqs.send(new CreateQueueCommand({ QueueName: `floor-${k}` }));
            urls.push(r.QueueUrl!);
          }
          const f0 = performance.now();
          for (const QueueUrl of urls) {
            await mapLimit(callsPerQueue, senders, async (c) => {
              await sqs.send(
                new SendMessageBatchCommand({
                  QueueUrl,
                  Entries: Array.from({ length: 10 }, (_, k) => ({
                    Id: String(k),
                    MessageBody: body(c * 10 + k),
                    MessageAttributes: {
                      id: { DataType: "String", StringValue: `t${c * 10 + k}` },
                      stage: { DataType: "Number", StringValue: "0" },
                    },
                  })),
                }),
              );
            });
          }
          const floorSeconds = (performance.now() - f0) / 1000;
          const calls = queues * callsPerQueue;
          for (const QueueUrl of urls) await sqs.send(new DeleteQueueCommand({ QueueUrl }));
          sqs.destroy();

          const handles: Queue[] = [];
          for (let k = 0; k < queues; k++) {
            handles.push(
              await openQueue(sqsUrl(moto, `bench-${k}`, join(tmp, "sqs-state", String(k)))),
            );
          }
          await Promise.all(handles.map((h) => h.stats())); // create the queues before timing
          const enqueue = await enqueueMany(
            (i) => handles[Math.floor(i / perQueue)],
            sqsTasks,
            perQueue,
          );
          const c = await cycle(handles[0], Math.min(sqsCycles, perQueue - 1), 30_000);
          for (const h of handles) await h.close();
          out.sqs = {
            enqueue,
            floor: {
              tasks: calls * 10,
              calls,
              seconds: floorSeconds,
              perSecond: (calls * 10) / floorSeconds,
            },
            senders,
            queues,
            ratioToFloor: enqueue.seconds / floorSeconds,
            cycle: c,
          };
        } finally {
          await moto.stop();
        }
      }
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return out;
}

/** Markdown lines for bench/run.ts. */
export function formatQueueBench(r: QueueBenchResult): string[] {
  const k = (n: number) => Math.round(n).toLocaleString("en-US");
  const lines = [
    "| queue | tasks enqueued | enqueue rate | lease+renew+complete per task | first lease |",
    "|---|---|---|---|---|",
  ];
  const row = (name: string, e: EnqueueFigures, c: CycleFigures, note = "") =>
    lines.push(
      `| ${name} | ${k(e.tasks)} | ${k(e.perSecond)} tasks/s (${e.seconds.toFixed(1)} s) | ` +
        `${c.microsPerTask >= 1000 ? `${(c.microsPerTask / 1000).toFixed(1)} ms` : `${c.microsPerTask.toFixed(0)} µs`}` +
        ` (${k(c.cycles)} tasks) | ${c.firstLeaseMillis.toFixed(0)} ms${note} |`,
    );
  if (r.fq) row("fq (local ext4)", r.fq.enqueue, r.fq.cycle);
  if (r.redis) {
    row(
      "Redis 7",
      r.redis.enqueue,
      r.redis.cycle,
      `; Redis memory ${(r.redis.usedMemoryBytes / 1024 ** 2).toFixed(0)} MiB; CPU per enqueued task: ` +
        `${r.redis.clientCpuMicros.toFixed(0)} µs here, ${r.redis.serverCpuMicros.toFixed(0)} µs in Redis ` +
        `(load ${r.redis.load.toFixed(1)} on ${r.redis.cpus} CPUs)`,
    );
  }
  if (r.sqs) {
    row("SQS (moto)", r.sqs.enqueue, r.sqs.cycle);
    lines.push(
      "",
      `SQS enqueue next to moto's floor (${k(r.sqs.floor.calls)} bare SendMessageBatch calls of 10, ` +
        `${r.sqs.senders} concurrent, over ${r.sqs.queues} queues): voxport ${k(r.sqs.enqueue.perSecond)} tasks/s, floor ` +
        `${k(r.sqs.floor.perSecond)} tasks/s → ${r.sqs.ratioToFloor.toFixed(2)}× the floor's time.`,
    );
  }
  for (const [name, why] of Object.entries(r.skipped)) lines.push(`(${name} skipped: ${why})`);
  return lines;
}
