import { createHash } from "node:crypto";
import { VoxportError } from "../../errors.js";
import { throwIfAborted } from "../abort.js";
import { parseBucketUrl } from "../cloud-url.js";
import { header, type RawResponse, rawRequest } from "../http-request.js";
import { checkKey, checkPrefix } from "../keys.js";
import type {
  GetOptions,
  KvStore,
  KvStoreCapabilities,
  ObjectStat,
  PutOptions,
  StoredObject,
} from "../kvstore.js";
import { checkRange, isEmptyRange, rangeBounds, rangeHeader } from "../range.js";
import {
  defaultConcurrency,
  defaultRetryPolicy,
  isRetryableStatus,
  Limiter,
  RetryableError,
  type RetryPolicy,
  retryAfterMs,
  withRetries,
} from "../retry.js";
import {
  loadSwiftSettings,
  type SwiftAuth,
  type SwiftSettings,
  swiftAuthFor,
} from "../swift-auth.js";

/**
 * `swift://container/prefix`: the OpenStack Swift object API over plain HTTP (seed-systems.md
 * §5.5), with credentials from SWIFT_SETTINGS / OS_* variables (see ../swift-auth.ts).
 *
 *  - objects are PUT whole with their MD5 as ETag (Swift verifies it and answers 422 on a
 *    mismatch, which we retry), `Content-Type`, `Content-Encoding: gzip` for gzip'd chunks (kept
 *    and served back, so browsers inflate them for Neuroglancer) and `Cache-Control`;
 *  - reads return the stored bytes and their encoding (node:http, not fetch, which would
 *    inflate them); ranged reads use `Range`, and 416 reads as empty, like the other drivers;
 *  - listings page with `marker` (Swift returns at most 10,000 names per request);
 *  - 401 drops the token and authenticates again; 429/5xx/network errors are retried with
 *    backoff (../retry.ts); a missing container is a NOT_FOUND error naming it — containers are
 *    not created implicitly (`createContainer()` does it on purpose);
 *  - `makePublic()` sets the public-read ACL and CORS metadata Neuroglancer needs
 *    (`X-Container-Read: .r:*,.rlistings`, `X-Container-Meta-Access-Control-Allow-Origin`),
 *    like the HBP uploader.
 */

export interface SwiftStoreOptions {
  /** Settings to use instead of SWIFT_SETTINGS / OS_* variables. */
  settings?: SwiftSettings;
  policy?: Partial<RetryPolicy>;
  /** Requests in flight for this store. Default VOXPORT_STORAGE_CONCURRENCY or 32. */
  concurrency?: number;
  /** Names per listing request (Swift's own cap is 10,000). */
  listPageSize?: number;
}

export class SwiftKvStore implements KvStore {
  readonly url: string;
  readonly container: string;
  /** Object-name prefix of the store's root, "" or ending with "/". */
  readonly root: string;
  readonly capabilities: KvStoreCapabilities = {
    write: true,
    list: true,
    rangeReads: true,
    suffixReads: true,
  };
  private readonly auth: SwiftAuth;
  private readonly policy: RetryPolicy;
  private readonly limiter: Limiter;
  private readonly pageSize: number;

  constructor(url: string, options: SwiftStoreOptions = {}) {
    const parsed = parseBucketUrl(url, "swift", "container");
    this.container = parsed.bucket;
    this.root = parsed.root;
    this.url = parsed.url;
    this.auth = swiftAuthFor(options.settings ?? loadSwiftSettings());
    this.policy = defaultRetryPolicy(options.policy);
    this.limiter = new Limiter(options.concurrency ?? defaultConcurrency());
    this.pageSize = Math.max(1, Math.min(10_000, options.listPageSize ?? 10_000));
  }

