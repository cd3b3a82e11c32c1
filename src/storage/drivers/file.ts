import { randomBytes } from "node:crypto";
import { constants, type Dirent } from "node:fs";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { VoxportError } from "../../errors.js";
import { throwIfAborted } from "../abort.js";
import { checkKey, checkPrefix } from "../keys.js";
import type {
  GetOptions,
  KvStore,
  KvStoreCapabilities,
  ObjectStat,
  PutOptions,
  StoredObject,
} from "../kvstore.js";
import { checkRange, rangeBounds } from "../range.js";

/**
 * Local files. A filesystem has no object metadata, so gzip'd objects follow the
 * CloudVolume/CloudFiles convention: they are stored as `<key>.gz` and callers never see the
 * suffix (precomputed-format.md 3.5). Content type and cache control are not kept.
 *
 * Limits that come with the medium: "a" and "a/b" cannot both be keys (a file is not a
 * directory), and concurrent puts of the same key with *different* encodings may leave neither
 * variant (each put removes the other's stale file). Same-encoding concurrent puts are safe.
 */

export interface FileStoreOptions {
  /** fsync each file before renaming it into place (durable across power loss; slower). */
  fsync?: boolean;
}

const GZ = ".gz";
// Matches the temp names made by tempName() below, so list() can hide them.
const TEMP_NAME = /^\..*\.tmp-\d+-[0-9a-f]+$/;

export class FileKvStore implements KvStore {
  readonly url: string;
  /** Absolute filesystem path of the root directory. */
  readonly root: string;
  readonly capabilities: KvStoreCapabilities = {
    write: true,
    list: true,
    rangeReads: true,
    suffixReads: true,
  };
  private readonly fsync: boolean;

  /** `location`: a plain path (relative or absolute), `file:///abs/path` or `file://./rel`. */
  constructor(location: string, options: FileStoreOptions = {}) {
    this.root = fileLocationToPath(location);
    this.url = pathToFileURL(this.root).href.replace(/\/+$/, "");
    this.fsync = options.fsync ?? false;
  }

  async get(key: string, options: GetOptions = {}): Promise<StoredObject | undefined> {
    const file = this.pathOf(key);
    throwIfAborted(options.signal, `cannot read ${file}`);
    if (options.range !== undefined) return this.getRange(key, file, options);
    for (const [candidate, contentEncoding] of variants(file)) {
      let data: Uint8Array;
      try {
        data = new Uint8Array(await fs.readFile(candidate, { signal: options.signal }));
      } catch (e) {
        if (isMissing(e)) continue;
        throw storageError("read", candidate, e, options.signal);
      }
      return { data, contentEncoding, totalSize: data.length };
    }
    return undefined;
  }

