import { VoxportError } from "../errors.js";
import type { KvStore, PublicAccess } from "./kvstore.js";

/**
 * `--public` and `--cors ORIGIN`: what a bucket or container needs so that Neuroglancer, running
 * in a browser on another origin, can read a dataset straight from it. Each object-store driver
 * implements `KvStore.setPublicAccess` with its own mechanism (S3 bucket policy + CORS rules,
 * GCS IAM binding + bucket CORS, Swift container ACL + CORS metadata); the CORS rule is the same
 * everywhere and defined here.
 */

/** Methods Neuroglancer uses: GET for chunks, shards (ranged) and info; HEAD for probes. */
export const CORS_METHODS = ["GET", "HEAD"] as const;
/** Request headers a browser reader sends: Range for shard reads, Authorization when signed in. */
export const CORS_REQUEST_HEADERS = ["Range", "Authorization"] as const;
/** Response headers the page must be able to read (Content-Range: shard index and sizes). */
export const CORS_EXPOSE_HEADERS = [
  "Content-Length",
  "Content-Range",
  "Content-Encoding",
  "Content-Type",
  "ETag",
] as const;
/** How long a browser may cache a preflight answer. */
export const CORS_MAX_AGE_SECONDS = 3600;

/**
 * The access the flags ask for, or undefined when neither is given. `--public` alone also
 * opens CORS to every origin (a public dataset no page can read would be of little use);
 * `--cors` alone sets CORS only (readers bring their own credentials). Origins are checked:
 * `*` or `scheme://host[:port]`, nothing else.
 */
export function publicAccessFromFlags(flags: {
  public?: boolean;
  cors?: string[];
}): PublicAccess | undefined {
  const origins = flags.cors ?? [];
  if (!flags.public && origins.length === 0) return undefined;
  for (const o of origins) checkOrigin(o);
  return {
    publicRead: flags.public === true,
    corsOrigins: mergeOrigins([], origins.length > 0 ? origins : ["*"]),
  };
}

function checkOrigin(origin: string): void {
  if (origin === "*") return;
  let parsed: URL | undefined;
  try {
    parsed = new URL(origin);
  } catch {
    parsed = undefined;
  }
  if (parsed === undefined || parsed.origin === "null" || parsed.origin !== origin) {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `--cors ${JSON.stringify(origin)}: an origin is "*" or scheme://host[:port] without a path ` +
        "or trailing slash, e.g. https://neuroglancer-demo.appspot.com",
    );
  }
}

/** Union of two origin lists; `*` absorbs every other origin. */
export function mergeOrigins(a: readonly string[], b: readonly string[]): string[] {
  const all = [...new Set([...a, ...b])];
  return all.includes("*") ? ["*"] : all.sort();
}

/**
 * Throws the one clear error for a store that has no access policy (file://, mem://, http://),
 * so that `--public` / `--cors` fail before any work instead of being silently ignored.
 */
export function checkPublicAccessSupported(store: KvStore): void {
  if (typeof store.setPublicAccess === "function") return;
  throw new VoxportError(
    "INVALID_ARGUMENT",
    `--public/--cors apply to object stores (s3://, gs://, swift://), not ${store.url}: a local ` +
      "folder has no access policy; serve it with `voxport view` (which sends CORS headers) or " +
      "configure the web server in front of it",
  );
}

/** Applies `access` to `store` (see KvStore.setPublicAccess). */
export async function applyPublicAccess(
  store: KvStore,
  access: PublicAccess,
  options: { signal?: AbortSignal } = {},
): Promise<void> {
  checkPublicAccessSupported(store);
  await store.setPublicAccess!(access, options);
}
