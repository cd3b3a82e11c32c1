import { createHash, randomBytes } from "node:crypto";
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
  PublicAccess,
  PutOptions,
  StoredObject,
} from "../kvstore.js";
import { CORS_EXPOSE_HEADERS, CORS_MAX_AGE_SECONDS, mergeOrigins } from "../public-access.js";
import { answerEmptyRange, rangeBounds, rangeHeader } from "../range.js";
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
 *  - objects larger than `segmentSize` (default 1 GiB, VOXPORT_SWIFT_SEGMENT_SIZE) go up as a
 *    Static Large Object: Swift refuses single PUTs above its max_file_size (5 GiB by default),
 *    and a dropped connection then costs one segment, not the whole object. Segments go to
 *    `<container>_segments` under `<object name>/slo/<upload id>/`, then the manifest
 *    (`?multipart-manifest=put`, with the SLO ETag so a cluster without the slo middleware
 *    refuses it instead of storing the manifest as data). Reads, ranged too, are Swift's
 *    business. `delete` and overwrites remove the segments of the object they replace
 *    (`?multipart-manifest=delete`) — checked only in containers that have a segments container,
 *    so plain stores pay nothing for it;
 *  - `setPublicAccess` / `makePublic()` set the public-read ACL and CORS metadata Neuroglancer
 *    needs (`X-Container-Read: .r:*,.rlistings`, `X-Container-Meta-Access-Control-Allow-Origin`),
 *    like the HBP uploader, merged with what the container allows already; the segments
 *    container gets the same read ACL (a reader of a large object reads its segments).
 */

export interface SwiftStoreOptions {
  /** Settings to use instead of SWIFT_SETTINGS / OS_* variables. */
  settings?: SwiftSettings;
  policy?: Partial<RetryPolicy>;
  /** Requests in flight for this store. Default VOXPORT_STORAGE_CONCURRENCY or 32. */
  concurrency?: number;
  /** Names per listing request (Swift's own cap is 10,000). */
  listPageSize?: number;
  /**
   * Objects larger than this are uploaded as a Static Large Object of segments of this size.
   * Default VOXPORT_SWIFT_SEGMENT_SIZE or 1 GiB (must stay below the cluster's max_file_size).
   */
  segmentSize?: number;
  /** Container for the segments. Default `<container>_segments` (the swift CLI's convention). */
  segmentContainer?: string;
}

/** Swift's default cap on segments per manifest (slo max_manifest_segments). */
const MAX_SEGMENTS = 1000;
/**
 * Container metadata is read with an empty listing, not HEAD: Swift 2.30 answers a container
 * HEAD with 204 and a stray chunked terminator, which breaks the next response on the socket.
 */
