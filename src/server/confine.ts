import * as path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { VoxportError } from "../errors.js";

/**
 * Where a request may read and write. Every location a request names (a destination URL, an
 * emwrite bucket name, an object name inside a bucket, a job's source) is first normalised —
 * percent-decoding once, `.`/`..`/duplicate slashes resolved, local paths made absolute — and
 * then must lie under one of the server's `--allow` prefixes. Anything else is a 403 before a
 * single byte is read or written.
 *
 * Deliberately refused rather than interpreted: a query or fragment (an `s3://…?endpoint=` in a
 * request could send the server's credentials to another host), a `%` left after one decoding
 * (double encoding), control characters, and `..` that climbs above a bucket.
 */

export class ForbiddenLocation extends VoxportError {
  constructor(
    message: string,
    readonly field: string,
  ) {
    super("INVALID_ARGUMENT", message);
    this.name = "ForbiddenLocation";
  }
}

const SCHEME = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/is;
/** Bucket names as GCS and S3 allow them (no slashes, no dots-only names). */
const BUCKET = /^[a-z0-9][a-z0-9._-]{0,221}$/i;

function forbid(field: string, why: string): never {
  throw new ForbiddenLocation(`${field}: ${why}`, field);
}

function decodeOnce(field: string, value: string): string {
  let out: string;
  try {
    out = decodeURIComponent(value);
  } catch {
    forbid(field, "malformed percent-encoding");
  }
  if (out.includes("%")) forbid(field, "percent-encoding is decoded once; '%' may not remain");
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(out)) forbid(field, "control characters are not allowed");
  if (/[?#]/.test(out)) forbid(field, "query strings and fragments are not allowed in locations");
  return out;
}

/** Resolves `.`, `..` and empty segments; `..` above the root is refused. */
function resolveSegments(field: string, parts: string[]): string[] {
  const out: string[] = [];
  for (const p of parts) {
    if (p === "" || p === ".") continue;
    if (p === "..") {
      if (out.length === 0) forbid(field, "'..' climbs above the bucket root");
      out.pop();
      continue;
    }
    out.push(p);
  }
  return out;
}

/**
 * The canonical form of a location: `file:///abs/path` (no trailing slash) for local paths and
 * `file:` URLs, `scheme://bucket/key…` for the rest. Throws ForbiddenLocation for what is
 * refused outright.
 */
export function normalizeLocation(raw: string, field: string): string {
  if (typeof raw !== "string" || raw.trim() === "") forbid(field, "empty location");
  const m = SCHEME.exec(raw);
  const scheme = m ? m[1].toLowerCase() : "file";
  const rest = decodeOnce(field, m ? m[2] : raw);
  if (scheme === "file") {
    // `file:///abs`, `file://./rel` (CloudFiles style) or a bare path: absolute, resolved.
    const abs = path.resolve(process.cwd(), rest);
    return pathToFileURL(abs).href.replace(/\/+$/, "") || "file:///";
  }
  const [authority, ...parts] = rest.split("/");
  if (authority === "" || authority === "." || authority === "..") {
    forbid(field, `${scheme}:// needs a bucket or host name`);
  }
  const segs = resolveSegments(field, parts);
  return `${scheme}://${authority}${segs.length ? `/${segs.join("/")}` : ""}`;
}

/** An object name inside a bucket, normalised: no `.`/`..`/empty segments, never climbing out. */
export function objectKey(name: string, field: string): string {
  const segs = resolveSegments(field, decodeOnce(field, name).split("/"));
  if (segs.length === 0) forbid(field, "empty object name");
  return segs.join("/");
}

/** Joins an object name onto a normalised location; the name may not climb out of it. */
export function joinLocation(base: string, name: string, field: string): string {
  const segs = objectKey(name, field).split("/");
  if (base.startsWith("file://")) {
    return pathToFileURL(path.join(fileURLToPath(base), ...segs)).href;
  }
  return `${base}/${segs.join("/")}`;
}

/** An `--allow` prefix: normalised, always ending in "/" (prefixes are directories). */
export function normalizePrefix(prefix: string): string {
  const n = normalizeLocation(prefix, `--allow ${prefix}`);
  if (n === "file:///") return n;
  return `${n}/`;
}

export interface Confinement {
  /** Normalised prefixes, each ending in '/'. */
  readonly prefixes: readonly string[];
  /** emwrite bucket names map to `${bucketBase}${name}` (e.g. `gs://`, `file:///data/`). */
  readonly bucketBase?: string;
}

export function makeConfinement(allow: readonly string[], bucketBase?: string): Confinement {
  let base = bucketBase;
  if (base !== undefined && !/:\/\/$/.test(base) && !base.endsWith("/")) base = `${base}/`;
  return { prefixes: allow.map(normalizePrefix), bucketBase: base };
}

/** Throws ForbiddenLocation unless `location` (normalised) lies under an allowed prefix. */
export function checkAllowed(c: Confinement, location: string, field: string): string {
  const n = normalizeLocation(location, field);
  const inside = c.prefixes.some(
    (p) => n === p.slice(0, -1) || n.startsWith(p) || p === "file:///",
  );
  if (!inside) forbid(field, "location is outside the prefixes this server may use");
  return n;
}

/**
 * An emwrite `dest`/`source` field: a bucket name (mapped onto the bucket base) or, as a
 * voxport extension, a full URL. Returns the normalised, allowed location.
 */
export function bucketLocation(c: Confinement, value: string, field: string): string {
  if (SCHEME.test(value)) return checkAllowed(c, value, field);
  // A "bucket" that is a path (`../x`, `/etc`, `%2e%2e`) is an attempt to leave the base.
  if (/[/\\%]/.test(value) || /^\.+$/.test(value)) {
    forbid(field, "a bucket name may not be a path");
  }
  if (!BUCKET.test(value)) {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `${field}: ${JSON.stringify(value)} is neither a bucket name nor a URL`,
    );
  }
  if (c.bucketBase === undefined) {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `${field}: bucket names need the server to be started with --bucket-base (e.g. gs:// or file:///data/); or send a full URL`,
    );
  }
  return checkAllowed(c, `${c.bucketBase}${value}`, field);
}