  async get(key: string, options: GetOptions = {}): Promise<StoredObject | undefined> {
    checkKey(this.url, key);
    const { range, signal } = options;
    const what = `cannot read ${this.url}/${key}`;
    throwIfAborted(signal, what);
    if (range !== undefined) {
      checkRange(range, `${this.url}/${key}`);
      if (isEmptyRange(range)) {
        const stat = await this.stat(key, { signal });
        return stat === undefined ? undefined : { data: new Uint8Array(0), totalSize: stat.size };
      }
    }
    const headers: Record<string, string> =
      range === undefined ? {} : { Range: rangeHeader(range) };
    const response = await this.request(what, "GET", this.objectPath(key), {
      headers,
      signal,
      accept: [404, 416],
    });
    if (response.status === 404) return undefined;
    const contentEncoding = encodingOf(response);
    const contentType = header(response, "content-type");
    if (response.status === 416) {
      const total = parseContentRange(header(response, "content-range"))?.total;
      return {
        data: new Uint8Array(0),
        contentEncoding,
        totalSize: total ?? (await this.stat(key, { signal }))?.size,
      };
    }
    const body = new Uint8Array(
      response.body.buffer,
      response.body.byteOffset,
      response.body.byteLength,
    );
    if (range === undefined || response.status === 200) {
      // Whole object (also when a range was asked for and ignored).
      const slice =
        range === undefined ? { start: 0, end: body.length } : rangeBounds(range, body.length);
      return {
        data:
          slice.start === 0 && slice.end === body.length
            ? body
            : body.slice(slice.start, slice.end),
        contentEncoding,
        contentType,
        totalSize: body.length,
      };
    }
    const cr = parseContentRange(header(response, "content-range"));
    return {
      data: body,
      contentEncoding,
      contentType,
      totalSize: cr?.total ?? (await this.stat(key, { signal }))?.size,
    };
  }

  async put(key: string, data: Uint8Array, options: PutOptions = {}): Promise<void> {
    checkKey(this.url, key);
    const what = `cannot write ${this.url}/${key}`;
    throwIfAborted(options.signal, what);
    const headers: Record<string, string> = {
      "Content-Type": options.contentType ?? "application/octet-stream",
      ETag: createHash("md5").update(data).digest("hex"),
    };
    if (options.contentEncoding) headers["Content-Encoding"] = options.contentEncoding;
    if (options.cacheControl) headers["Cache-Control"] = options.cacheControl;
    await this.request(what, "PUT", this.objectPath(key), {
      headers,
      body: data,
      signal: options.signal,
      // 422: the body did not match its MD5 on arrival: send it again.
      retryOn: [422],
    });
  }

  async stat(key: string, options: { signal?: AbortSignal } = {}): Promise<ObjectStat | undefined> {
    checkKey(this.url, key);
    const what = `cannot stat ${this.url}/${key}`;
    const response = await this.request(what, "HEAD", this.objectPath(key), {
      signal: options.signal,
      accept: [404],
    });
    if (response.status === 404) return undefined;
    return {
      size: Number(header(response, "content-length") ?? 0),
      contentEncoding: encodingOf(response),
      etag: header(response, "etag"),
    };
  }

  async delete(key: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    checkKey(this.url, key);
    await this.request(`cannot delete ${this.url}/${key}`, "DELETE", this.objectPath(key), {
      signal: options.signal,
      accept: [404],
    });
  }

  async *list(prefix: string, options: { signal?: AbortSignal } = {}): AsyncIterable<string> {
    checkPrefix(this.url, prefix);
    const full = this.root + prefix;
    let marker = "";
    for (;;) {
      const query = new URLSearchParams({ format: "json", limit: String(this.pageSize) });
      if (full !== "") query.set("prefix", full);
      if (marker !== "") query.set("marker", marker);
      const response = await this.request(
        `cannot list ${this.url}/${prefix}`,
        "GET",
        `${this.containerPath()}?${query}`,
        { signal: options.signal },
      );
      if (response.status === 204 || response.body.length === 0) return;
      let names: Array<{ name?: string; subdir?: string }>;
      try {
        names = JSON.parse(response.body.toString("utf8"));
      } catch (e) {
        throw new RetryableError(`Swift listing of ${this.url} is not JSON`, undefined, {
          cause: e,
        });
      }
      if (!Array.isArray(names) || names.length === 0) return;
      for (const entry of names) {
        if (typeof entry.name === "string" && entry.name.startsWith(this.root)) {
          yield entry.name.slice(this.root.length);
        }
      }
      const last = names[names.length - 1].name;
      if (typeof last !== "string" || names.length < this.pageSize) return;
      marker = last;
    }
  }

  /** Creates the container (PUT; succeeds when it exists already). */
  async createContainer(options: { signal?: AbortSignal } = {}): Promise<void> {
    await this.request(
      `cannot create Swift container ${this.container}`,
      "PUT",
      this.containerPath(),
      {
        signal: options.signal,
        allowMissingContainer: true,
      },
    );
  }

