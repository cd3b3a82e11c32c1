import sharp, { type OutputInfo } from "sharp";
import { VoxportError } from "../../errors.js";
import { type Block, makeBlock, type Vec3 } from "../../ops/array.js";
import type { Box } from "../../ops/bbox.js";
import type { VolumeSource } from "../../sources/source.js";
import { keyUrl } from "../../storage/io.js";
import type { KvStore } from "../../storage/kvstore.js";

/**
 * emwrite's staged-region objects (seed-systems.md §4.2): `/alignedslice` cuts each aligned
 * section into 4096² regions, each region into `tile`² PNG tiles (row-major), and stores one
 * object per region named `{slice}_{xb}_{yb}`:
 *
 *   0: canvas width · 8: canvas height · 16: tile size · 24: P[0..n] · P[i]: PNG of tile i
 *
 * all uint64 little-endian, P absolute offsets, tile i = bytes [P[i], P[i+1]). `/ngshard` reads
 * one tile with two ranged GETs (its two offsets, then its bytes). Tiles are always full
 * `tile`² squares; pixels beyond the canvas are 0.
 */

export const REGION = 4096;
export const TILE = 1024;
const HEADER = 24;

export function regionName(slice: number, xb: number, yb: number): string {
  return `${slice}_${xb}_${yb}`;
}

/** Tile columns and rows of region (xb, yb) of a width × height canvas. */
export function regionTiles(
  width: number,
  height: number,
  xb: number,
  yb: number,
  tile = TILE,
): { cols: number; rows: number } {
  const w = Math.min(REGION, width - xb * REGION);
  const h = Math.min(REGION, height - yb * REGION);
  return { cols: Math.ceil(w / tile), rows: Math.ceil(h / tile) };
}

/** The bytes of one region object: header, offset table, PNG tiles in row-major order. */
export function encodeRegion(
  width: number,
  height: number,
  tile: number,
  pngs: Uint8Array[],
): Uint8Array {
  const table = HEADER + (pngs.length + 1) * 8;
  const total = table + pngs.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(width), true);
  view.setBigUint64(8, BigInt(height), true);
  view.setBigUint64(16, BigInt(tile), true);
  let at = table;
  pngs.forEach((p, i) => {
    view.setBigUint64(HEADER + i * 8, BigInt(at), true);
    out.set(p, at);
    at += p.length;
  });
  view.setBigUint64(HEADER + pngs.length * 8, BigInt(at), true);
  return out;
}

/** PNG of a tile² uint8 greyscale tile (lossless, so /ngshard gets the very same voxels). */
export async function encodeTile(pixels: Uint8Array, tile = TILE): Promise<Uint8Array> {
  const png = await sharp(pixels, { raw: { width: tile, height: tile, channels: 1 } })
    .toColourspace("b-w")
    .png({ compressionLevel: 6 })
    .toBuffer();
  return new Uint8Array(png.buffer, png.byteOffset, png.byteLength);
}

/**
 * The staged tiles of sections minz..maxz as a volume source of size [width, height, maxz+1]
 * (z = slice number; slices outside minz..maxz read as 0). A missing region object is an
 * error: the section's /alignedslice has not run (or failed).
 */
export class StagedSource implements VolumeSource {
  readonly dtype = "uint8" as const;
  readonly channels = 1;
  readonly size: Vec3;
  readonly description: string;

  constructor(
    private readonly store: KvStore,
    private readonly width: number,
    private readonly height: number,
    private readonly minz: number,
    private readonly maxz: number,
    private readonly concurrency = 16,
  ) {
    this.size = [width, height, maxz + 1];
    this.description = `${store.url} (emwrite staged tiles)`;
  }

