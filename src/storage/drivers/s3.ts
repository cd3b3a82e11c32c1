import { createHash } from "node:crypto";
import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import {
  type CORSRule,
  DeleteObjectCommand,
  GetBucketCorsCommand,
  GetBucketPolicyCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutBucketCorsCommand,
  PutBucketPolicyCommand,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { VoxportError } from "../../errors.js";
import { throwIfAborted } from "../abort.js";
import { type BucketUrl, flag, parseBucketUrl } from "../cloud-url.js";
import { checkAwsSharedCredentials, redact } from "../credentials.js";
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
import { answerEmptyRange, rangeBounds, rangeHeader } from "../range.js";
import {
  defaultConcurrency,
  defaultRetryPolicy,
  Limiter,
  RetryableError,
  type RetryPolicy,
  withRetries,
} from "../retry.js";

/**
 * `s3://bucket/prefix`: Amazon S3 and S3-compatible stores (MinIO, Ceph RGW, moto, …) through
 * the official SDK v3.
 *
 * Where the endpoint comes from, first match wins: `?endpoint=` in the URL, AWS_ENDPOINT_URL_S3,
 * AWS_ENDPOINT_URL; none means AWS itself. Path-style addressing (`http://host/bucket/key`) is
 * used with a custom endpoint unless `?path_style=false` / AWS_S3_FORCE_PATH_STYLE=false.
 * Region: `?region=`, AWS_REGION, AWS_DEFAULT_REGION, else us-east-1 (with region redirects
 * followed). Credentials: the SDK's default chain (environment, shared files and profiles, SSO,
 * web identity, container and instance metadata); `?anonymous=true` or AWS_NO_SIGN_REQUEST=true
 * sends unsigned requests for public buckets. A shared credentials file that group or others can
 * read is refused (chmod 600).
 *
 * Writes set Content-Type, Content-Encoding (gzip'd chunks keep their encoding as object
 * metadata, so browsers inflate them for Neuroglancer) and Cache-Control. Objects from
 * `multipartThreshold` bytes (default 16 MiB, VOXPORT_S3_MULTIPART_THRESHOLD) go up as a
 * multipart upload (lib-storage `Upload`, 8 MiB parts, 4 at a time, each part retried by the
 * SDK). Reads may be ranged (offset or suffix); listings page through ListObjectsV2 with
 * continuation tokens. Every call goes through the shared retry loop (../retry.ts): 5xx,
 * 429, SlowDown and dropped connections are retried with backoff and jitter, NoSuchKey reads as
 * missing, NoSuchBucket is a NOT_FOUND error naming the bucket.
 *
 * `setPublicAccess` (`--public`, `--cors`): a bucket-policy statement that lets anyone
 * s3:GetObject under the store's prefix (merged into the bucket's policy by its Sid, other
 * statements kept), and a CORS rule with ID "voxport" (merged with the rules already there).
 */

export interface S3StoreOptions {
  endpoint?: string;
  region?: string;
  forcePathStyle?: boolean;
  anonymous?: boolean;
  policy?: Partial<RetryPolicy>;
  /** Requests in flight for this store. Default VOXPORT_STORAGE_CONCURRENCY or 32. */
  concurrency?: number;
  /** Objects of at least this many bytes use a multipart upload. */
  multipartThreshold?: number;
  /** Part size for multipart uploads (S3's minimum is 5 MiB). Default 8 MiB. */
  partSize?: number;
  /** Keys per ListObjectsV2 page (S3's cap is 1000). */
  listPageSize?: number;
}

interface ClientConfig {
  endpoint?: string;
  region: string;
  forcePathStyle: boolean;
  anonymous: boolean;
}

// One client (and connection pool) per configuration per process, shared by every store.
const clients = new Map<string, { single: S3Client; multipart: S3Client }>();

function clientsFor(config: ClientConfig): { single: S3Client; multipart: S3Client } {
  // The SDK warns once per process on Node 20 that releases after January 2027 need Node 22.
  // It is about future SDK upgrades, not this run; a CLI should not print it on every command
  // (set the variable to "false" to see it).
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  const id = JSON.stringify(config);
  let pair = clients.get(id);
  if (pair === undefined) {
    const make = (maxAttempts: number) =>
      new S3Client({
        region: config.region,
        endpoint: config.endpoint,
        forcePathStyle: config.forcePathStyle,
        followRegionRedirects: true,
        maxAttempts,
        requestHandler: {
          httpAgent: new HttpAgent({ keepAlive: true, maxSockets: 64 }),
          httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets: 64 }),
          connectionTimeout: 10_000,
        },
        ...(config.anonymous
          ? {
              credentials: { accessKeyId: "", secretAccessKey: "" },
              signer: { sign: async (request) => request },
            }
          : {}),
      });
    // Single requests: our retry loop alone (maxAttempts 1), so every driver backs off alike.
    // Multipart parts: the SDK retries each part, so one dropped part does not redo the whole.
    pair = { single: make(1), multipart: make(defaultRetryPolicy().attempts) };
    clients.set(id, pair);
  }
  return pair;
}

