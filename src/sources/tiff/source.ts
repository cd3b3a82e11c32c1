/**
 * One TIFF file as a volume: x, y from the page, z = page index (multi-page stacks; a single
 * page is a one-section volume). Classic TIFF and BigTIFF, tiled or striped (see reader.ts).
 *
 * All pages must agree on size, data type and channels (checked at open, with every page's
 * tile/strip table, so a lying file fails before anything is written). Reduced-resolution pages
 * (pyramid levels, thumbnails) are skipped. No resolution: TIFF's XResolution is in dots per
 * inch or centimetre, not a trustworthy voxel size.
 *
 * Memory of `read(box)`: the output block plus one decoded tile/strip per page being read
 * (at most READ_CONCURRENCY pages at once).
 */
import { VoxportError } from "../../errors.js";
import type { Block, DataType, Vec3 } from "../../ops/array.js";
import { type Box, boxToString } from "../../ops/bbox.js";
import { mapLimit } from "../concurrency.js";
import { startRead, type VolumeSource } from "../source.js";
import { TiffFile } from "./reader.js";

/** Pages decoded at once by one `read`. */
export const READ_CONCURRENCY = 4;

export class TiffSource implements VolumeSource {
  readonly description: string;
  readonly size: Vec3;
  readonly dtype: DataType;
  readonly channels: number;

  constructor(readonly file: TiffFile) {
    const first = file.pages[0];
    for (const p of file.pages) {
      const diffs: string[] = [];
      if (p.width !== first.width || p.height !== first.height) {
        diffs.push(`size ${p.width}x${p.height} vs ${first.width}x${first.height}`);
      }
      if (p.dtype !== first.dtype) diffs.push(`data type ${p.dtype} vs ${first.dtype}`);
      if (p.channels !== first.channels) {
        diffs.push(`${p.channels} channel(s) vs ${first.channels}`);
      }
      if (diffs.length > 0) {
        throw new VoxportError(
          "INVALID_SOURCE",
          `${file.path}: page ${p.index} differs from page 0: ${diffs.join(", ")}`,
        );
      }
    }
    this.description = file.path;
    this.size = [first.width, first.height, file.pages.length];
    this.dtype = first.dtype;
    this.channels = first.channels;
  }

  async read(box: Box, options: { signal?: AbortSignal } = {}): Promise<Block> {
    const { signal } = options;
    const {
      block,
      size: [sx, sy, sz],
    } = startRead(this, box, signal);
    const z0 = Math.max(0, box.min[2]);
    const z1 = Math.min(this.size[2], box.max[2]);
    if (z1 <= z0 || sx === 0 || sy === 0) return block;
    const zs: number[] = [];
    for (let z = z0; z < z1; z++) zs.push(z);
    const src = await this.file.openBytes();
    try {
      const region = { left: box.min[0], top: box.min[1], width: sx, height: sy };
      await mapLimit(
        zs,
        READ_CONCURRENCY,
        (z) =>
          this.file.readRegion(src, z, region, {
            data: block.data,
            base: (z - box.min[2]) * sx * sy,
            xStride: 1,
            rowStride: sx,
            channelStride: sx * sy * sz,
          }),
        { signal, what: `${this.description}: read ${boxToString(box)}` },
      );
    } finally {
      await src.close();
    }
    return block;
  }
}

export async function openTiff(path: string): Promise<TiffSource> {
  return new TiffSource(await TiffFile.open(path));
}
