import { VoxportError } from "../../errors.js";
import { checkKey } from "../keys.js";
import type {
  GetOptions,
  KvStore,
  KvStoreCapabilities,
  ObjectStat,
  PutOptions,
  StoredObject,
} from "../kvstore.js";
import { answerEmptyRange, rangeBounds, rangeHeader } from "../range.js";
import { RetryableError, type RetryPolicy, retryAfterMs, withRetries } from "../retry.js";

/**
 * Read-only `http://` and `https://` stores over the global fetch, following neuroglancer's
 * kvstore/http/read.ts (precomputed-format.md 7.3-7.4):
 *  - 404 and 403 read as missing (S3 and GCS answer 403 for absent keys without list rights);
 *  - 429 and 5xx (but 501) and network errors are retried with exponential backoff and jitter
 *    (the shared loop in ../retry.ts, also used by the s3, gs and swift drivers);
 *  - `Content-Encoding: gzip` is decoded by Node's fetch, so `get` returns plain bytes and
 *    reports no encoding;
 *  - a server that ignores `Range` and answers 200 is tolerated: we slice the body ourselves.
 */

export interface HttpStoreOptions {
  /** Total tries per request, the first included. Default 6. */
  attempts?: number;
  /** Backoff before retry n is about baseDelayMs * 2^(n-1), with jitter. Default 250. */
  baseDelayMs?: number;
  /** Cap for a single backoff (and for a server's Retry-After). Default 10 000. */
  maxDelayMs?: number;
  /** Per-attempt time limit; a timed-out attempt is retried. Default 60 000. */
  timeoutMs?: number;
  /** Extra request headers (e.g. Authorization). */
  headers?: Record<string, string>;
}

export class HttpKvStore implements KvStore {
  readonly url: string;
  readonly capabilities: KvStoreCapabilities = {
    write: false,
    list: false,
    rangeReads: true,
    suffixReads: true,
  };
  private readonly base: URL;
  private readonly policy: RetryPolicy;
  private readonly headers: Record<string, string>;

  constructor(url: string, options: HttpStoreOptions = {}) {
    let base: URL;
    try {
      base = new URL(url);
    } catch (e) {
      throw new VoxportError("INVALID_ARGUMENT", `invalid URL ${JSON.stringify(url)}`, {
        cause: e,
      });
    }
    if (base.protocol !== "http:" && base.protocol !== "https:") {
      throw new VoxportError("INVALID_ARGUMENT", `not an http(s) URL: ${url}`);
    }
    base.hash = "";
    base.pathname = base.pathname.replace(/\/+$/, "");
    this.base = base;
    this.url = base.href.replace(/\/+$/, "");
    this.policy = {
      attempts: Math.max(1, options.attempts ?? 6),
      baseDelayMs: options.baseDelayMs ?? 250,
      maxDelayMs: options.maxDelayMs ?? 10_000,
      timeoutMs: options.timeoutMs ?? 60_000,
    };
    this.headers = { ...options.headers };
  }

  async get(key: string, options: GetOptions = {}): Promise<StoredObject | undefined> {
    const url = this.keyUrl(key);
    const { range, signal } = options;
    if (range === undefined) {
      return this.fetchWithRetries("read", url, signal, { method: "GET" }, [], async (response) => {
        const data = await readBody(response);
        return { data, contentType: contentType(response), totalSize: data.length };
      });
    }
    // HTTP cannot express an empty range (`bytes=5-4`, `bytes=-0` are unsatisfiable).
    const empty = await answerEmptyRange(range, url, () => this.stat(key, { signal }));
    if (empty) return empty.object;
    // fetch adds `Accept-Encoding: identity` to ranged requests (Fetch spec), so the range
    // addresses stored bytes, not an on-the-fly gzip stream.
    const init = {
      method: "GET",
      headers: { Range: rangeHeader(range) },
    };
    return this.fetchWithRetries("read", url, signal, init, [416], async (response) => {
      if (encodingOf(response) !== undefined) {
        await response.body?.cancel();
        throw new VoxportError(
          "UNSUPPORTED",
          `cannot read a byte range of ${url}: the server stores it with Content-Encoding ${encodingOf(response)}`,
        );
      }
      if (response.status === 416) {
        // Range starts at or past the end: an empty read, like the other drivers.
        await response.body?.cancel();
        const total = parseContentRange(response.headers.get("content-range"))?.total;
        return {
          data: new Uint8Array(0),
          totalSize: total ?? (await this.stat(key, { signal }))?.size,
        };
      }
      const body = await readBody(response);
      if (response.status !== 206) {
        // The server ignored Range and sent the whole object.
        const { start, end } = rangeBounds(range, body.length);
        return {
          data: body.slice(start, end),
          contentType: contentType(response),
          totalSize: body.length,
        };
      }
      const contentRange = parseContentRange(response.headers.get("content-range"));
      if (contentRange?.start !== undefined && contentRange.total !== undefined) {
        const expected = rangeBounds(range, contentRange.total);
        if (
          contentRange.start !== expected.start ||
          body.length !== expected.end - expected.start
        ) {
          throw new VoxportError(
            "STORAGE",
            `cannot read ${url}: asked for ${rangeHeader(range)}, server sent bytes ${contentRange.start}+${body.length} of ${contentRange.total}`,
          );
        }
      }
      // Neuroglancer tolerates a 206 without Content-Range; we then ask for the size separately.
      const totalSize = contentRange?.total ?? (await this.stat(key, { signal }))?.size;
      return { data: body, contentType: contentType(response), totalSize };
    });
  }

