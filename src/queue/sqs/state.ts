import { randomBytes } from "node:crypto";
import { type Dirent, linkSync, mkdirSync, unlinkSync, writeFileSync } from "node:fs";
import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { readBytes } from "../../storage/io.js";
import type { KvStore } from "../../storage/kvstore.js";
import { openStore } from "../../storage/registry.js";

/**
 * Where the sqs:// queue keeps what SQS cannot: which ids were ever enqueued (dedupe), which
 * are done and dead (exact per-stage counts, by id, so a task delivered twice still counts
 * once), lease owners (so a worker whose lease was taken over learns it: SQS accepts stale
 * receipt handles), dependency markers and job records. Any voxport store URL works
 * (`file://` on a shared filesystem, `mem://` in one process, object stores as drivers land).
 *
 * `createExclusive` is what makes dedupe and parent release exactly-once: on file:// it is an
 * atomic link(2) of a fully written temporary file (fails if the name exists). Other stores have
 * no conditional write yet, so there it is a check-then-put: a race between two enqueuers of the
 * same id can then send a task twice, which costs one repeated (idempotent) task and never a
 * wrong count, since done and dead records are keyed by id.
 */
export interface StateStore {
  readonly url: string;
  createExclusive(key: string, data: string): Promise<boolean>;
  put(key: string, data: string): Promise<void>;
  get(key: string): Promise<string | undefined>;
  delete(key: string): Promise<void>;
  list(prefix: string): AsyncIterable<string>;
}

const isTmp = (name: string) => name.startsWith(".tmp-");
const errno = (e: unknown) => (e as NodeJS.ErrnoException)?.code;

/**
 * file:// state, straight on the filesystem: exclusive creates by link(2), atomic puts by
 * rename, and folders are never removed (a store that prunes empty folders races with a
 * concurrent write into the same folder, and `leases/` is written and emptied all the time).
 */
class FileStateStore implements StateStore {
  constructor(
    readonly url: string,
    private readonly root: string,
  ) {}

  private tmp(dir: string): string {
    return join(dir, `.tmp-${randomBytes(8).toString("hex")}`);
  }

  async createExclusive(key: string, data: string): Promise<boolean> {
    const path = join(this.root, key);
    mkdirSync(dirname(path), { recursive: true });
    const tmp = this.tmp(dirname(path));
    writeFileSync(tmp, data);
    try {
      linkSync(tmp, path);
      return true;
    } catch (e) {
      if (errno(e) === "EEXIST") return false;
      throw e;
    } finally {
      unlinkSync(tmp);
    }
  }

  async put(key: string, data: string): Promise<void> {
    const path = join(this.root, key);
    await mkdir(dirname(path), { recursive: true });
    const tmp = this.tmp(dirname(path));
    await writeFile(tmp, data);
    await rename(tmp, path);
  }

  async get(key: string): Promise<string | undefined> {
    try {
      return await readFile(join(this.root, key), "utf8");
    } catch (e) {
      if (errno(e) === "ENOENT" || errno(e) === "ENOTDIR") return undefined;
      throw e;
    }
  }

  async delete(key: string): Promise<void> {
    await rm(join(this.root, key), { force: true });
  }

  async *list(prefix: string): AsyncIterable<string> {
    const cut = prefix.lastIndexOf("/") + 1;
    const walk = async function* (root: string, dirKey: string): AsyncGenerator<string> {
      let entries: Dirent[];
      try {
        entries = await readdir(join(root, dirKey), { withFileTypes: true });
      } catch (e) {
        if (errno(e) === "ENOENT" || errno(e) === "ENOTDIR") return;
        throw e;
      }
      for (const e of entries) {
        const key = `${dirKey}${e.name}`;
        if (e.isDirectory()) yield* walk(root, `${key}/`);
        else if (!isTmp(e.name) && key.startsWith(prefix)) yield key;
      }
    };
    yield* walk(this.root, prefix.slice(0, cut));
  }
}

class KvStateStore implements StateStore {
  constructor(private readonly store: KvStore) {}

  get url(): string {
    return this.store.url;
  }

  async createExclusive(key: string, data: string): Promise<boolean> {
    if ((await this.store.stat(key)) !== undefined) return false;
    await this.put(key, data);
    return true;
  }

  async put(key: string, data: string): Promise<void> {
    await this.store.put(key, new TextEncoder().encode(data), { contentType: "application/json" });
  }

  async get(key: string): Promise<string | undefined> {
    const b = await readBytes(this.store, key);
    return b === undefined ? undefined : new TextDecoder().decode(b);
  }

  async delete(key: string): Promise<void> {
    await this.store.delete(key);
  }

  async *list(prefix: string): AsyncIterable<string> {
    yield* this.store.list(prefix);
  }
}

export function openStateStore(url: string): StateStore {
  const store = openStore(url);
  if (store.url.startsWith("file://"))
    return new FileStateStore(store.url, fileURLToPath(store.url));
  return new KvStateStore(store);
}
