import { type Bucket, type File, Storage } from "@google-cloud/storage";
import { VoxportError } from "../../errors.js";
import { throwIfAborted } from "../abort.js";
import { parseBucketUrl } from "../cloud-url.js";
import { checkGoogleCredentials } from "../credentials.js";
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
import {
  CORS_EXPOSE_HEADERS,
  CORS_MAX_AGE_SECONDS,
  CORS_METHODS,
  CORS_REQUEST_HEADERS,
  mergeOrigins,
} from "../public-access.js";
import { answerEmptyRange, rangeBounds } from "../range.js";
import {
  defaultConcurrency,
  defaultRetryPolicy,
  Limiter,
  RetryableError,
  type RetryPolicy,
  withRetries,
} from "../retry.js";

/**
 * `gs://bucket/prefix`: Google Cloud Storage through the official @google-cloud/storage client.
 *
 * Credentials: Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, gcloud's ADC
 * file, the metadata server); a GOOGLE_APPLICATION_CREDENTIALS file that group or others can read
 * is refused (chmod 600). STORAGE_EMULATOR_HOST points the client at an emulator (no auth).
 *
 * Writes set contentType, contentEncoding (gzip'd chunks stay gzip'd at rest and are served
 * with Content-Encoding, which browsers inflate for Neuroglancer) and cacheControl; objects
 * from `resumableThreshold` bytes (default 16 MiB) use a resumable upload. Reads ask for the
 * stored bytes (`Accept-Encoding: gzip`, no decompression), ranged with `Range` (a server that
 * ignores a range is tolerated: we slice). The stored encoding comes from
 * `x-goog-stored-content-encoding`, or from the object's metadata when a server does not send
 * it. The client's own retries are off: every call goes through the shared loop (../retry.ts).
 *
 * `setPublicAccess` (`--public`, `--cors`): the IAM binding allUsers → roles/storage.objectViewer
 * (added to the bucket's policy; bucket-wide, as GCS has no prefix-scoped public grant without
 * IAM conditions) and a bucket CORS entry for GET/HEAD (merged with the entries already there).
 */

export interface GcsStoreOptions {
  policy?: Partial<RetryPolicy>;
  concurrency?: number;
  resumableThreshold?: number;
  listPageSize?: number;
}

let sharedClient: Storage | undefined;
let sharedFor: string | undefined;

function client(): Storage {
  // The emulator host is read when the client is made; a test may change it between stores.
  const key = process.env.STORAGE_EMULATOR_HOST ?? "";
  if (sharedClient === undefined || sharedFor !== key) {
    if (!key) checkGoogleCredentials();
    sharedClient = new Storage({ retryOptions: { autoRetry: false, maxRetries: 0 } });
    sharedFor = key;
  }
  return sharedClient;
}

interface Download {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  data: Uint8Array;
}

export class GcsKvStore implements KvStore {
  readonly url: string;
  readonly bucketName: string;
  readonly root: string;
  readonly capabilities: KvStoreCapabilities = {
    write: true,
    list: true,
    rangeReads: true,
    suffixReads: true,
  };
  private readonly bucket: Bucket;
  private readonly policy: RetryPolicy;
  private readonly limiter: Limiter;
  private readonly resumableThreshold: number;
  private readonly pageSize: number;

  constructor(url: string, options: GcsStoreOptions = {}) {
    const parsed = parseBucketUrl(url, "gs", "bucket");
    this.url = parsed.url;
    this.bucketName = parsed.bucket;
    this.root = parsed.root;
    if (!process.env.STORAGE_EMULATOR_HOST) checkGoogleCredentials();
    this.bucket = client().bucket(parsed.bucket);
    this.policy = defaultRetryPolicy(options.policy);
    this.limiter = new Limiter(options.concurrency ?? defaultConcurrency());
    this.resumableThreshold = options.resumableThreshold ?? 16 * 1024 * 1024;
    this.pageSize = Math.max(1, Math.min(1000, options.listPageSize ?? 1000));
  }