const CONTAINER_META = "?format=json&limit=0";
/** Segment uploads in flight for one large object. */
const SEGMENT_PARALLELISM = 4;
/** How long "this container has no segments container" is believed before asking again. */
const NO_SEGMENTS_TTL_MS = 60_000;

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
  readonly segmentSize: number;
  readonly segmentContainer: string;
  /** Whether `segmentContainer` exists (true is final; false is rechecked after a while). */
  private segmentsKnown?: { exists: boolean; at: number };
  private segmentsReady?: Promise<void>;

  constructor(url: string, options: SwiftStoreOptions = {}) {
    const parsed = parseBucketUrl(url, "swift", "container");
    this.container = parsed.bucket;
    this.root = parsed.root;
    this.url = parsed.url;
    this.auth = swiftAuthFor(options.settings ?? loadSwiftSettings());
    this.policy = defaultRetryPolicy(options.policy);
    this.limiter = new Limiter(options.concurrency ?? defaultConcurrency());
    this.pageSize = Math.max(1, Math.min(10_000, options.listPageSize ?? 10_000));
    this.segmentSize = Math.max(
      1,
      options.segmentSize ?? (Number(process.env.VOXPORT_SWIFT_SEGMENT_SIZE) || 1024 ** 3),
    );
    this.segmentContainer = options.segmentContainer ?? `${this.container}_segments`;
  }

  async get(key: string, options: GetOptions = {}): Promise<StoredObject | undefined> {
    checkKey(this.url, key);
    const { range, signal } = options;
    const what = `cannot read ${this.url}/${key}`;
    throwIfAborted(signal, what);
    if (range !== undefined) {
      const empty = await answerEmptyRange(range, `${this.url}/${key}`, () =>
        this.stat(key, { signal }),
      );
      if (empty) return empty.object;
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
    };
    if (options.contentEncoding) headers["Content-Encoding"] = options.contentEncoding;
    if (options.cacheControl) headers["Cache-Control"] = options.cacheControl;
    // The segments of a large object this write replaces, deleted once the new one is in.
    const replaced = await this.segmentsOf(key, options.signal);
    if (data.length > this.segmentSize) {
      await this.putLarge(key, data, headers, options.signal);
    } else {
      await this.request(what, "PUT", this.objectPath(key), {
        headers: { ...headers, ETag: md5(data) },
        body: data,
        signal: options.signal,
        // 422: the body did not match its MD5 on arrival: send it again.
        retryOn: [422],
      });
    }
    await this.deleteSegments(replaced, options.signal);
  }

  /** Segments (then the manifest) of a Static Large Object; see the class comment. */
  private async putLarge(
    key: string,
    data: Uint8Array,
    headers: Record<string, string>,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const what = `cannot write ${this.url}/${key}`;
    await this.ensureSegmentContainer(signal);
    const size = Math.max(this.segmentSize, Math.ceil(data.length / MAX_SEGMENTS));
    const count = Math.ceil(data.length / size);
    const upload = `${Date.now().toString(36)}-${randomBytes(6).toString("hex")}`;
    const base = `${this.root}${key}/slo/${upload}/`;
    const manifest: Array<{ path: string; etag: string; size_bytes: number }> = [];
    const written: string[] = [];
    try {
      let next = 0;
      const lane = async () => {
        while (next < count) {
          const i = next++;
          const part = data.subarray(i * size, Math.min(data.length, (i + 1) * size));
          const name = `${base}${String(i).padStart(8, "0")}`;
          const etag = md5(part);
          await this.request(
            `${what} (segment ${i + 1} of ${count})`,
            "PUT",
            this.segmentPath(name),
            {
              headers: { "Content-Type": "application/octet-stream", ETag: etag },
              body: part,
              signal,
              retryOn: [422],
            },
          );
          written.push(name);
          manifest[i] = {
            path: `/${this.segmentContainer}/${name}`,
            etag,
            size_bytes: part.length,
          };
        }
      };
      await Promise.all(Array.from({ length: Math.min(SEGMENT_PARALLELISM, count) }, lane));
      // Swift checks this ETag against the md5 of the segment ETags; a proxy without the slo
      // middleware compares it with the md5 of the JSON body instead, and refuses it (422).
      const sloEtag = md5(new TextEncoder().encode(manifest.map((m) => m.etag).join("")));
      const response = await this.request(
        what,
        "PUT",
        `${this.objectPath(key)}?multipart-manifest=put`,
        {
          headers: { ...headers, ETag: sloEtag },
          body: new TextEncoder().encode(JSON.stringify(manifest)),
          signal,
          accept: [400, 422],
        },
      );
      if (response.status === 400 || response.status === 422) {
        const said = response.body
          .toString("utf8")
          .replace(/<[^>]*>/g, " ")
          .trim();
        throw new VoxportError(
          "STORAGE",
          `${what}: Swift refused the static large object manifest (HTTP ${response.status}` +
            `${said ? `: ${said.slice(0, 200)}` : ""}); the cluster needs the slo middleware ` +
            `for objects above ${this.segmentSize} bytes (VOXPORT_SWIFT_SEGMENT_SIZE)`,
        );
      }
    } catch (e) {
      // Leave no orphaned segments behind (best effort: the error that matters is e).
      await this.deleteSegments(
        written.map((n) => `/${this.segmentContainer}/${n}`),
        undefined,
      ).catch(() => {});
      throw e;
    }
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
    const what = `cannot delete ${this.url}/${key}`;
    if (await this.mayHoldLargeObjects(options.signal)) {
      // Manifest and segments in one request; a plain object answers "Not an SLO manifest".
      const response = await this.request(
        what,
        "DELETE",
        `${this.objectPath(key)}?multipart-manifest=delete`,
        { signal: options.signal, accept: [404], headers: { Accept: "application/json" } },
      );
      const result = bulkResult(response);
      if (result === undefined) return; // 404, or a proxy without slo that deleted it plainly
      const errors = result.Errors ?? [];
      if (errors.length === 0 && /^2/.test(result["Response Status"] ?? "200")) return;
      if (!errors.some(([, why]) => /not an slo manifest/i.test(why))) {
        throw new VoxportError(
          "STORAGE",
          `${what}: ${result["Response Status"]}; ${errors.map((e) => e.join(": ")).join("; ")}`,
        );
      }
    }
    await this.request(what, "DELETE", this.objectPath(key), {
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
    await this.setPublicAccess(
      { publicRead: true, corsOrigins: [options.origin ?? "*"] },
      { signal: options.signal },
    );
  }

  /**
   * `--public`: `.r:*` (anyone may read objects) and `.rlistings` (and list them) added to the
   * container's read ACL, and to the segments container's if there is one. `--cors`: the
   * allowed origins (merged with those already set; space-separated, as Swift reads them), the
   * headers a page may read, and the preflight cache time.
   */
  async setPublicAccess(
    access: PublicAccess,
    options: { signal?: AbortSignal } = {},
  ): Promise<void> {
    const { signal } = options;
    const what = `cannot set the ACL of Swift container ${this.container}`;
    const head = await this.request(what, "GET", `${this.containerPath()}${CONTAINER_META}`, {
      signal,
    });
    const headers: Record<string, string> = {};
    let readAcl: string | undefined;
    if (access.publicRead) {
      readAcl = mergeAcl(header(head, "x-container-read"), [".r:*", ".rlistings"]);
      headers["X-Container-Read"] = readAcl;
    }
    if (access.corsOrigins.length > 0) {
      const current = (header(head, "x-container-meta-access-control-allow-origin") ?? "")
        .split(/\s+/)
        .filter((o) => o !== "");
      headers["X-Container-Meta-Access-Control-Allow-Origin"] = mergeOrigins(
        current,
        access.corsOrigins,
      ).join(" ");
      headers["X-Container-Meta-Access-Control-Expose-Headers"] = CORS_EXPOSE_HEADERS.join(" ");
      headers["X-Container-Meta-Access-Control-Max-Age"] = String(CORS_MAX_AGE_SECONDS);
    }
    if (Object.keys(headers).length === 0) return;
    await this.request(what, "POST", this.containerPath(), { signal, headers });
    if (readAcl !== undefined) {
      const seg = await this.request(
        what,
        "GET",
        `${this.segmentContainerPath()}${CONTAINER_META}`,
        {
          signal,
          accept: [404],
          allowMissingContainer: true,
        },
      );
      if (seg.status !== 404) {
        await this.request(what, "POST", this.segmentContainerPath(), {
          signal,
          headers: { "X-Container-Read": mergeAcl(header(seg, "x-container-read"), [".r:*"]) },
        });
      }
    }
  }

  /**
   * Whether objects here may be large objects with segments to clean up: only when the
   * segments container exists (a negative answer is trusted for a minute).
   */
  private async mayHoldLargeObjects(signal: AbortSignal | undefined): Promise<boolean> {
    const known = this.segmentsKnown;
    if (known?.exists || (known && Date.now() - known.at < NO_SEGMENTS_TTL_MS)) {
      return known.exists;
    }
    const response = await this.request(
      `cannot check Swift container ${this.segmentContainer}`,
      "GET",
      `${this.segmentContainerPath()}${CONTAINER_META}`,
      { signal, accept: [404], allowMissingContainer: true },
    );
    this.segmentsKnown = { exists: response.status !== 404, at: Date.now() };
    return this.segmentsKnown.exists;
  }

  /** Creates the segments container once, readable by whoever may read the container. */
  private ensureSegmentContainer(signal: AbortSignal | undefined): Promise<void> {
    this.segmentsReady ??= (async () => {
      const head = await this.request(
        `cannot write to Swift container ${this.container}`,
        "GET",
        `${this.containerPath()}${CONTAINER_META}`,
        { signal },
      );
      const acl = header(head, "x-container-read");
      await this.request(
        `cannot create Swift container ${this.segmentContainer} for large-object segments`,
        "PUT",
        this.segmentContainerPath(),
        {
          signal,
          allowMissingContainer: true,
          headers: acl ? { "X-Container-Read": acl } : {},
        },
      );
      this.segmentsKnown = { exists: true, at: Date.now() };
    })().catch((e) => {
      this.segmentsReady = undefined;
      throw e;
    });
    return this.segmentsReady;
  }

  /** `/container/name` of each segment of `key` when it is a Static Large Object, else []. */
  private async segmentsOf(key: string, signal: AbortSignal | undefined): Promise<string[]> {
    if (!(await this.mayHoldLargeObjects(signal))) return [];
    const what = `cannot read ${this.url}/${key}`;
    const head = await this.request(what, "HEAD", this.objectPath(key), {
      signal,
      accept: [404],
    });
    if (head.status === 404 || !/^true$/i.test(header(head, "x-static-large-object") ?? "")) {
      return [];
    }
    const response = await this.request(
      what,
      "GET",
      `${this.objectPath(key)}?multipart-manifest=get`,
      { signal, accept: [404] },
    );
    if (response.status === 404) return [];
    try {
      const entries = JSON.parse(response.body.toString("utf8")) as Array<{ name?: unknown }>;
      return entries.flatMap((e) => (typeof e.name === "string" ? [e.name] : []));
    } catch {
      return [];
    }
  }

  /** Deletes segments given as `/container/name` (missing ones are fine). */
  private async deleteSegments(paths: string[], signal: AbortSignal | undefined): Promise<void> {
    await Promise.all(
      paths.map((path) =>
        this.request(`cannot delete the segment ${path}`, "DELETE", encodePath(path), {
          signal,
          accept: [404],
          allowMissingContainer: true,
        }),
      ),
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
    return encodePath(`/${this.container}/${this.root}${key}`);
  }

  private segmentContainerPath(): string {
    return `/${encodeURIComponent(this.segmentContainer)}`;
  }

  private segmentPath(name: string): string {
    return encodePath(`/${this.segmentContainer}/${name}`);
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

function md5(data: Uint8Array): string {
  return createHash("md5").update(data).digest("hex");
}

/** `/container/a/b` with every part percent-encoded (the container included). */
function encodePath(path: string): string {
  return path.split("/").map(encodeURIComponent).join("/");
}

/** An ACL ("a,b") with `add` entries appended when missing. */
function mergeAcl(current: string | undefined, add: string[]): string {
  const entries = (current ?? "")
    .split(",")
    .map((e) => e.trim())
    .filter((e) => e !== "");
  for (const a of add) if (!entries.includes(a)) entries.push(a);
  return entries.join(",");
}

interface BulkResult {
  "Response Status"?: string;
  "Number Deleted"?: number;
  "Number Not Found"?: number;
  Errors?: Array<[string, string]>;
}

/** The JSON summary of a `?multipart-manifest=delete` (undefined when there is none). */
function bulkResult(response: RawResponse): BulkResult | undefined {
  if (response.status === 404 || response.body.length === 0) return undefined;
  if (!/json/i.test(header(response, "content-type") ?? "")) return undefined;
  try {
    return JSON.parse(response.body.toString("utf8")) as BulkResult;
  } catch {
    return undefined;
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
