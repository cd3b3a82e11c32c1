/**
 * Image stacks read straight from object stores and web servers: `s3://`, `gs://`, `swift://`,
 * `http(s)://` (and `file://`, `mem://`), through the KvStore of the URL. Nothing is staged on
 * disk: headers are probed with small ranged reads, and each slice is fetched into memory when a
 * read needs it (sharp decodes from the Buffer), with a small LRU cache of encoded slices so that
 * tasks sharing a slice do not all download it.
 *
 * Which objects are slices (`input` is a URL):
 *  - `…/prefix` (or `…/prefix/`): the image files directly under the prefix, natural sort;
 *  - `…/prefix/s_*.png` or `…/prefix/s%04d.png`: a glob or printf pattern on the last part, as
 *    for local folders;
 *  - `…/prefix/one.tif`: a single slice;
 *  - with `filter`: every object under the prefix (recursively) whose name relative to the URL
 *    matches the regular expression from its start (Python's `re.match`, as the HBP image
 *    service's fetch_input; the end is not anchored) and has an image extension. No match is an
 *    INVALID_SOURCE error before any work, naming the URL, the regex and a few names seen.
 * `zRegex` orders them as for local stacks.
 *
 * Listing http(s) URLs: an OpenStack Swift URL (`…/v1/<account>/<container>[/prefix]`) is
 * listed through the public container listing (JSON, paged with `marker`, so more than Swift's
 * 10,000 names per page); any other server must answer `GET <url>/` with a plain-text listing,
 * one name per line (what HBP's fetch_input parsed).
 *
 * Environment: VOXPORT_SLICE_CACHE_BYTES bounds the cache of encoded slices per opened stack
 * (default 64 MiB).
 */
import { VoxportError } from "../errors.js";
import { throwIfAborted } from "../storage/abort.js";
import { readBytes } from "../storage/io.js";
import type { KvStore } from "../storage/kvstore.js";
import { openStore } from "../storage/registry.js";
import { isRetryableStatus, RetryableError, retryAfterMs, withRetries } from "../storage/retry.js";
import { mapLimit } from "./concurrency.js";
import { probeSlice, type SliceBytes } from "./decode.js";
import {
  type ImageStackOptions,
  type ImageStackSource,
  OPEN_CONCURRENCY,
  type SliceLoader,
  stackFromHeaders,
} from "./image-stack.js";
import {
  hasGlobChars,
  isImageFileName,
  parsePrintfPattern,
  type SliceFile,
  selectSlices,
} from "./slice-list.js";

/** First bytes fetched to read a slice's header. */
const HEAD_BYTES = 64 * 1024;

export function isUrlInput(input: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(input);
}

export interface RemoteObjects {
  /** Store rooted at the folder/prefix the names are relative to. */
  store: KvStore;
  /** Object names relative to `store.url`, as listed (unsorted) or the single name. */
  names: string[];
  /** Last path part as a glob/printf pattern (when the URL ends with one). */
  namePattern?: string;
  /** The URL named a single object. */
  single: boolean;
  /** For messages: the URL plus the filter. */
  description: string;
}

/**
 * The objects `input` names (see the file comment), before any image-specific selection.
 * `requireImages`: with a filter, count only image files as matches (the stack reader).
 */
