import { randomUUID } from "node:crypto";
import type { VoxportError } from "../errors.js";
import { MessageError, parseMessage, type TaskMessage } from "../queue/message.js";
import type { Lease, ParentLink, QueueItem } from "../queue/queue.js";
import { readJson } from "../storage/io.js";
import type { KvStore } from "../storage/kvstore.js";
import { openStore } from "../storage/registry.js";
import { childrenOf } from "../tasks/deps.js";
import { DONE_PREFIX, type IngestJob, JOB_KEY } from "../tasks/job.js";
import type { IngestHandler, TaskOutcome } from "../worker/handler.js";
import { type Confinement, checkAllowed } from "./confine.js";
import type { Forwarder } from "./forward.js";

/**
 * `POST /tasks`: one voxport task message, run exactly as a queue worker runs a leased one
 * (worker/handler.ts `IngestHandler.handle`: same job cache, same skip-if-done marker, same
 * task code). What a queue does after a task — count it toward its parents and release the ones
 * it completes — is done here from the destination's done markers, since a push delivery has no
 * queue to ask: a parent is ready once every child it waits for has its marker. Every child
 * writes its marker before it checks, so the last child to finish always sees the parent ready
 * (two may both see it: forwarding is idempotent — queues dedupe by id, and a duplicate
 * delivery finds the done marker and skips).
 */

export interface TaskRun {
  message: TaskMessage;
  outcome: TaskOutcome;
  /** Parents (next-stage tasks, or the publish step) whose inputs are now all done. */
  ready: QueueItem[];
  forwarded: number;
}

/** Message id, task id: what a lease needs besides the body. */
function leaseFor(body: string, message: TaskMessage, attempt: number): Lease {
  const id = "task" in message ? message.task.id : message.kind;
  const stage = message.kind === "ingest" ? message.task.stage : 0;
  return { id, stage, body, token: randomUUID(), attempt, expiresAt: Number.POSITIVE_INFINITY };
}

async function isReady(store: KvStore, job: IngestJob, link: ParentLink): Promise<boolean> {
  const parent = parseMessage(link.item.body);
  // BOSS parents (the verify step) are counted by a queue only: not released here.
  if (parent.kind !== "ingest" && parent.kind !== "publish") return false;
  if (parent.kind === "publish") {
    // Children: every task of the last stage; count their markers.
    const prefix = `${DONE_PREFIX}s${job.stages.length - 1}_`;
    let n = 0;
    for await (const key of store.list(DONE_PREFIX)) if (key.startsWith(prefix)) n++;
    return n >= link.expected;
  }
  const kids = childrenOf(job.info.scales, job.stages, parent.task);
  for (const k of kids) {
    if ((await store.stat(`${DONE_PREFIX}${k.id}`)) === undefined) return false;
  }
  return kids.length === link.expected;
}

export class TaskRunner {
  constructor(
    private readonly handler: IngestHandler,
    private readonly confinement: Confinement,
    private readonly forwarder?: Forwarder,
  ) {}

  /** Parses and confines `body` (a task message as text). Throws MessageError / 403 errors. */
  parse(body: string): TaskMessage {
    const message = parseMessage(body);
    if (message.kind === "graph") {
      // Graph stores (level://, bigtable://) are not object-store prefixes that --allow can
      // confine, and an embedded store belongs to one process: graph jobs run on `voxport work`.
      throw new MessageError(
        "graph chunk tasks are not accepted over HTTP; run them with voxport work",
      );
    }
    checkAllowed(this.confinement, message.job, "job");
    // BOSS messages carry their job, source included: confined before anything runs.
    if ("boss" in message) checkAllowed(this.confinement, message.boss.source.input, "boss.source");
    return message;
  }

  async run(body: string, message: TaskMessage, attempt = 1): Promise<TaskRun> {
    if (message.kind === "graph") throw new MessageError("graph chunk tasks run on voxport work");
    const store = openStore(message.job);
    // The job's source is named inside job.json: it must be allowed too, before the task
    // reads it (job.json itself lies in the allowed destination).
    const raw =
      message.kind === "ingest" || message.kind === "publish"
        ? ((await readJson(store, JOB_KEY).catch((e) => {
            if ((e as VoxportError).code === "NOT_FOUND") return undefined;
            throw e;
          })) as IngestJob | undefined)
        : undefined;
    if (raw?.source?.input !== undefined)
      checkAllowed(this.confinement, raw.source.input, "job source");
    const outcome = await this.handler.handle(leaseFor(body, message, attempt));
    const ready: QueueItem[] = [];
    if (raw && outcome.parents.length) {
      for (const link of outcome.parents) {
        if (await isReady(store, raw, link)) ready.push(link.item);
      }
    }
    const forwarded = ready.length && this.forwarder ? await this.forwarder.send(ready) : 0;
    return { message, outcome, ready, forwarded };
  }
}

export { MessageError };
