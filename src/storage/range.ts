import { VoxportError } from "../errors.js";
import type { ByteRange, StoredObject } from "./kvstore.js";

/**
 * Byte-range semantics shared by all drivers, chosen to match what HTTP servers and S3 do:
 * a range that runs past the end is cut at the end, a range that starts at or after the end
 * reads as empty, and a suffix longer than the object reads the whole object. `totalSize` lets a
 * caller that needs an exact range (the shard reader) check it got one.
 */
export function checkRange(range: ByteRange, what: string): void {
  const values =
    "suffixLength" in range
      ? { suffixLength: range.suffixLength }
      : { offset: range.offset, length: range.length };
  for (const [name, value] of Object.entries(values)) {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new VoxportError(
        "INVALID_ARGUMENT",
        `invalid byte range for ${what}: ${name} must be a non-negative integer, got ${value}`,
      );
    }
  }
}

/** [start, end) of `range` within an object of `size` bytes, clamped as described above. */
export function rangeBounds(range: ByteRange, size: number): { start: number; end: number } {
  if ("suffixLength" in range) {
    return { start: Math.max(0, size - range.suffixLength), end: size };
  }
  const start = Math.min(range.offset, size);
  return { start, end: Math.min(size, range.offset + range.length) };
}

export function describeRange(range: ByteRange): string {
  return "suffixLength" in range
    ? `last ${range.suffixLength} bytes`
    : `bytes ${range.offset}..${range.offset + range.length}`;
}

/** Zero bytes asked for: no request can express it (`bytes=a-(a-1)` is invalid), so drivers
 * answer it from `stat` instead. */
export function isEmptyRange(range: ByteRange): boolean {
  return "suffixLength" in range ? range.suffixLength === 0 : range.length === 0;
}

/** The HTTP `Range` header for a non-empty range (S3, GCS's XML API and Swift take it too). */
export function rangeHeader(range: ByteRange): string {
  return "suffixLength" in range
    ? `bytes=-${range.suffixLength}`
    : `bytes=${range.offset}-${range.offset + range.length - 1}`;
}

/**
 * Where every driver's ranged `get` starts: the range is checked, and a zero-length one is
 * answered from `stat` (no request can express it). Undefined means: go and fetch.
 */
export async function answerEmptyRange(
  range: ByteRange,
  where: string,
  stat: () => Promise<{ size: number } | undefined>,
): Promise<{ object: StoredObject | undefined } | undefined> {
  checkRange(range, where);
  if (!isEmptyRange(range)) return undefined;
  const s = await stat();
  return { object: s === undefined ? undefined : { data: new Uint8Array(0), totalSize: s.size } };
}