export async function listRemoteObjects(
  input: string,
  opts: { filter?: string; signal?: AbortSignal; requireImages?: boolean } = {},
): Promise<RemoteObjects> {
  const { filter, signal } = opts;
  throwIfAborted(signal, `list ${input}`);
  // Connection options (`?endpoint=…`) stay with every store opened below.
  const q = input.indexOf("?");
  const query = q === -1 ? "" : input.slice(q);
  const url = (q === -1 ? input : input.slice(0, q)).replace(/\/+$/, "");
  const schemeEnd = url.indexOf("://") + 3;
  const lastSlash = url.lastIndexOf("/");
  const hasPath = lastSlash >= schemeEnd && url.indexOf("/", schemeEnd) !== -1;
  const last = hasPath ? url.slice(lastSlash + 1) : "";
  const parent = hasPath ? url.slice(0, lastSlash) : url;

  let regex: RegExp | undefined;
  if (filter !== undefined) {
    try {
      regex = new RegExp(`^(?:${filter})`, "u");
    } catch (e) {
      throw new VoxportError("INVALID_ARGUMENT", `--filter /${filter}/: ${(e as Error).message}`, {
        cause: e,
      });
    }
  }

  if (regex === undefined && last !== "" && (hasGlobChars(last) || isPrintf(last))) {
    const store = openStore(parent + query);
    const names = (await listAll(store, signal)).filter((n) => !n.includes("/"));
    return { store, names, namePattern: last, single: false, description: input };
  }
  if (regex === undefined && last !== "" && /\.[A-Za-z0-9]+$/.test(last)) {
    // Maybe one object (`…/slice.tif`, `…/volume.nii.gz`); if not, a prefix that has a dot.
    const store = openStore(parent + query);
    if ((await store.stat(last, { signal })) !== undefined) {
      return { store, names: [last], single: true, description: input };
    }
  }
  const store = openStore(url + query);
  const all = await listAll(store, signal);
  if (regex === undefined) {
    const names = all.filter((n) => !n.includes("/"));
    return { store, names, single: false, description: input };
  }
  const matched = all.filter((n) => regex.test(n));
  const usable = opts.requireImages ? matched.filter(isImageFileName) : matched;
  if (usable.length === 0) {
    const sample = all.slice(0, 5).map((n) => JSON.stringify(n));
    throw new VoxportError(
      "INVALID_SOURCE",
      `--filter /${filter}/ matches no ${opts.requireImages ? "image " : ""}object under ${store.url}` +
        (all.length === 0
          ? " (it holds no objects)"
          : ` (${all.length} object(s) listed, e.g. ${sample.join(", ")}; the regex is matched ` +
            "against names relative to that URL, from their start)") +
        (matched.length > 0 ? `; ${matched.length} matched but none is a PNG/TIFF/JPEG file` : ""),
    );
  }
  return { store, names: usable, single: false, description: `${input} (filter /${filter}/)` };
}

function isPrintf(name: string): boolean {
  try {
    return parsePrintfPattern(name) !== undefined;
  } catch {
    return false;
  }
}

/** Every object name under the store's root (recursive), relative to it. */
async function listAll(store: KvStore, signal?: AbortSignal): Promise<string[]> {
  if (store.capabilities.list) {
    const names: string[] = [];
    for await (const name of store.list("", { signal })) names.push(name);
    return names;
  }
  if (/^https?:\/\//i.test(store.url)) return listHttp(store.url, signal);
  throw new VoxportError("UNSUPPORTED", `cannot list ${store.url}: the store cannot list objects`);
}

/** Swift container listing over plain HTTP (public containers), or a plain-text index. */
async function listHttp(url: string, signal?: AbortSignal): Promise<string[]> {
  const u = new URL(url);
  const m = /^(\/v1\/[^/]+\/[^/]+)(?:\/(.*))?$/.exec(u.pathname);
  const get = (target: string) =>
    withRetries(
      `cannot list ${url}`,
      async (attemptSignal) => {
        const r = await fetch(target, { signal: attemptSignal, headers: { Accept: "*/*" } });
        if (r.status === 404 || r.status === 403 || r.status === 401) {
          await r.body?.cancel();
          throw new VoxportError(
            "NOT_FOUND",
            `cannot list ${url}: HTTP ${r.status} (not a public, listable container or folder)`,
          );
        }
        if (isRetryableStatus(r.status)) {
          await r.body?.cancel();
          throw new RetryableError(`HTTP ${r.status}`, retryAfterMs(r.headers.get("retry-after")));
        }
        if (!r.ok) {
          await r.body?.cancel();
          throw new VoxportError("STORAGE", `cannot list ${url}: HTTP ${r.status}`);
        }
        return { status: r.status, text: await r.text() };
      },
      { signal },
    );
  if (m !== null) {
    // Swift: <container>?format=json&prefix=<prefix>/&marker=<last>
    const container = `${u.origin}${m[1]}`;
    const prefix = m[2] ? `${decodeURIComponent(m[2])}/` : "";
    const names: string[] = [];
    let marker = "";
    for (;;) {
      const q = new URLSearchParams({ format: "json" });
      if (prefix) q.set("prefix", prefix);
      if (marker) q.set("marker", marker);
      const { status, text } = await get(`${container}?${q}`);
      if (status === 204 || text.trim() === "") break;
      const page = JSON.parse(text) as Array<{ name?: string; subdir?: string }>;
      if (!Array.isArray(page) || page.length === 0) break;
      for (const e of page) if (typeof e.name === "string") names.push(e.name.slice(prefix.length));
      marker = page[page.length - 1].name ?? "";
      if (marker === "") break;
    }
    return names;
  }
  const { text } = await get(`${url}/`);
  if (/^\s*</.test(text)) {
    throw new VoxportError(
      "UNSUPPORTED",
      `cannot list ${url}: the server answered with a web page, not a plain-text listing; ` +
        "give the URL of each slice, or use an s3://, gs:// or swift:// URL",
    );
  }
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== "");
}