export class S3KvStore implements KvStore {
  readonly url: string;
  readonly bucket: string;
  readonly root: string;
  readonly capabilities: KvStoreCapabilities = {
    write: true,
    list: true,
    rangeReads: true,
    suffixReads: true,
  };
  readonly endpoint?: string;
  readonly region: string;
  private readonly client: S3Client;
  private readonly multipartClient: S3Client;
  private readonly policy: RetryPolicy;
  private readonly limiter: Limiter;
  private readonly multipartThreshold: number;
  private readonly partSize: number;
  private readonly pageSize: number;

  constructor(url: string, options: S3StoreOptions = {}) {
    const parsed: BucketUrl = parseBucketUrl(url, "s3", "bucket");
    const q = parsed.options;
    const env = process.env;
    this.url = parsed.url;
    this.bucket = parsed.bucket;
    this.root = parsed.root;
    const endpoint =
      options.endpoint ??
      (q.get("endpoint") || env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined);
    const anonymous =
      options.anonymous ?? flag(q.get("anonymous")) ?? flag(env.AWS_NO_SIGN_REQUEST) ?? false;
    if (!anonymous) checkAwsSharedCredentials(env);
    const config: ClientConfig = {
      endpoint,
      region:
        options.region ??
        (q.get("region") || env.AWS_REGION || env.AWS_DEFAULT_REGION || "us-east-1"),
      forcePathStyle:
        options.forcePathStyle ??
        flag(q.get("path_style")) ??
        flag(env.AWS_S3_FORCE_PATH_STYLE) ??
        endpoint !== undefined,
      anonymous,
    };
    this.endpoint = endpoint;
    this.region = config.region;
    ({ single: this.client, multipart: this.multipartClient } = clientsFor(config));
    this.policy = defaultRetryPolicy(options.policy);
    this.limiter = new Limiter(options.concurrency ?? defaultConcurrency());
    this.multipartThreshold =
      options.multipartThreshold ??
      (Number(env.VOXPORT_S3_MULTIPART_THRESHOLD) || 16 * 1024 * 1024);
    this.partSize = Math.max(5 * 1024 * 1024, options.partSize ?? 8 * 1024 * 1024);
    this.pageSize = Math.max(1, Math.min(1000, options.listPageSize ?? 1000));
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
    const result = await this.call(what, signal, async (abortSignal) => {
      try {
        const out = await this.client.send(
          new GetObjectCommand({
            Bucket: this.bucket,
            Key: this.root + key,
            Range: range === undefined ? undefined : rangeHeader(range),
          }),
          { abortSignal },
        );
        const data = (await out.Body?.transformToByteArray()) ?? new Uint8Array(0);
        if (out.ContentLength !== undefined && out.ContentLength !== data.length) {
          throw new RetryableError(
            `body cut short: ${data.length} of ${out.ContentLength} bytes received`,
          );
        }
        return { out, data };
      } catch (e) {
        if (
          errorName(e) === "NoSuchKey" ||
          (status(e) === 404 && errorName(e) !== "NoSuchBucket")
        ) {
          return undefined;
        }
        if (errorName(e) === "InvalidRange" || status(e) === 416) return "past-end" as const;
        throw e;
      }
    });
    if (result === undefined) return undefined;
    if (result === "past-end") {
      const stat = await this.stat(key, { signal });
      return stat === undefined
        ? undefined
        : { data: new Uint8Array(0), contentEncoding: stat.contentEncoding, totalSize: stat.size };
    }
    const { out, data } = result;
    const contentEncoding = out.ContentEncoding?.toLowerCase() === "gzip" ? "gzip" : undefined;
    const contentType = out.ContentType;
    if (range === undefined) return { data, contentEncoding, contentType, totalSize: data.length };
    const total = parseTotal(out.ContentRange);
    if (total === undefined) {
      // No Content-Range: the server sent the whole object.
      const { start, end } = rangeBounds(range, data.length);
      return { data: data.slice(start, end), contentEncoding, contentType, totalSize: data.length };
    }
    return { data, contentEncoding, contentType, totalSize: total };
  }