  /** Ranged reads go through a file handle so only the requested bytes are read. */
  private async getRange(
    key: string,
    file: string,
    options: GetOptions,
  ): Promise<StoredObject | undefined> {
    const range = options.range!;
    checkRange(range, `${this.url}/${key}`);
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(file, constants.O_RDONLY);
    } catch (e) {
      if (!isMissing(e)) throw storageError("read", file, e, options.signal);
      if ((await this.statFile(file + GZ, "read")) === undefined) return undefined;
      // The gzip stream cannot be sliced without decoding it whole (format doc 3.5).
      throw new VoxportError(
        "UNSUPPORTED",
        `cannot read a byte range of ${this.url}/${key}: it is stored gzip-encoded (${file}${GZ})`,
      );
    }
    try {
      const size = (await handle.stat()).size;
      const { start, end } = rangeBounds(range, size);
      const data = new Uint8Array(end - start);
      let done = 0;
      // read() may return fewer bytes than asked; loop until the range is filled or EOF.
      while (done < data.length) {
        throwIfAborted(options.signal, `cannot read ${file}`);
        const { bytesRead } = await handle.read(data, done, data.length - done, start + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      return { data: data.subarray(0, done), totalSize: size };
    } catch (e) {
      throw storageError("read", file, e, options.signal);
    } finally {
      await handle.close();
    }
  }

  async put(key: string, data: Uint8Array, options: PutOptions = {}): Promise<void> {
    const plain = this.pathOf(key);
    const gzip = options.contentEncoding === "gzip";
    const target = gzip ? plain + GZ : plain;
    const stale = gzip ? plain : plain + GZ;
    throwIfAborted(options.signal, `cannot write ${target}`);
    const dir = path.dirname(target);
    // A concurrent delete may prune the (then empty) folder between our mkdir and our write;
    // the folder is simply made again, a few times at most.
    for (let attempt = 1; ; attempt++) {
      try {
        await this.writeAtomically(dir, target, data, options.signal);
        break;
      } catch (e) {
        if (attempt < 4 && isMissing(e) && !options.signal?.aborted) continue;
        throw storageError("write", target, e, options.signal);
      }
    }
    // Only after the new object is in place, so a reader never finds neither variant.
    await this.removeFile(stale, "write", options.signal);
  }

  /** Write beside the target, then rename: rename within one directory is atomic, so readers
   * see the old file or the new one, never a partial one. */
  private async writeAtomically(
    dir: string,
    target: string,
    data: Uint8Array,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    await fs.mkdir(dir, { recursive: true });
    const temp = path.join(dir, tempName(path.basename(target)));
    try {
      const handle = await fs.open(temp, "wx");
      try {
        await handle.writeFile(data, { signal });
        if (this.fsync) await handle.sync();
      } finally {
        await handle.close();
      }
      await fs.rename(temp, target);
    } catch (e) {
      await fs.rm(temp, { force: true }).catch(() => {});
      throw e;
    }
  }

  async stat(key: string, options: { signal?: AbortSignal } = {}): Promise<ObjectStat | undefined> {
    const file = this.pathOf(key);
    throwIfAborted(options.signal, `cannot stat ${file}`);
    for (const [candidate, contentEncoding] of variants(file)) {
      const stats = await this.statFile(candidate, "stat");
      if (stats === undefined) continue;
      // Size, inode and mtime change on every put (each put is a new inode).
      const etag = `"${stats.ino.toString(16)}-${stats.size.toString(16)}-${stats.mtimeNs.toString(16)}"`;
      return { size: Number(stats.size), contentEncoding, etag };
    }
    return undefined;
  }

  async delete(key: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    const file = this.pathOf(key);
    throwIfAborted(options.signal, `cannot delete ${file}`);
    await this.removeFile(file, "delete", options.signal);
    await this.removeFile(file + GZ, "delete", options.signal);
    await this.pruneEmptyParents(file);
  }

  /** Object stores have no folders; keep the local view the same by removing folders a delete
   * left empty, up to (not including) the store's root. */
  private async pruneEmptyParents(file: string): Promise<void> {
    let dir = path.dirname(file);
    while (dir.startsWith(this.root + path.sep)) {
      try {
        await fs.rmdir(dir);
      } catch {
        return; // not empty (or gone, or racing another writer): stop here
      }
      dir = path.dirname(dir);
    }
  }

  async *list(prefix: string, options: { signal?: AbortSignal } = {}): AsyncIterable<string> {
    checkPrefix(this.url, prefix);
    // Start the walk at the deepest directory the prefix names in full; filter the rest by name.
    const cut = prefix.lastIndexOf("/") + 1;
    yield* this.walk(prefix.slice(0, cut), prefix, options.signal);
  }

  /**
   * Delete temporary files (`.<name>.tmp-<pid>-<hex>`) that a killed writer left: those whose
   * process no longer runs on this host, and any older than an hour. On a file system shared
   * by several hosts, a live writer elsewhere whose pid is free here can lose its temp file;
   * its rename then fails and the task is retried, so nothing is corrupted.
   */
  async sweep(prefix: string, options: { signal?: AbortSignal } = {}): Promise<number> {
    checkPrefix(this.url, prefix);
    const cut = prefix.lastIndexOf("/") + 1;
    return this.sweepDir(path.join(this.root, prefix.slice(0, cut)), options.signal);
  }

  private async sweepDir(dir: string, signal: AbortSignal | undefined): Promise<number> {
    throwIfAborted(signal, `cannot sweep ${dir}`);
    let entries: Dirent[];
    try {
      entries = await fs.readdir(dir, { withFileTypes: true });
    } catch (e) {
      if (isMissing(e)) return 0;
      throw storageError("sweep", dir, e, signal);
    }
    let removed = 0;
    const now = Date.now();
    for (const entry of entries) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        removed += await this.sweepDir(file, signal);
        continue;
      }
      if (!TEMP_NAME.test(entry.name)) continue;
      const pid = Number(/\.tmp-(\d+)-/.exec(entry.name)?.[1]);
      const age = now - ((await fs.stat(file).catch(() => undefined))?.mtimeMs ?? now);
      if (age > 3_600_000 || !processAlive(pid)) {
        await fs.rm(file, { force: true });
        removed++;
      }
    }
    return removed;
  }

  private async *walk(
    dirKey: string,
    prefix: string,
    signal: AbortSignal | undefined,
  ): AsyncGenerator<string> {
    const dir = path.join(this.root, dirKey);
    throwIfAborted(signal, `cannot list ${dir}`);
    let entries: Dirent[];
    try {
      entries = await fs.readdir(dir, { withFileTypes: true });
    } catch (e) {
      if (isMissing(e)) return;
      throw storageError("list", dir, e, signal);
    }
    // Keys are reported without `.gz`; a key present as both (an interrupted put) appears once.
    const seen = new Set<string>();
    for (const entry of entries) {
      if (TEMP_NAME.test(entry.name)) continue;
      const key = dirKey + entry.name;
      if (await this.isDirectory(entry, dir)) {
        if (key.startsWith(prefix) || prefix.startsWith(`${key}/`)) {
          yield* this.walk(`${key}/`, prefix, signal);
        }
        continue;
      }
      const name = entry.name.endsWith(GZ) ? entry.name.slice(0, -GZ.length) : entry.name;
      const objectKey = dirKey + name;
      if (name === "" || seen.has(name) || !objectKey.startsWith(prefix)) continue;
      seen.add(name);
      yield objectKey;
    }
  }

  private async isDirectory(entry: Dirent, dir: string): Promise<boolean> {
    if (!entry.isSymbolicLink()) return entry.isDirectory();
    // Follow symlinks: datasets are often assembled from linked folders.
    const stats = await fs.stat(path.join(dir, entry.name)).catch(() => undefined);
    return stats?.isDirectory() ?? false;
  }

  private async statFile(file: string, op: string) {
    try {
      const stats = await fs.stat(file, { bigint: true });
      return stats.isFile() ? stats : undefined;
    } catch (e) {
      if (isMissing(e)) return undefined;
      throw storageError(op, file, e);
    }
  }

  private async removeFile(file: string, op: string, signal?: AbortSignal): Promise<void> {
    try {
      await fs.unlink(file);
    } catch (e) {
      if (isMissing(e)) return;
      throw storageError(op, file, e, signal);
    }
  }

  /** Filesystem path of a key; refuses keys that would leave the root. */
  private pathOf(key: string): string {
    checkKey(this.url, key);
    return path.join(this.root, ...key.split("/"));
  }
}

