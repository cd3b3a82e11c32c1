import { z } from "zod";
import { bossJobSchema } from "../boss/job.js";
import { VoxportError } from "../errors.js";
import { type GraphMessageV1, graphMessage } from "../graph/tasks.js";
import { PUBLISH_ID } from "../tasks/deps.js";
import type { IngestTask } from "../tasks/job.js";
import type { QueueItem } from "./queue.js";

/**
 * Task messages on a queue: small versioned JSON that names the job by its destination URL
 * (workers read `<destination>/.voxport/job.json` once and cache it) and the task by its box.
 *
 *   {"v":1,"kind":"ingest","job":"s3://bucket/em","task":{"id":"s0_0-64_0-64_0-16","stage":0,
 *    "box":{"min":[0,0,0],"max":[64,64,16]}}}
 *   {"v":1,"kind":"publish","job":"s3://bucket/em"}
 *
 * BOSS sinks (src/boss) have no store for a job file, so their messages carry the job whole:
 *
 *   {"v":1,"kind":"boss-block","job":"boss://coll/exp/ch","boss":{…BossJob…},
 *    "task":{"id":"b_0-2000_0-1024_0-16","box":{"min":[0,0,0],"max":[2000,1024,16]}}}
 *   {"v":1,"kind":"boss-verify","job":"boss://coll/exp/ch","boss":{…}}
 *
 * ChunkedGraph chunk jobs (src/graph/tasks.ts) name their graph store; the job is in it:
 *
 *   {"v":1,"kind":"graph","store":"bigtable://lab/pcg/fly","layer":2,"chunk":[3,1,0]}
 *
 * Validated on receipt; an unknown version or kind, or a malformed body, is a MessageError,
 * which workers dead-letter at once (retrying cannot fix it).
 */
export const MESSAGE_VERSION = 1;

const vec3 = z.tuple([z.number().int(), z.number().int(), z.number().int()]);

const ingestMessage = z.object({
  v: z.literal(1),
  kind: z.literal("ingest"),
  job: z.string().min(1),
  task: z.object({
    id: z.string().regex(/^[A-Za-z0-9_.-]+$/),
    stage: z.number().int().min(0),
    box: z.object({ min: vec3, max: vec3 }),
  }),
});

const publishMessage = z.object({
  v: z.literal(1),
  kind: z.literal("publish"),
  job: z.string().min(1),
});

const bossBlockMessage = z.object({
  v: z.literal(1),
  kind: z.literal("boss-block"),
  job: z.string().min(1),
  boss: bossJobSchema,
  task: z.object({
    id: z.string().regex(/^[A-Za-z0-9_.-]+$/),
    box: z.object({ min: vec3, max: vec3 }),
  }),
});

const bossVerifyMessage = z.object({
  v: z.literal(1),
  kind: z.literal("boss-verify"),
  job: z.string().min(1),
  boss: bossJobSchema,
});

export type BossBlockMessageV1 = z.infer<typeof bossBlockMessage>;
export type BossVerifyMessageV1 = z.infer<typeof bossVerifyMessage>;
export type IngestMessageV1 = z.infer<typeof ingestMessage>;
export type PublishMessageV1 = z.infer<typeof publishMessage>;
export type TaskMessage =
  | IngestMessageV1
  | PublishMessageV1
  | BossBlockMessageV1
  | BossVerifyMessageV1
  | GraphMessageV1;

export const MESSAGE_KINDS = ["ingest", "publish", "boss-block", "boss-verify", "graph"] as const;

export class MessageError extends VoxportError {
  constructor(message: string) {
    super("INVALID_ARGUMENT", message);
    this.name = "MessageError";
  }
}

export function parseMessage(body: string): TaskMessage {
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch (e) {
    throw new MessageError(
      `task message is not JSON (${(e as Error).message}): ${body.slice(0, 200)}`,
    );
  }
  const head = raw as { v?: unknown; kind?: unknown };
  if (typeof raw !== "object" || raw === null) {
    throw new MessageError(`task message is not a JSON object: ${body.slice(0, 200)}`);
  }
  if (head.v !== MESSAGE_VERSION) {
    throw new MessageError(
      `task message version ${JSON.stringify(head.v)} is not supported (this voxport reads v${MESSAGE_VERSION}); ` +
        "upgrade the workers or re-enqueue with this version",
    );
  }
  const schemas: Record<string, z.ZodType> = {
    ingest: ingestMessage,
    publish: publishMessage,
    "boss-block": bossBlockMessage,
    "boss-verify": bossVerifyMessage,
    graph: graphMessage,
  };
  const schema = typeof head.kind === "string" ? schemas[head.kind] : undefined;
  if (!schema) {
    throw new MessageError(
      `unknown task kind ${JSON.stringify(head.kind)}; known kinds: ${MESSAGE_KINDS.join(", ")}`,
    );
  }
  const r = schema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new MessageError(
      `invalid ${String(head.kind)} task message: ${issue.path.join(".") || "(root)"}: ${issue.message}`,
    );
  }
  return r.data as TaskMessage;
}

export function ingestItem(destination: string, task: IngestTask): QueueItem {
  const message: IngestMessageV1 = {
    v: 1,
    kind: "ingest",
    job: destination,
    task: { id: task.id, stage: task.stage, box: { min: task.box.min, max: task.box.max } },
  };
  return { id: task.id, stage: task.stage, body: JSON.stringify(message) };
}

/** The publish step is queued as one more stage after the job's last. */
export function publishItem(destination: string, stages: number): QueueItem {
  const message: PublishMessageV1 = { v: 1, kind: "publish", job: destination };
  return { id: PUBLISH_ID, stage: stages, body: JSON.stringify(message) };
}