  async put(key: string, data: Uint8Array, options: PutOptions = {}): Promise<void> {
    checkKey(this.url, key);
    const what = `cannot write ${this.url}/${key}`;
    throwIfAborted(options.signal, what);
    const params = {
      Bucket: this.bucket,
      Key: this.root + key,
      ContentType: options.contentType ?? "application/octet-stream",
      ContentEncoding: options.contentEncoding,
      CacheControl: options.cacheControl,
    };
    if (data.length < this.multipartThreshold) {
      await this.call(what, options.signal, (abortSignal) =>
        this.client.send(new PutObjectCommand({ ...params, Body: data }), { abortSignal }),
      );
      return;
    }
    // Multipart: a failed attempt aborts its upload (no orphaned parts); the next starts anew.
    await this.call(what, options.signal, async (abortSignal) => {
      const upload = new Upload({
        client: this.multipartClient,
        params: { ...params, Body: data },
        partSize: this.partSize,
        queueSize: 4,
        leavePartsOnError: false,
      });
      const onAbort = () => void upload.abort().catch(() => {});
      abortSignal.addEventListener("abort", onAbort, { once: true });
      try {
        await upload.done();
      } finally {
        abortSignal.removeEventListener("abort", onAbort);
      }
    });
  }

  async stat(key: string, options: { signal?: AbortSignal } = {}): Promise<ObjectStat | undefined> {
    checkKey(this.url, key);
    const what = `cannot stat ${this.url}/${key}`;
    return this.call(what, options.signal, async (abortSignal) => {
      try {
        const out = await this.client.send(
          new HeadObjectCommand({ Bucket: this.bucket, Key: this.root + key }),
          { abortSignal },
        );
        return {
          size: out.ContentLength ?? 0,
          contentEncoding:
            out.ContentEncoding?.toLowerCase() === "gzip" ? ("gzip" as const) : undefined,
          etag: out.ETag,
        };
      } catch (e) {
        // HEAD has no body, so a missing bucket looks like a missing key here.
        if (status(e) === 404 || errorName(e) === "NotFound" || errorName(e) === "NoSuchKey") {
          return undefined;
        }
        throw e;
      }
    });
  }