/** Accepts a plain path, `file:///abs/path`, or the relative `file://./rel` form. */
export function fileLocationToPath(location: string): string {
  if (!/^file:\/\//i.test(location)) return path.resolve(location);
  const rest = location.slice("file://".length);
  if (rest.startsWith("/")) {
    try {
      return path.resolve(fileURLToPath(`file://${rest}`));
    } catch (e) {
      throw new VoxportError("INVALID_ARGUMENT", `invalid file URL ${location}`, { cause: e });
    }
  }
  // `file://./out/em` and `file://out/em` are not valid RFC 8089 URLs, but CloudFiles accepts
  // them as paths relative to the working directory, and so do we.
  if (rest === "") {
    throw new VoxportError("INVALID_ARGUMENT", `invalid file URL ${location}: empty path`);
  }
  return path.resolve(process.cwd(), rest);
}

function* variants(file: string): Generator<[string, "gzip" | undefined]> {
  // Plain first: after a plain put, a leftover `.gz` from an interrupted put must not win.
  yield [file, undefined];
  yield [file + GZ, "gzip"];
}

function tempName(base: string): string {
  return `.${base}.tmp-${process.pid}-${randomBytes(6).toString("hex")}`;
}

function errnoCode(e: unknown): string | undefined {
  return typeof e === "object" && e !== null && "code" in e && typeof e.code === "string"
    ? e.code
    : undefined;
}

/**
 * ENOENT: no such file. ENOTDIR: a parent is a regular file, so the key cannot exist.
 * EISDIR: the key names a directory, which is not an object.
 */
function isMissing(e: unknown): boolean {
  const code = errnoCode(e);
  return code === "ENOENT" || code === "ENOTDIR" || code === "EISDIR";
}

const REASONS: Record<string, string> = {
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EROFS: "read-only file system",
  ENOTDIR: "not a directory",
  EISDIR: "is a directory",
  EEXIST: "already exists",
  ENOSPC: "no space left on device",
  EDQUOT: "disk quota exceeded",
  EMFILE: "too many open files",
  ENAMETOOLONG: "name too long",
  EIO: "I/O error",
};

/** Turns a Node fs error into a STORAGE error naming the operation and the full path. */
function storageError(op: string, file: string, e: unknown, signal?: AbortSignal): VoxportError {
  if (e instanceof VoxportError) return e;
  if (signal?.aborted) {
    return new VoxportError("ABORTED", `cannot ${op} ${file}: aborted`, { cause: signal.reason });
  }
  const code = errnoCode(e);
  const reason =
    (code && REASONS[code]) ?? (code ? code : e instanceof Error ? e.message : String(e));
  return new VoxportError("STORAGE", `cannot ${op} ${file}: ${reason}`, { cause: e });
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}
