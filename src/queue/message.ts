import { z } from "zod";
import { VoxportError } from "../errors.js";
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

export type IngestMessageV1 = z.infer<typeof ingestMessage>;
export type PublishMessageV1 = z.infer<typeof publishMessage>;
export type TaskMessage = IngestMessageV1 | PublishMessageV1;

export const MESSAGE_KINDS = ["ingest", "publish"] as const;

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
  const schema =
    head.kind === "ingest" ? ingestMessage : head.kind === "publish" ? publishMessage : undefined;
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
