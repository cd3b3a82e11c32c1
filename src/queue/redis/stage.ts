import { hostname } from "node:os";
import { Queue as BullQueue, createRedisBackend, Worker } from "bullmq";
import type { Redis } from "ioredis";

/**
 * One stage of a voxport queue = one BullMQ queue named `stage-<n>` under the prefix
 * `voxport:{NAME}`, so BullMQ's own counts are the per-stage counts and BullMQ tooling
 * (Taskforce, bull-board, `Queue.getJobCounts`) shows each stage as a queue. The BullMQ Worker
 * is created only by handles that lease; it runs no processor (voxport's worker loop is the
 * processor), only BullMQ's stalled-job sweep, and hands out jobs through `getNextJob`.
 */

export const JOB_NAME = "task";

export function stageQueueName(stage: number): string {
  return `stage-${stage}`;
}

/** BullMQ refuses custom job ids that read as integers ("123"); `#` is outside voxport's task
 * id alphabet, so `#123` cannot collide with another task's id. */
export function jobIdOf(taskId: string): string {
  return String(Number.parseInt(taskId, 10)) === taskId ? `#${taskId}` : taskId;
}

export function taskIdOf(jobId: string): string {
  return jobId.startsWith("#") ? jobId.slice(1) : jobId;
}

export interface WorkerSettings {
  /** Lock duration given by moveToActive (the lease length). */
  lockMs: number;
  /** How often this process runs BullMQ's stalled sweep (a queue-wide key lets one run per
   * interval across all processes). */
  stalledMs: number;
  /** BullMQ fails a job whose lock expired more than this many times. */
  maxStalledCount: number;
}

// Workers poll with getNextJob({block: false}) across the stage queues, so they need no
// dedicated blocking connection: one connection per process instead of one per stage.
const noBlockingConnection: typeof createRedisBackend = (name, opts) =>
  createRedisBackend(name, opts, {});

export class Stage {
  readonly queue: BullQueue<string, null, string>;
  private bullWorker?: Worker<string, null, string>;

  constructor(
    readonly stage: number,
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly onError: (e: Error) => void,
  ) {
    this.queue = new BullQueue<string, null, string>(stageQueueName(stage), {
      connection: redis,
      prefix,
    });
    this.queue.on("error", onError);
  }

  worker(settings: WorkerSettings): Worker<string, null, string> {
    if (!this.bullWorker) {
      const w = new Worker<string, null, string>(
        stageQueueName(this.stage),
        null,
        {
          connection: this.redis,
          prefix: this.prefix,
          autorun: false,
          name: `${hostname()}:${process.pid}`,
          lockDuration: settings.lockMs,
          stalledInterval: settings.stalledMs,
          maxStalledCount: settings.maxStalledCount,
        },
        noBlockingConnection,
      );
      w.on("error", this.onError);
      void w.startStalledCheckTimer();
      this.bullWorker = w;
    }
    return this.bullWorker;
  }

  async close(): Promise<void> {
    await this.bullWorker?.close(true);
    await this.queue.close();
  }
}