  async get(key: string, options: GetOptions = {}): Promise<StoredObject | undefined> {
    checkKey(this.url, key);
    const { range, signal } = options;
    const what = `cannot read ${this.url}/${key}`;
    throwIfAborted(signal, what);
    let start: number | undefined;
    let end: number | undefined;
    if (range !== undefined) {
      const empty = await answerEmptyRange(range, `${this.url}/${key}`, () =>
        this.stat(key, { signal }),
      );
      if (empty) return empty.object;
      if ("suffixLength" in range) end = -range.suffixLength;
      else {
        start = range.offset;
        end = range.offset + range.length - 1;
      }
    }
    const file = this.file(key);
    const got = await this.call(what, signal, async (abortSignal) => {
      try {
        return await download(file, start, end, abortSignal);
      } catch (e) {
        if (status(e) === 404) return undefined;
        if (status(e) === 416) return "past-end" as const;
        throw e;
      }
    });
    if (got === undefined) return undefined;
    if (got === "past-end") {
      const stat = await this.stat(key, { signal });
      return (
        stat && {
          data: new Uint8Array(0),
          contentEncoding: stat.contentEncoding,
          totalSize: stat.size,
        }
      );
    }
    let encoding = headerOf(got.headers, "x-goog-stored-content-encoding");
    const contentType = headerOf(got.headers, "content-type");
    let total: number | undefined;
    if (encoding === undefined) {
      // An emulator that does not say how the object is stored: ask for its metadata.
      const stat = await this.stat(key, { signal });
      if (stat === undefined) return undefined;
      encoding = stat.contentEncoding ?? "identity";
      total = stat.size;
    }
    const contentEncoding = encoding.toLowerCase() === "gzip" ? ("gzip" as const) : undefined;
    if (range === undefined) {
      return { data: got.data, contentEncoding, contentType, totalSize: got.data.length };
    }
    const cr = /\/(\d+)\s*$/.exec(headerOf(got.headers, "content-range") ?? "");
    if (got.status !== 206 || cr === null) {
      // The range was ignored (whole object sent): cut it here.
      const { start: s, end: e } = rangeBounds(range, got.data.length);
      return {
        data: got.data.slice(s, e),
        contentEncoding,
        contentType,
        totalSize: got.data.length,
      };
    }
    return { data: got.data, contentEncoding, contentType, totalSize: total ?? Number(cr[1]) };
  }

  async put(key: string, data: Uint8Array, options: PutOptions = {}): Promise<void> {
    checkKey(this.url, key);
    const what = `cannot write ${this.url}/${key}`;
    throwIfAborted(options.signal, what);
    const file = this.file(key);
    const metadata: Record<string, string> = {
      contentType: options.contentType ?? "application/octet-stream",
    };
    if (options.contentEncoding) metadata.contentEncoding = options.contentEncoding;
    if (options.cacheControl) metadata.cacheControl = options.cacheControl;
    await this.call(what, options.signal, async () => {
      try {
        await file.save(Buffer.from(data.buffer, data.byteOffset, data.byteLength), {
          resumable: data.length >= this.resumableThreshold,
          metadata,
          gzip: false,
          validation: false,
        });
      } catch (e) {
        if (status(e) === 404) {
          throw new VoxportError(
            "NOT_FOUND",
            `${what}: GCS bucket "${this.bucketName}" does not exist`,
          );
        }
        throw e;
      }
    });
  }

  async stat(key: string, options: { signal?: AbortSignal } = {}): Promise<ObjectStat | undefined> {
    checkKey(this.url, key);
    const file = this.file(key);
    return this.call(`cannot stat ${this.url}/${key}`, options.signal, async () => {
      try {
        const [meta] = await file.getMetadata();
        return {
          size: Number(meta.size ?? 0),
          contentEncoding: meta.contentEncoding === "gzip" ? ("gzip" as const) : undefined,
          etag: meta.etag ?? undefined,
        };
      } catch (e) {
        if (status(e) === 404) return undefined;
        throw e;
      }
    });
  }

  async delete(key: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    checkKey(this.url, key);
    const file = this.file(key);
    await this.call(`cannot delete ${this.url}/${key}`, options.signal, async () => {
      try {
        await file.delete();
      } catch (e) {
        if (status(e) !== 404) throw e;
      }
    });
  }

