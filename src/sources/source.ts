import { VoxportError } from "../errors.js";
import { type Block, type DataType, makeBlock, type Vec3 } from "../ops/array.js";
import { type Box, boxToString } from "../ops/bbox.js";
import { throwIfAborted } from "../storage/abort.js";

/**
 * A read-only volume input. Coordinates are the source's own voxel indices: [0, size).
 * `read` accepts any box; parts outside [0, size) read as zeros, so callers can ask for
 * chunk-aligned boxes at the volume edge without clipping first.
 */
export interface VolumeSource {
  /** Human-readable description for logs, errors and provenance (e.g. the folder path). */
  readonly description: string;
  readonly size: Vec3;
  readonly dtype: DataType;
  readonly channels: number;
  /** Voxel size in nm when the source knows it (NIfTI does; image stacks do not). */
  readonly resolution?: Vec3;
  /**
   * The scale-0 voxel_offset this source suggests when the user gives none (aligned sections:
   * the global position of voxel (0, 0, 0), so dataset coordinates are the registry's).
   */
  readonly voxelOffset?: Vec3;
  read(box: Box, options?: { signal?: AbortSignal }): Promise<Block>;
  close?(): Promise<void>;
}

/**
 * The checks every `read` starts with: whole, ordered box coordinates (a bad box is a caller's
 * bug, named with the source), and the abort signal.
 */
export function checkReadBox(where: string, box: Box, signal?: AbortSignal): void {
  for (let d = 0; d < 3; d++) {
    if (
      !Number.isSafeInteger(box.min[d]) ||
      !Number.isSafeInteger(box.max[d]) ||
      box.max[d] < box.min[d]
    ) {
      throw new VoxportError("INVALID_ARGUMENT", `${where}: bad read box ${boxToString(box)}`);
    }
  }
  throwIfAborted(signal, `${where}: read ${boxToString(box)}`);
}

/**
 * How every `read` starts: the checks above, then the zero-filled block for the whole box (parts
 * outside the volume stay zero) and the box's size.
 */
export function startRead(
  source: VolumeSource,
  box: Box,
  signal?: AbortSignal,
): { block: Block; size: Vec3 } {
  checkReadBox(source.description, box, signal);
  const size: Vec3 = [box.max[0] - box.min[0], box.max[1] - box.min[1], box.max[2] - box.min[2]];
  return { block: makeBlock(source.dtype, [...size, source.channels]), size };
}
