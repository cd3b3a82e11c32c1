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
 * `mem://name`: an in-process store for tests and for small pipelines that never touch disk.
 * Stores opened with the same URL share one table (kept in a module-level Map), so a test can
 * write through one store and read through another, as it would with a real bucket.
 */

interface MemObject {
  data: Uint8Array;
  contentEncoding?: "gzip";
  contentType?: string;
  cacheControl?: string;
  /** Bumped on every put, so the etag changes even when the bytes do not. */
  generation: number;
}

const tables = new Map<string, Map<string, MemObject>>();
let nextGeneration = 1;

export class MemoryKvStore implements KvStore {
  readonly url: string;
  readonly capabilities: KvStoreCapabilities = {
    write: true,
    list: true,
    rangeReads: true,
    suffixReads: true,
  };
  private readonly objects: Map<string, MemObject>;

  constructor(url: string) {
    this.url = normalizeMemUrl(url);
    let table = tables.get(this.url);
    if (table === undefined) {
      table = new Map();
      tables.set(this.url, table);
    }
    this.objects = table;
  }

  async get(key: string, options: GetOptions = {}): Promise<StoredObject | undefined> {
    checkKey(this.url, key);
    throwIfAborted(options.signal, `cannot read ${this.url}/${key}`);
    const object = this.objects.get(key);
    if (object === undefined) return undefined;
    const size = object.data.length;
    let { start, end } = { start: 0, end: size };
    if (options.range !== undefined) {
      checkRange(options.range, `${this.url}/${key}`);
      ({ start, end } = rangeBounds(options.range, size));
    }
    return {
      // Copies in and out: a caller reusing its buffer must not change what is stored.
      data: object.data.slice(start, end),
      contentEncoding: object.contentEncoding,
      contentType: object.contentType,
      totalSize: size,
    };
  }

  async put(key: string, data: Uint8Array, options: PutOptions = {}): Promise<void> {
    checkKey(this.url, key);
    throwIfAborted(options.signal, `cannot write ${this.url}/${key}`);
    this.objects.set(key, {
      data: data.slice(),
      contentEncoding: options.contentEncoding,
      contentType: options.contentType,
      cacheControl: options.cacheControl,
      generation: nextGeneration++,
    });
  }

  async stat(key: string, options: { signal?: AbortSignal } = {}): Promise<ObjectStat | undefined> {
    checkKey(this.url, key);
    throwIfAborted(options.signal, `cannot stat ${this.url}/${key}`);
    const object = this.objects.get(key);
    if (object === undefined) return undefined;
    return {
      size: object.data.length,
      contentEncoding: object.contentEncoding,
      etag: `"${object.generation}"`,
    };
  }

  async delete(key: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    checkKey(this.url, key);
    throwIfAborted(options.signal, `cannot delete ${this.url}/${key}`);
    this.objects.delete(key);
  }

  async *list(prefix: string, options: { signal?: AbortSignal } = {}): AsyncIterable<string> {
    checkPrefix(this.url, prefix);
    // Snapshot the keys so puts and deletes during the iteration do not disturb it.
    for (const key of [...this.objects.keys()]) {
      throwIfAborted(options.signal, `cannot list ${this.url}/${prefix}`);
      if (key.startsWith(prefix)) yield key;
    }
  }
}

/** Drops the shared contents of one `mem://` URL (tests use it to start clean). */
export function clearMemoryStore(url: string): void {
  tables.delete(normalizeMemUrl(url));
}

function normalizeMemUrl(url: string): string {
  const match = /^mem:\/\/(.*?)\/*$/i.exec(url);
  if (match === null || match[1] === "") {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `invalid memory store URL ${JSON.stringify(url)}: expected mem://<name>`,
    );
  }
  return `mem://${match[1]}`;
}