  async *list(prefix: string, options: { signal?: AbortSignal } = {}): AsyncIterable<string> {
    checkPrefix(this.url, prefix);
    const what = `cannot list ${this.url}/${prefix}`;
    let pageToken: string | undefined;
    do {
      const [files, next] = await this.call(what, options.signal, async () => {
        try {
          const [page, nextQuery] = await this.bucket.getFiles({
            prefix: this.root + prefix,
            autoPaginate: false,
            maxResults: this.pageSize,
            pageToken,
          });
          return [page, nextQuery as { pageToken?: string } | null | undefined] as const;
        } catch (e) {
          if (status(e) === 404) {
            throw new VoxportError(
              "NOT_FOUND",
              `${what}: GCS bucket "${this.bucketName}" does not exist`,
            );
          }
          throw e;
        }
      });
      for (const f of files) {
        if (f.name.startsWith(this.root)) yield f.name.slice(this.root.length);
      }
      pageToken = next?.pageToken ?? undefined;
    } while (pageToken !== undefined);
  }

  async setPublicAccess(
    access: PublicAccess,
    options: { signal?: AbortSignal } = {},
  ): Promise<void> {
    if (access.publicRead) await this.grantPublicRead(options.signal);
    if (access.corsOrigins.length > 0) await this.allowOrigins(access.corsOrigins, options.signal);
  }

  private async grantPublicRead(signal: AbortSignal | undefined): Promise<void> {
    const what = `cannot make gs://${this.bucketName} public`;
    await this.call(what, signal, async () => {
      try {
        const [policy] = await this.bucket.iam.getPolicy({ requestedPolicyVersion: 3 });
        const bindings = policy.bindings ?? [];
        let binding = bindings.find((b) => b.role === PUBLIC_ROLE && b.condition === undefined);
        if (binding?.members.includes("allUsers")) return;
        if (binding === undefined) {
          binding = { role: PUBLIC_ROLE, members: [] };
          bindings.push(binding);
        }
        binding.members.push("allUsers");
        // The etag read with the policy makes a concurrent change fail (412) and retry.
        await this.bucket.iam.setPolicy({ ...policy, bindings });
      } catch (e) {
        throw this.accessError(what, e);
      }
    });
  }

  private async allowOrigins(origins: string[], signal: AbortSignal | undefined): Promise<void> {
    const what = `cannot set CORS on gs://${this.bucketName}`;
    const headers: string[] = [...CORS_REQUEST_HEADERS, ...CORS_EXPOSE_HEADERS];
    await this.call(what, signal, async () => {
      try {
        const [meta] = await this.bucket.getMetadata();
        const entries = ((meta.cors ?? []) as CorsEntry[]).map((c) => ({ ...c }));
        // Ours: GET+HEAD with exactly our headers (GCS entries have no ID).
        const same = (a: readonly string[] = [], b: readonly string[]) =>
          a.length === b.length && b.every((x) => a.includes(x));
        const mine = entries.find(
          (c) => same(c.method, CORS_METHODS) && same(c.responseHeader, headers),
        );
        const entry: CorsEntry = {
          origin: mergeOrigins(mine?.origin ?? [], origins),
          method: [...CORS_METHODS],
          responseHeader: headers,
          maxAgeSeconds: CORS_MAX_AGE_SECONDS,
        };
        const cors = [...entries.filter((c) => c !== mine), entry];
        await this.bucket.setMetadata({ cors });
      } catch (e) {
        throw this.accessError(what, e);
      }
    });
  }

  private accessError(what: string, e: unknown): unknown {
    const code = status(e);
    if (code === 404) {
      return new VoxportError(
        "NOT_FOUND",
        `${what}: GCS bucket "${this.bucketName}" does not exist`,
      );
    }
    const message = e instanceof Error ? e.message : "";
    if (code === 412 && /public access prevention/i.test(message)) {
      return new VoxportError(
        "STORAGE",
        `${what}: the bucket enforces public access prevention; lift it first ` +
          `(gcloud storage buckets update gs://${this.bucketName} --no-public-access-prevention) ` +
          "or leave out --public",
      );
    }
    if (code === 412) return new RetryableError("HTTP 412 (the policy changed meanwhile)");
    return e;
  }