/** The stack reader's entry for URL inputs (openImageStack dispatches here). */
export async function openRemoteImageStack(
  input: string,
  opts: ImageStackOptions = {},
): Promise<ImageStackSource> {
  const { signal } = opts;
  if (opts.pattern !== undefined) {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `image stack ${input}: put the file-name pattern at the end of the URL instead`,
    );
  }
  const found = await listRemoteObjects(input, {
    filter: opts.filter,
    signal,
    requireImages: true,
  });
  const { store } = found;
  const list = selectSlices(found.names, {
    dir: store.url,
    description: found.description,
    namePattern: found.namePattern,
    zRegex: opts.zRegex,
    pathOf: (name) => `${store.url}/${name}`,
  });
  const headers = await mapLimit(
    list.files,
    OPEN_CONCURRENCY,
    async (f) => probeSlice(f.path, await remoteBytes(store, f.name, f.path, signal)),
    { signal, what: `open ${list.description}` },
  );
  return stackFromHeaders(list.description, list.files, headers, new RemoteSliceLoader(store));
}

/** The first bytes of an object plus ranged access to the rest (whole when small or gzip'd). */
async function remoteBytes(
  store: KvStore,
  key: string,
  url: string,
  signal?: AbortSignal,
): Promise<SliceBytes> {
  const whole = (data: Uint8Array): SliceBytes => {
    const head = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    return {
      head,
      size: head.length,
      readAt: async (p, n) => head.subarray(p, p + n),
    };
  };
  if (!store.capabilities.rangeReads) return whole(await requireObject(store, key, url, signal));
  const first = await store.get(key, { range: { offset: 0, length: HEAD_BYTES }, signal });
  if (first === undefined) throw new VoxportError("NOT_FOUND", `${url} does not exist`);
  if (first.contentEncoding === "gzip") return whole(await requireObject(store, key, url, signal));
  const size = first.totalSize ?? (await store.stat(key, { signal }))?.size ?? first.data.length;
  if (first.data.length >= size) return whole(first.data);
  return {
    head: Buffer.from(first.data.buffer, first.data.byteOffset, first.data.byteLength),
    size,
    readAt: async (position, length) => {
      const part = await store.get(key, { range: { offset: position, length }, signal });
      if (part === undefined) throw new VoxportError("NOT_FOUND", `${url} disappeared`);
      return Buffer.from(part.data.buffer, part.data.byteOffset, part.data.byteLength);
    },
  };
}

async function requireObject(
  store: KvStore,
  key: string,
  url: string,
  signal?: AbortSignal,
): Promise<Uint8Array> {
  const data = await readBytes(store, key, { signal });
  if (data === undefined) throw new VoxportError("NOT_FOUND", `${url} does not exist`);
  return data;
}

/**
 * Whole encoded slices on demand, with a byte-bounded LRU cache and one download per slice at a
 * time (concurrent reads of the same slice share it).
 */
export class RemoteSliceLoader implements SliceLoader {
  private readonly entries = new Map<string, Promise<Buffer>>();
  private readonly sizes = new Map<string, number>();
  private cached = 0;
  readonly budget: number;

  constructor(
    private readonly store: KvStore,
    budget = Number(process.env.VOXPORT_SLICE_CACHE_BYTES) || 64 * 1024 * 1024,
  ) {
    this.budget = budget;
  }

  load(slice: SliceFile, signal?: AbortSignal): Promise<Buffer> {
    const key = slice.name;
    const hit = this.entries.get(key);
    if (hit !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, hit); // most recently used goes last
      return hit;
    }
    const loading = requireObject(this.store, key, slice.path, signal).then((data) => {
      const buffer = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
      if (this.entries.get(key) === loading) {
        this.sizes.set(key, buffer.length);
        this.cached += buffer.length;
        this.evict();
      }
      return buffer;
    });
    loading.catch(() => {
      if (this.entries.get(key) === loading) this.entries.delete(key);
    });
    this.entries.set(key, loading);
    return loading;
  }

  private evict(): void {
    for (const key of this.entries.keys()) {
      if (this.cached <= this.budget) return;
      const size = this.sizes.get(key);
      if (size === undefined) continue; // still downloading
      this.entries.delete(key);
      this.sizes.delete(key);
      this.cached -= size;
    }
  }
}