  async delete(key: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    checkKey(this.url, key);
    await this.call(`cannot delete ${this.url}/${key}`, options.signal, (abortSignal) =>
      this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.root + key }), {
        abortSignal,
      }),
    );
  }

  async *list(prefix: string, options: { signal?: AbortSignal } = {}): AsyncIterable<string> {
    checkPrefix(this.url, prefix);
    let token: string | undefined;
    do {
      const page = await this.call(
        `cannot list ${this.url}/${prefix}`,
        options.signal,
        (abortSignal) =>
          this.client.send(
            new ListObjectsV2Command({
              Bucket: this.bucket,
              Prefix: this.root + prefix,
              ContinuationToken: token,
              MaxKeys: this.pageSize,
            }),
            { abortSignal },
          ),
      );
      for (const object of page.Contents ?? []) {
        if (object.Key?.startsWith(this.root)) yield object.Key.slice(this.root.length);
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
  }

  async setPublicAccess(
    access: PublicAccess,
    options: { signal?: AbortSignal } = {},
  ): Promise<void> {
    if (access.publicRead) await this.grantPublicRead(options.signal);
    if (access.corsOrigins.length > 0) await this.allowOrigins(access.corsOrigins, options.signal);
  }

  /** The policy statement's Sid: one per prefix, so a rerun replaces it instead of adding one. */
  publicReadSid(): string {
    const id = createHash("sha256").update(this.root).digest("hex").slice(0, 16);
    return `VoxportPublicRead${id}`;
  }

  private async grantPublicRead(signal: AbortSignal | undefined): Promise<void> {
    const what = `cannot make ${this.url} public`;
    const current = await this.call(what, signal, async (abortSignal) => {
      try {
        const out = await this.client.send(new GetBucketPolicyCommand({ Bucket: this.bucket }), {
          abortSignal,
        });
        return out.Policy;
      } catch (e) {
        if (errorName(e) === "NoSuchBucketPolicy") return undefined;
        throw e;
      }
    });
    let policy: { Version?: string; Statement?: unknown; [k: string]: unknown };
    try {
      policy = current ? JSON.parse(current) : { Version: "2012-10-17", Statement: [] };
    } catch {
      throw new VoxportError(
        "STORAGE",
        `${what}: the bucket policy of "${this.bucket}" is not JSON; fix or remove it first`,
      );
    }
    const sid = this.publicReadSid();
    const statements = (
      Array.isArray(policy.Statement)
        ? policy.Statement
        : policy.Statement === undefined
          ? []
          : [policy.Statement]
    ).filter((st) => (st as { Sid?: unknown } | null)?.Sid !== sid);
    statements.push({
      Sid: sid,
      Effect: "Allow",
      Principal: "*",
      Action: "s3:GetObject",
      Resource: `arn:${partition(this.region)}:s3:::${this.bucket}/${this.root}*`,
    });
    policy.Statement = statements;
    policy.Version ??= "2012-10-17";
    try {
      await this.call(what, signal, (abortSignal) =>
        this.client.send(
          new PutBucketPolicyCommand({ Bucket: this.bucket, Policy: JSON.stringify(policy) }),
          { abortSignal },
        ),
      );
    } catch (e) {
      if (e instanceof VoxportError && e.code === "STORAGE" && /access denied/.test(e.message)) {
        // New AWS buckets block public policies; say how to allow them rather than just "denied".
        throw new VoxportError(
          "STORAGE",
          `${e.message}. If the bucket's Block Public Access setting is on (the default for new ` +
            "AWS buckets), allow public policies for it first: aws s3api put-public-access-block " +
            `--bucket ${this.bucket} --public-access-block-configuration ` +
            "BlockPublicPolicy=false,RestrictPublicBuckets=false",
          { cause: e },
        );
      }
      throw e;
    }
  }

  private async allowOrigins(origins: string[], signal: AbortSignal | undefined): Promise<void> {
    const what = `cannot set CORS on S3 bucket "${this.bucket}"`;
    const rules = await this.call(what, signal, async (abortSignal) => {
      try {
        const out = await this.client.send(new GetBucketCorsCommand({ Bucket: this.bucket }), {
          abortSignal,
        });
        return out.CORSRules ?? [];
      } catch (e) {
        if (errorName(e) === "NoSuchCORSConfiguration") return [];
        throw e;
      }
    });
    const previous = rules.find((r) => r.ID === VOXPORT_CORS_ID);
    const rule: CORSRule = {
      ID: VOXPORT_CORS_ID,
      AllowedOrigins: mergeOrigins(previous?.AllowedOrigins ?? [], origins),
      AllowedMethods: [...CORS_METHODS],
      AllowedHeaders: [...CORS_REQUEST_HEADERS],
      ExposeHeaders: [...CORS_EXPOSE_HEADERS],
      MaxAgeSeconds: CORS_MAX_AGE_SECONDS,
    };
    const next = [...rules.filter((r) => r.ID !== VOXPORT_CORS_ID), rule];
    await this.call(what, signal, (abortSignal) =>
      this.client.send(
        new PutBucketCorsCommand({ Bucket: this.bucket, CORSConfiguration: { CORSRules: next } }),
        { abortSignal },
      ),
    );
  }

  /** Runs one SDK call under the shared retry loop, mapping SDK errors to voxport's rules. */
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
          throw this.mapError(what, e);
        }
      },
      { signal, policy: this.policy, limiter: this.limiter },
    );
  }

  private mapError(what: string, e: unknown): unknown {
    if (e instanceof VoxportError || e instanceof RetryableError) return e;
    const name = errorName(e);
    const code = status(e);
    const message = redact(e instanceof Error ? e.message : String(e), [
      process.env.AWS_SECRET_ACCESS_KEY,
      process.env.AWS_SESSION_TOKEN,
    ]);
    const where = this.endpoint === undefined ? "" : ` at ${this.endpoint}`;
    if (name === "NoSuchBucket") {
      return new VoxportError(
        "NOT_FOUND",
        `${what}: S3 bucket "${this.bucket}" does not exist${where}`,
      );
    }
    if (
      name === "InvalidAccessKeyId" ||
      name === "SignatureDoesNotMatch" ||
      name === "InvalidToken" ||
      name === "ExpiredToken" ||
      name === "CredentialsProviderError" ||
      name === "AccessDenied" ||
      name === "AllAccessDisabled" ||
      code === 401 ||
      code === 403
    ) {
      return new VoxportError(
        "STORAGE",
        `${what}: access denied${where} (${name ?? `HTTP ${code}`}: ${message}); check the AWS ` +
          "credentials (AWS_ACCESS_KEY_ID / AWS_PROFILE / ~/.aws/credentials) and the bucket policy",
      );
    }
    if (
      code === 408 ||
      code === 429 ||
      (code !== undefined && code >= 500 && code !== 501) ||
      name === "SlowDown" ||
      name === "ThrottlingException" ||
      name === "RequestTimeout" ||
      name === "RequestTimeTooSkewed" ||
      name === "InternalError" ||
      name === "ServiceUnavailable"
    ) {
      return new RetryableError(`${name ?? "HTTP"} ${code ?? ""}`.trim());
    }
    if (code !== undefined && code >= 400) {
      return new VoxportError("STORAGE", `${what}: HTTP ${code} ${name ?? ""}: ${message}`.trim());
    }
    // No HTTP status: a network-level failure (reset, refused, timeout, truncated body).
    return e instanceof Error ? e : new Error(message);
  }
}

const VOXPORT_CORS_ID = "voxport";

/** The ARN partition of a region (aws, aws-cn, aws-us-gov). */
function partition(region: string): string {
  if (region.startsWith("cn-")) return "aws-cn";
  if (region.startsWith("us-gov-")) return "aws-us-gov";
  return "aws";
}

function errorName(e: unknown): string | undefined {
  if (typeof e !== "object" || e === null) return undefined;
  const x = e as { name?: unknown; Code?: unknown };
  return typeof x.Code === "string" ? x.Code : typeof x.name === "string" ? x.name : undefined;
}

function status(e: unknown): number | undefined {
  const meta = (e as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata;
  return meta?.httpStatusCode;
}

function parseTotal(contentRange: string | undefined): number | undefined {
  const m = /\/(\d+)\s*$/.exec(contentRange ?? "");
  return m === null ? undefined : Number(m[1]);
}
