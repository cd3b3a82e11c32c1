/**
 * The byte-store contract every storage backend implements (file, mem, http now; s3, gs, swift
 * later). Shaped after neuroglancer's kvstore and tensorstore's kvstore driver:
 *  - keys are '/'-separated strings relative to the store's root URL, never starting with '/';
 *  - a missing key is a value (`undefined`), not an exception;
 *  - content encoding travels with the bytes: `put(..., {contentEncoding: "gzip"})` stores bytes
 *    that are already gzip'd, and `get` reports the encoding back. How a backend records it is
 *    the backend's business (object metadata on S3/GCS/Swift, a `.gz` suffix on local files);
 *  - capabilities are declared, and code that needs one checks it and names the store.
 */

export type ByteRange = { offset: number; length: number } | { suffixLength: number };

export interface StoredObject {
  /** The bytes as stored: still compressed when `contentEncoding` is set. */
  data: Uint8Array;
  contentEncoding?: "gzip";
  contentType?: string;
  /** Full object size when the backend knows it (always set for ranged reads). */
  totalSize?: number;
}

export interface PutOptions {
  contentType?: string;
  /** The bytes passed are already encoded this way (readers must decode them). */
  contentEncoding?: "gzip";
  cacheControl?: string;
  signal?: AbortSignal;
}

export interface GetOptions {
  range?: ByteRange;
  signal?: AbortSignal;
}

export interface ObjectStat {
  /** Stored size in bytes (of the encoded bytes when contentEncoding is set). */
  size: number;
  contentEncoding?: "gzip";
  etag?: string;
}

export interface KvStoreCapabilities {
  write: boolean;
  list: boolean;
  rangeReads: boolean;
  suffixReads: boolean;
}

export interface KvStore {
  /** Root URL of the store, normalised, without a trailing slash (e.g. `file:///data/em`). */
  readonly url: string;
  readonly capabilities: KvStoreCapabilities;

  /** Whole object or a byte range of it; `undefined` when the key does not exist. */
  get(key: string, options?: GetOptions): Promise<StoredObject | undefined>;
  /** Atomic: readers see the old object or the new one, never a partial one. */
  put(key: string, data: Uint8Array, options?: PutOptions): Promise<void>;
  stat(key: string, options?: { signal?: AbortSignal }): Promise<ObjectStat | undefined>;
  /** Deleting a missing key is not an error. */
  delete(key: string, options?: { signal?: AbortSignal }): Promise<void>;
  /** All keys under `prefix` (recursive), relative to the root, in no particular order. */
  list(prefix: string, options?: { signal?: AbortSignal }): AsyncIterable<string>;
  /**
   * Remove what interrupted writes left behind under `prefix` (temporary files of a killed
   * process; on object stores, incomplete multipart uploads). Never touches complete objects
   * or writes still in progress. Returns how many leftovers were removed. Optional.
   */
  sweep?(prefix: string, options?: { signal?: AbortSignal }): Promise<number>;
  /**
   * Let browsers read the store's objects, as Neuroglancer does: anonymous read and/or CORS
   * (see PublicAccess). Merges with what the bucket/container already allows and is idempotent.
   * Only object stores implement it (s3, gs, swift); a local folder has no access policy.
   */
  setPublicAccess?(access: PublicAccess, options?: { signal?: AbortSignal }): Promise<void>;
  /** Release connections / handles. Optional. */
  close?(): Promise<void>;
}

/** What `--public` / `--cors` ask of an object store (see public-access.ts for the defaults). */
export interface PublicAccess {
  /**
   * Anyone may read (GET/HEAD) the objects under the store's root without credentials. S3 scopes
   * the grant to the prefix; GCS (IAM) and Swift (container ACL) grant it for the whole
   * bucket/container.
   */
  publicRead: boolean;
  /** Browser origins allowed to read cross-origin (`*` = any); empty leaves CORS as it is. */
  corsOrigins: string[];
}
