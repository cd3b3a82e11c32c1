/**
 * Checks shared by the codec wrappers' `validate` (architecture.md §6.3 item 3): they run before
 * any data moves, so a bad info file fails with one clear message instead of a CODEC error per
 * chunk. `resolveCodec` prefixes the messages with the scale's location.
 */
import { VoxportError } from "../../errors.js";
import type { DataType } from "../../ops/array.js";
import type { ScaleInfo } from "../types.js";

/** Throw UNSUPPORTED unless `dtype` and `channels` are among those the encoding can hold. */
export function requireDtypeChannels(
  scale: ScaleInfo,
  dtype: DataType,
  channels: number,
  dtypes: readonly DataType[],
  channelCounts: readonly number[] | "any",
): void {
  if (!dtypes.includes(dtype)) {
    throw new VoxportError(
      "UNSUPPORTED",
      `encoding ${scale.encoding} cannot store data_type ${dtype} (allowed: ${dtypes.join(", ")})`,
    );
  }
  if (channelCounts !== "any" && !channelCounts.includes(channels)) {
    throw new VoxportError(
      "UNSUPPORTED",
      `encoding ${scale.encoding} cannot store ${channels} channel(s) (allowed: ${channelCounts.join(", ")})`,
    );
  }
}

/** Throw INVALID_INFO unless `value` is an integer in [lo, hi]; `field` names the scale's field. */
export function requireIntIn(field: string, value: number, lo: number, hi: number): void {
  if (!Number.isInteger(value) || value < lo || value > hi) {
    throw new VoxportError(
      "INVALID_INFO",
      `${field} must be an integer in [${lo}, ${hi}] for writing, got ${value}`,
    );
  }
}
