import { createHash } from "node:crypto";
import type { BossBlockMessageV1, BossVerifyMessageV1 } from "../queue/message.js";
import type { ParentLink, QueueItem } from "../queue/queue.js";
import { type BossJob, type BossTask, bossUrl, countBossTasks } from "./job.js";

/**
 * Queue items of a BOSS job. The whole job travels in each message (a few hundred bytes, no
 * secret): BOSS has no store where a job file could wait for the workers. Every block task is
 * a child of one verify step, which reads a random slice back once all blocks are posted.
 */

export const VERIFY_ID = "verify";

/** Tag of a BOSS job on a shared queue and in logs (host and channel), like jobTag for datasets. */
export function bossJobTag(job: BossJob): string {
  const where = `${job.target.protocol}://${job.target.host}/${bossUrl(job)}`;
  return createHash("sha256").update(where).digest("hex").slice(0, 8);
}

export function bossBlockItem(job: BossJob, task: BossTask): QueueItem {
  const message: BossBlockMessageV1 = {
    v: 1,
    kind: "boss-block",
    job: bossUrl(job),
    boss: job,
    task: { id: task.id, box: { min: task.box.min, max: task.box.max } },
  };
  return { id: `${bossJobTag(job)}.${task.id}`, stage: 0, body: JSON.stringify(message) };
}

export function bossVerifyItem(job: BossJob): QueueItem {
  const message: BossVerifyMessageV1 = { v: 1, kind: "boss-verify", job: bossUrl(job), boss: job };
  return { id: `${bossJobTag(job)}.${VERIFY_ID}`, stage: 1, body: JSON.stringify(message) };
}

/** What completing a block task releases: the verify step, once every block task is done. */
export function bossParentLinks(job: BossJob): ParentLink[] {
  if (!job.verify) return [];
  return [{ item: bossVerifyItem(job), expected: countBossTasks(job) }];
}