  async stat(key: string, options: { signal?: AbortSignal } = {}): Promise<ObjectStat | undefined> {
    const url = this.keyUrl(key);
    const { signal } = options;
    const viaHead = await this.fetchWithRetries(
      "stat",
      url,
      signal,
      { method: "HEAD" },
      [405, 501],
      async (response): Promise<ObjectStat | "no-head"> => {
        if (response.status === 405 || response.status === 501) return "no-head";
        // Node's fetch decodes gzip on GET, but on HEAD this is the stored (encoded) size.
        const length = response.headers.get("content-length");
        if (length !== null) return objectStat(response, Number(length));
        return "no-head";
      },
    );
    if (viaHead !== "no-head") return viaHead;
    // Servers without HEAD (or without Content-Length on it): read one byte, as neuroglancer does.
    const init = { method: "GET", headers: { Range: "bytes=0-0" } };
    return this.fetchWithRetries("stat", url, signal, init, [416], async (response) => {
      if (response.status === 416) {
        await response.body?.cancel();
        return objectStat(response, 0);
      }
      const total = parseContentRange(response.headers.get("content-range"))?.total;
      if (response.status === 206 && total !== undefined) {
        await response.body?.cancel();
        return objectStat(response, total);
      }
      // Range ignored: the whole object is coming; take its length without reading it all.
      const length = response.headers.get("content-length");
      if (length !== null) {
        await response.body?.cancel();
        return objectStat(response, Number(length));
      }
      return objectStat(response, (await readBody(response)).length);
    });
  }

  async put(_key: string, _data: Uint8Array, _options?: PutOptions): Promise<void> {
    throw this.readOnly();
  }

  async delete(_key: string): Promise<void> {
    throw this.readOnly();
  }

  // biome-ignore lint/correctness/useYield: a read-only store has nothing to list.
  async *list(_prefix: string): AsyncIterable<string> {
    throw this.readOnly();
  }

  private readOnly(): VoxportError {
    return new VoxportError("UNSUPPORTED", `http store is read-only: ${this.url}`);
  }

  private keyUrl(key: string): string {
    checkKey(this.url, key);
    const url = new URL(this.base.href);
    // Encode each segment so '#', '?', '%' and spaces in keys stay part of the path.
    url.pathname = `${this.base.pathname}/${key.split("/").map(encodeURIComponent).join("/")}`;
    return url.href;
  }

  /**
   * Runs one request with retries (the shared loop in retry.ts). `onResponse` sees 2xx responses
   * and those listed in `alsoAccept`; it may throw RetryableError, and a body cut off mid-read
   * is retried too. Returns undefined for 404/403.
   */
  private fetchWithRetries<T>(
    op: string,
    url: string,
    signal: AbortSignal | undefined,
    init: RequestInit,
    alsoAccept: number[],
    onResponse: (response: Response) => Promise<T>,
  ): Promise<T | undefined> {
    return withRetries(
      `cannot ${op} ${url}`,
      async (attemptSignal) => {
        const response = await fetch(url, {
          ...init,
          headers: { ...this.headers, ...(init.headers as Record<string, string>) },
          signal: attemptSignal,
        });
        if (response.status === 404 || response.status === 403) {
          await response.body?.cancel();
          return undefined;
        }
        if (alsoAccept.includes(response.status)) return await onResponse(response);
        if (response.status === 429 || (response.status >= 500 && response.status !== 501)) {
          await response.body?.cancel();
          throw new RetryableError(
            `HTTP ${response.status} ${response.statusText}`.trim(),
            retryAfterMs(response.headers.get("retry-after")),
          );
        }
        if (!response.ok) {
          await response.body?.cancel();
          throw new VoxportError(
            "STORAGE",
            `cannot ${op} ${url}: HTTP ${response.status} ${response.statusText}`.trim(),
          );
        }
        return await onResponse(response);
      },
      { signal, policy: this.policy },
    );
  }
}

/** `bytes a-b/total`, `bytes a-b/*` or `bytes * /total` (416). */
function parseContentRange(
  header: string | null,
): { start?: number; end?: number; total?: number } | undefined {
  if (header === null) return undefined;
  const match = /^bytes\s+(?:(\d+)-(\d+)|\*)\/(\d+|\*)$/i.exec(header.trim());
  if (match === null) return undefined;
  const int = (s: string | undefined) => (s === undefined || s === "*" ? undefined : Number(s));
  return { start: int(match[1]), end: int(match[2]), total: int(match[3]) };
}

function encodingOf(response: Response): string | undefined {
  const value = response.headers.get("content-encoding")?.trim().toLowerCase();
  return value === undefined || value === "" || value === "identity" ? undefined : value;
}

function contentType(response: Response): string | undefined {
  return response.headers.get("content-type") ?? undefined;
}

function objectStat(response: Response, size: number): ObjectStat {
  const etag = response.headers.get("etag") ?? undefined;
  return { size, contentEncoding: encodingOf(response) === "gzip" ? "gzip" : undefined, etag };
}

async function readBody(response: Response): Promise<Uint8Array> {
  return new Uint8Array(await response.arrayBuffer());
}