  private async range(key: string, offset: number, length: number): Promise<Uint8Array> {
    const o = await this.store.get(key, { range: { offset, length } });
    if (o === undefined) {
      throw new VoxportError(
        "NOT_FOUND",
        `${keyUrl(this.store, key)} does not exist: was /alignedslice run for this section?`,
      );
    }
    if (o.data.length !== length) {
      throw new VoxportError(
        "INVALID_SOURCE",
        `${keyUrl(this.store, key)}: asked bytes ${offset}+${length}, got ${o.data.length} (truncated region object?)`,
      );
    }
    return o.data;
  }

  /** Decoded pixels of tile (tx, ty) of slice z: TILE² bytes, row-major. */
  async tile(z: number, tx: number, ty: number): Promise<Uint8Array> {
    const xb = Math.floor((tx * TILE) / REGION);
    const yb = Math.floor((ty * TILE) / REGION);
    const { cols } = regionTiles(this.width, this.height, xb, yb);
    const spot = (ty - (yb * REGION) / TILE) * cols + (tx - (xb * REGION) / TILE);
    const key = regionName(z, xb, yb);
    const pair = await this.range(key, HEADER + 8 * spot, 16);
    const v = new DataView(pair.buffer, pair.byteOffset, 16);
    const start = Number(v.getBigUint64(0, true));
    const end = Number(v.getBigUint64(8, true));
    if (!(end > start)) {
      throw new VoxportError("INVALID_SOURCE", `${keyUrl(this.store, key)}: bad tile offsets`);
    }
    const png = await this.range(key, start, end - start);
    let raw: { data: Buffer; info: OutputInfo };
    try {
      raw = await sharp(png).toColourspace("b-w").raw().toBuffer({ resolveWithObject: true });
    } catch (e) {
      throw new VoxportError(
        "INVALID_SOURCE",
        `${keyUrl(this.store, key)}: tile ${spot} is not a PNG: ${(e as Error).message}`,
        { cause: e },
      );
    }
    if (raw.info.width !== TILE || raw.info.height !== TILE || raw.info.channels !== 1) {
      throw new VoxportError(
        "INVALID_SOURCE",
        `${keyUrl(this.store, key)}: tile ${spot} is ${raw.info.width}x${raw.info.height}x${raw.info.channels}, expected ${TILE}x${TILE}x1`,
      );
    }
    return new Uint8Array(raw.data.buffer, raw.data.byteOffset, raw.data.byteLength);
  }

  async read(box: Box): Promise<Block> {
    const shape: Vec3 = [0, 1, 2].map((d) => Math.max(0, box.max[d] - box.min[d])) as Vec3;
    const block = makeBlock("uint8", [shape[0], shape[1], shape[2], 1]);
    const out = block.data as Uint8Array;
    const x0 = Math.max(0, box.min[0]);
    const x1 = Math.min(this.width, box.max[0]);
    const y0 = Math.max(0, box.min[1]);
    const y1 = Math.min(this.height, box.max[1]);
    const jobs: [number, number, number][] = [];
    for (let z = Math.max(box.min[2], this.minz); z < Math.min(box.max[2], this.maxz + 1); z++) {
      if (x1 <= x0 || y1 <= y0) break;
      for (let ty = Math.floor(y0 / TILE); ty * TILE < y1; ty++) {
        for (let tx = Math.floor(x0 / TILE); tx * TILE < x1; tx++) jobs.push([z, tx, ty]);
      }
    }
    let next = 0;
    const lane = async () => {
      while (next < jobs.length) {
        const [z, tx, ty] = jobs[next++];
        const px = await this.tile(z, tx, ty);
        const ax = Math.max(x0, tx * TILE);
        const bx = Math.min(x1, (tx + 1) * TILE);
        for (let y = Math.max(y0, ty * TILE); y < Math.min(y1, (ty + 1) * TILE); y++) {
          const src = (y - ty * TILE) * TILE + (ax - tx * TILE);
          const dst =
            ((z - box.min[2]) * shape[1] + (y - box.min[1])) * shape[0] + (ax - box.min[0]);
          out.set(px.subarray(src, src + (bx - ax)), dst);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, jobs.length) }, lane));
    return block;
  }
}
