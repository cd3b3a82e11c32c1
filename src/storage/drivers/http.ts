import { VoxportError } from "../../errors.js";
import { abortedError, throwIfAborted } from "../abort.js";
import { checkKey } from "../keys.js";
import type {
  ByteRange,
  GetOptions,
  KvStore,
  KvStoreCapabilities,
  ObjectStat,
  PutOptions,
  StoredObject,
} from "../kvstore.js";
import { checkRange, rangeBounds } from "../range.js";

/**
 * Read-only `http://` and `https://` stores over the global fetch, following neuroglancer's
 * kvstore/http/read.ts (precomputed-format.md 7.3-7.4):
 *  - 404 and 403 read as missing (S3 and GCS answer 403 for absent keys without list rights);
 *  - 429 and 5xx (but 501) and network errors are retried with exponential backoff and jitter;
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

/** Thrown inside an attempt to ask for a retry. */
class RetryableFailure extends Error {
  constructor(
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
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
  private readonly attempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly timeoutMs: number;
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
    this.attempts = Math.max(1, options.attempts ?? 6);
    this.baseDelayMs = options.baseDelayMs ?? 250;
    this.maxDelayMs = options.maxDelayMs ?? 10_000;
    this.timeoutMs = options.timeoutMs ?? 60_000;
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
    checkRange(range, url);
    // HTTP cannot express an empty range (`bytes=5-4`, `bytes=-0` are unsatisfiable).
    if (
      ("length" in range && range.length === 0) ||
      ("suffixLength" in range && range.suffixLength === 0)
    ) {
      const stat = await this.stat(key, { signal });
      if (stat === undefined) return undefined;
      return { data: new Uint8Array(0), totalSize: stat.size };
    }
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
   * Runs one request with retries. `onResponse` sees 2xx responses and those listed in
   * `alsoAccept`; it may throw RetryableFailure, and a body cut off mid-read is retried too.
   * Returns undefined for 404/403.
   */
  private async fetchWithRetries<T>(
    op: string,
    url: string,
    signal: AbortSignal | undefined,
    init: RequestInit,
    alsoAccept: number[],
    onResponse: (response: Response) => Promise<T>,
  ): Promise<T | undefined> {
    for (let attempt = 1; ; attempt++) {
      throwIfAborted(signal, `cannot ${op} ${url}`);
      const timeout = new AttemptSignal(signal, this.timeoutMs);
      let hinted = 0; // a server's Retry-After, in ms
      try {
        const response = await fetch(url, {
          ...init,
          headers: { ...this.headers, ...(init.headers as Record<string, string>) },
          signal: timeout.signal,
        });
        if (response.status === 404 || response.status === 403) {
          await response.body?.cancel();
          return undefined;
        }
        if (alsoAccept.includes(response.status)) return await onResponse(response);
        if (response.status === 429 || (response.status >= 500 && response.status !== 501)) {
          await response.body?.cancel();
          throw new RetryableFailure(
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
      } catch (e) {
        if (signal?.aborted) throw abortedError(signal, `cannot ${op} ${url}`);
        if (e instanceof VoxportError) throw e;
        // Anything else is a failed attempt: an HTTP status above, a timeout, or a network
        // error (undici reports those as TypeError "fetch failed" with the cause attached).
        const reason = timeout.timedOut
          ? `timed out after ${this.timeoutMs} ms`
          : e instanceof RetryableFailure
            ? e.message
            : `network error: ${describeNetworkError(e)}`;
        if (attempt >= this.attempts) {
          throw new VoxportError(
            "STORAGE",
            `cannot ${op} ${url}: ${reason} (gave up after ${attempt} attempts)`,
            { cause: e },
          );
        }
        hinted = e instanceof RetryableFailure ? (e.retryAfterMs ?? 0) : 0;
      } finally {
        timeout.dispose();
      }
      const delay = Math.min(this.maxDelayMs, Math.max(hinted, this.backoffMs(attempt)));
      await sleep(delay, signal, `cannot ${op} ${url}`);
    }
  }

  /** Exponential backoff with "equal jitter": half fixed, half random, so retries spread out. */
  private backoffMs(attempt: number): number {
    const ceiling = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (attempt - 1));
    return ceiling / 2 + Math.random() * (ceiling / 2);
  }
}

/** The caller's signal plus a per-attempt timeout (AbortSignal.any needs Node 20.3+). */
class AttemptSignal {
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private readonly onAbort = () => this.controller.abort(this.outer?.reason);
  timedOut = false;

  constructor(
    private readonly outer: AbortSignal | undefined,
    timeoutMs: number,
  ) {
    this.timer = setTimeout(() => {
      this.timedOut = true;
      this.controller.abort(new Error(`timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    outer?.addEventListener("abort", this.onAbort, { once: true });
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.outer?.removeEventListener("abort", this.onAbort);
  }
}

function rangeHeader(range: ByteRange): string {
  return "suffixLength" in range
    ? `bytes=-${range.suffixLength}`
    : `bytes=${range.offset}-${range.offset + range.length - 1}`;
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

/** Retry-After is either seconds or an HTTP date. */
function retryAfterMs(header: string | null): number | undefined {
  if (header === null) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

function describeNetworkError(e: unknown): string {
  const cause = e instanceof Error ? e.cause : undefined;
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    return typeof code === "string" ? `${code} (${cause.message})` : cause.message;
  }
  return e instanceof Error ? e.message : String(e);
}

function sleep(ms: number, signal: AbortSignal | undefined, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortedError(signal, what));
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortedError(signal!, what));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
