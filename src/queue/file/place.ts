import { randomBytes } from "node:crypto";
import { linkSync, mkdirSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { QueueItem } from "../queue.js";
import { FREE, qName } from "./names.js";

/**
 * Enqueue's file work for `fq://` (see queue.ts for the layout): one batch file holding the
 * messages, then per task a hard link in `q/` and the id claim in `ids/<shard>/`. Plain and
 * synchronous so that it runs the same on the caller's thread and on placement threads.
 */

/** Tasks per batch file: ext4 allows 65,000 links per inode, each task takes two. */
export const BATCH = 10_000;

export function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException)?.code;
}

/** 256 subfolders for ids/: smaller directories make the per-task claim cheaper at millions. */
export function shard(id: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  return ((h >>> 0) & 0xff).toString(16).padStart(2, "0");
}

export function token(): string {
  return randomBytes(6).toString("hex");
}

/** Writes one batch file under `root` and places its tasks; returns how many ids were new.
 * `made` remembers the id shards known to exist. */
export function placeBatch(root: string, items: readonly QueueItem[], made: Set<string>): number {
  const parts: Buffer[] = [];
  const locs: string[] = [];
  let offset = 0;
  for (const item of items) {
    const b = Buffer.from(item.body);
    parts.push(b);
    locs.push(`${offset}.${b.length}`);
    offset += b.length;
  }
  const q = join(root, "q");
  const batch = join(root, "batches", `${process.pid}-${token()}`);
  writeFileSync(batch, Buffer.concat(parts));
  const now = Date.now();
  let n = 0;
  try {
    for (let i = 0; i < items.length; i++) {
      const { id, stage } = items[i];
      const entry = join(q, qName({ ts: now, stage, attempt: 0, token: FREE, loc: locs[i], id }));
      try {
        linkSync(batch, entry);
      } catch (e) {
        // The same id, pending under the very same name (enqueued again this millisecond).
        if (errno(e) === "EEXIST") continue;
        throw e;
      }
      const ids = join(root, "ids", shard(id));
      if (!made.has(ids)) {
        mkdirSync(ids, { recursive: true });
        made.add(ids);
      }
      try {
        linkSync(batch, join(ids, id));
        n++;
      } catch (e) {
        if (errno(e) !== "EEXIST") throw e;
        // Known id: take the entry back (if a worker leased it meanwhile, it runs twice).
        try {
          unlinkSync(entry);
        } catch (e2) {
          if (errno(e2) !== "ENOENT") throw e2;
        }
      }
    }
  } finally {
    unlinkSync(batch); // the tasks' links keep the data
  }
  return n;
}