  /**
   * Public read + listing and CORS headers for Neuroglancer (the HBP uploader's `swift post
   * --read-acl .r:*,.rlistings -H X-Container-Meta-Access-Control-Allow-Origin:*`).
   */
  async makePublic(options: { origin?: string; signal?: AbortSignal } = {}): Promise<void> {
    await this.request(
      `cannot set the ACL of Swift container ${this.container}`,
      "POST",
      this.containerPath(),
      {
        signal: options.signal,
        headers: {
          "X-Container-Read": ".r:*,.rlistings",
          "X-Container-Meta-Access-Control-Allow-Origin": options.origin ?? "*",
          "X-Container-Meta-Access-Control-Expose-Headers":
            "Content-Length, Content-Range, Content-Encoding, Content-Type, ETag",
        },
      },
    );
  }

  /** Storage URL and token (for tests and tools that need to speak to Swift directly). */
  async session(signal?: AbortSignal): Promise<{ storageUrl: string; token?: string }> {
    return this.auth.session(signal);
  }

  private containerPath(): string {
    return `/${encodeURIComponent(this.container)}`;
  }

  private objectPath(key: string): string {
    const name = this.root + key;
    return `${this.containerPath()}/${name.split("/").map(encodeURIComponent).join("/")}`;
  }

  /**
   * One Swift request with auth, retries and the shared error rules. Answers with status 2xx or
   * one listed in `accept`; 401 re-authenticates and retries; 404 on anything not accepted
   * means the container is missing.
   */
  private request(
    what: string,
    method: string,
    path: string,
    init: {
      headers?: Record<string, string>;
      body?: Uint8Array;
      signal?: AbortSignal;
      accept?: number[];
      retryOn?: number[];
      allowMissingContainer?: boolean;
    },
  ): Promise<RawResponse> {
    let unauthorized = 0;
    return withRetries(
      what,
      async (attemptSignal) => {
        const session = await this.auth.session(attemptSignal);
        const headers: Record<string, string> = { ...init.headers };
        if (session.token !== undefined) headers["X-Auth-Token"] = session.token;
        let response: RawResponse;
        try {
          response = await rawRequest(`${session.storageUrl}${path}`, {
            method,
            headers,
            body: init.body,
            signal: attemptSignal,
          });
        } catch (e) {
          throw new Error(this.auth.redact(e instanceof Error ? e.message : String(e)), {
            cause: e,
          });
        }
        const { status } = response;
        if ((status >= 200 && status < 300) || init.accept?.includes(status)) return response;
        if (
          status === 401 &&
          unauthorized++ === 0 &&
          session.token !== undefined &&
          this.auth.settings.authVersion !== "token"
        ) {
          // Expired or revoked token: authenticate again on the next attempt.
          this.auth.invalidate(session.token);
          throw new RetryableError("HTTP 401 (token expired or revoked; authenticating again)");
        }
        if (isRetryableStatus(status) || init.retryOn?.includes(status)) {
          throw new RetryableError(
            `HTTP ${status}${status === 422 ? " (checksum mismatch)" : ""}`,
            retryAfterMs(header(response, "retry-after")),
          );
        }
        if (status === 404 && !init.allowMissingContainer) {
          throw new VoxportError(
            "NOT_FOUND",
            `${what}: Swift container "${this.container}" does not exist at ${session.storageUrl} ` +
              "(create it first, e.g. `swift post " +
              this.container +
              "`)",
          );
        }
        if (status === 401 || status === 403) {
          throw new VoxportError(
            "STORAGE",
            `${what}: access denied (HTTP ${status}); check the Swift credentials in ${this.auth.settings.origin} and the container's ACL`,
          );
        }
        throw new VoxportError("STORAGE", this.auth.redact(`${what}: HTTP ${status}`));
      },
      { signal: init.signal, policy: this.policy, limiter: this.limiter },
    );
  }
}

function parseContentRange(
  value: string | undefined,
): { start?: number; total?: number } | undefined {
  if (value === undefined) return undefined;
  const m = /^bytes\s+(?:(\d+)-(\d+)|\*)\/(\d+|\*)$/i.exec(value.trim());
  if (m === null) return undefined;
  const int = (s: string | undefined) => (s === undefined || s === "*" ? undefined : Number(s));
  return { start: int(m[1]), total: int(m[3]) };
}

function encodingOf(response: RawResponse): "gzip" | undefined {
  return header(response, "content-encoding")?.trim().toLowerCase() === "gzip" ? "gzip" : undefined;
}