  private file(key: string): File {
    return this.bucket.file(this.root + key);
  }

  private call<T>(
    what: string,
    signal: AbortSignal | undefined,
    fn: (abortSignal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    return withRetries(
      what,
      async (abortSignal) => {
        try {
          return await fn(abortSignal);
        } catch (e) {
          throw mapError(what, e);
        }
      },
      { signal, policy: this.policy, limiter: this.limiter },
    );
  }
}

const PUBLIC_ROLE = "roles/storage.objectViewer";

interface CorsEntry {
  origin?: string[];
  method?: string[];
  responseHeader?: string[];
  maxAgeSeconds?: number;
}

function mapError(what: string, e: unknown): unknown {
  if (e instanceof VoxportError || e instanceof RetryableError) return e;
  const code = status(e);
  if (code === 401 || code === 403) {
    return new VoxportError(
      "STORAGE",
      `${what}: access denied (HTTP ${code}); check the Google credentials ` +
        "(GOOGLE_APPLICATION_CREDENTIALS or `gcloud auth application-default login`) and the bucket's IAM",
    );
  }
  if (code !== undefined && (code === 408 || code === 429 || (code >= 500 && code !== 501))) {
    return new RetryableError(`HTTP ${code}`);
  }
  if (code !== undefined && code >= 400) {
    const message = e instanceof Error ? e.message.split("\n")[0].slice(0, 200) : "";
    return new VoxportError("STORAGE", `${what}: HTTP ${code} ${message}`.trim());
  }
  return e instanceof Error ? e : new Error(String(e));
}

function status(e: unknown): number | undefined {
  const x = e as { code?: unknown; status?: unknown; response?: { status?: unknown } } | null;
  for (const v of [x?.code, x?.status, x?.response?.status]) {
    if (typeof v === "number") return v;
    if (typeof v === "string" && /^\d{3}$/.test(v)) return Number(v);
  }
  return undefined;
}

function headerOf(
  headers: Record<string, string | string[] | undefined>,
  name: string,
): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The stored bytes (no inflation, no hash check: ranges cannot be checked) plus headers. */
function download(
  file: File,
  start: number | undefined,
  end: number | undefined,
  signal: AbortSignal,
): Promise<Download> {
  return new Promise((resolve, reject) => {
    const stream = file.createReadStream({
      decompress: false,
      validation: false,
      ...(start !== undefined ? { start } : {}),
      ...(end !== undefined ? { end } : {}),
    });
    let status = 0;
    let headers: Record<string, string | string[] | undefined> = {};
    const chunks: Buffer[] = [];
    const onAbort = () => stream.destroy(new Error("aborted"));
    signal.addEventListener("abort", onAbort, { once: true });
    stream.on("response", (res: { statusCode?: number; status?: number; headers?: unknown }) => {
      status = res.statusCode ?? res.status ?? 0;
      headers = normaliseHeaders(res.headers);
    });
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("error", (e) => {
      signal.removeEventListener("abort", onAbort);
      reject(e);
    });
    stream.on("end", () => {
      signal.removeEventListener("abort", onAbort);
      const data = Buffer.concat(chunks);
      const expected = Number(headerOf(headers, "content-length"));
      if (Number.isFinite(expected) && expected !== data.length && status !== 0) {
        reject(new RetryableError(`body cut short: ${data.length} of ${expected} bytes`));
        return;
      }
      resolve({ status, headers, data: new Uint8Array(data.buffer, data.byteOffset, data.length) });
    });
  });
}

function normaliseHeaders(raw: unknown): Record<string, string | string[] | undefined> {
  const out: Record<string, string | string[] | undefined> = {};
  if (raw === null || typeof raw !== "object") return out;
  if (raw instanceof Headers) {
    raw.forEach((v, k) => {
      out[k.toLowerCase()] = v;
    });
    return out;
  }
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
    out[k.toLowerCase()] =
      typeof v === "string" || Array.isArray(v) ? (v as string | string[]) : String(v);
  }
  return out;
}
