import { promisify } from "node:util";
import { gunzip as gunzipCallback } from "node:zlib";
import { VoxportError } from "../errors.js";
import type { KvStore } from "./kvstore.js";

/**
 * Helpers the rest of voxport reads and writes through. Decompression lives here, once, as in
 * CloudFiles: drivers only report how bytes are stored, callers get plain bytes.
 */

const gunzip = promisify(gunzipCallback);

/** `<store.url>/<key>`, the name used for a key in messages. */
export function keyUrl(store: KvStore, key: string): string {
  return `${store.url}/${key}`;
}

/** Joins key parts with '/', dropping empty parts and stray slashes at the joins. */
export function joinKey(...parts: string[]): string {
  return parts
    .map((part) => part.replace(/^\/+|\/+$/g, ""))
    .filter((part) => part !== "")
    .join("/");
}

/** The whole object as plain bytes (gunzipped when stored gzip'd), or undefined if missing. */
export async function readBytes(
  store: KvStore,
  key: string,
  options: { signal?: AbortSignal } = {},
): Promise<Uint8Array | undefined> {
  const object = await store.get(key, { signal: options.signal });
  if (object === undefined) return undefined;
  if (object.contentEncoding !== "gzip") return object.data;
  try {
    return new Uint8Array(await gunzip(object.data));
  } catch (e) {
    throw new VoxportError(
      "CODEC",
      `cannot gunzip ${keyUrl(store, key)}: ${e instanceof Error ? e.message : String(e)}`,
      { cause: e },
    );
  }
}

/** Like readBytes, but a missing key is a NOT_FOUND error naming its URL. */
export async function requireBytes(
  store: KvStore,
  key: string,
  options: { signal?: AbortSignal } = {},
): Promise<Uint8Array> {
  const data = await readBytes(store, key, options);
  if (data === undefined) {
    throw new VoxportError("NOT_FOUND", `${keyUrl(store, key)} does not exist`);
  }
  return data;
}

/**
 * Parses a JSON object such as an `info` file. Returns `unknown`: callers validate the shape.
 * Missing → NOT_FOUND; not UTF-8 JSON → INVALID_INFO; both name the URL.
 */
export async function readJson(
  store: KvStore,
  key: string,
  options: { signal?: AbortSignal } = {},
): Promise<unknown> {
  const data = await requireBytes(store, key, options);
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(data));
  } catch (e) {
    throw new VoxportError(
      "INVALID_INFO",
      `${keyUrl(store, key)} is not valid JSON: ${e instanceof Error ? e.message : String(e)}`,
      { cause: e },
    );
  }
}

/**
 * Writes pretty-printed JSON. `no-cache` because metadata changes as a job progresses
 * (CloudVolume does the same for info and provenance).
 */
export async function writeJson(
  store: KvStore,
  key: string,
  value: unknown,
  options: { signal?: AbortSignal } = {},
): Promise<void> {
  const text = `${JSON.stringify(value, null, 2)}\n`;
  await store.put(key, new TextEncoder().encode(text), {
    contentType: "application/json",
    cacheControl: "no-cache",
    signal: options.signal,
  });
}
