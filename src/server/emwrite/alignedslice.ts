import { VoxportError } from "../../errors.js";
import { type Affine2, type Plane, sourceFootprint, warpAffine } from "../../ops/resample.js";
import { decodeSliceRegion, probeSlice, sliceKind } from "../../sources/decode.js";
import { readBytes } from "../../storage/io.js";
import type { KvStore } from "../../storage/kvstore.js";
import { encodeRegion, encodeTile, REGION, regionName, regionTiles, TILE } from "./staged.js";

/**
 * `/alignedslice`: one section through its affine onto the canvas, staged as emwrite's region
 * objects. The resampling is src/ops/resample.ts (`warpAffine`, bilinear for images), the very
 * function the aligned-sections source of `voxport ingest` uses, and tiles are PNG (lossless),
 * so `/ngshard` later reads exactly the voxels the CLI would compute.
 *
 * Left out, on purpose: CLAHE (refused by the schema when asked for), emwrite's 12288² super-
 * tiles with 512 overlap (they exist only for CLAHE; without it every tile is rendered directly),
 * and the `<dest>_process/<run_id>/align/` thumbnail (a preview for the Airflow e-mail).
 * Memory: the decoded section plus one region's tiles.
 */

export interface AlignedSliceJob {
  /** Store holding the section image, and its key there. */
  imageStore: KvStore;
  imageKey: string;
  /** Store receiving the region objects. */
  tmpStore: KvStore;
  transform: Affine2;
  width: number;
  height: number;
  slice: number;
  signal?: AbortSignal;
}

export interface AlignedSliceResult {
  regions: number;
  tiles: number;
  bytes: number;
}

async function decodeSection(
  store: KvStore,
  key: string,
): Promise<Plane & { w: number; h: number }> {
  const name = `${store.url}/${key}`;
  const bytes = await readBytes(store, key);
  if (bytes === undefined) throw new VoxportError("NOT_FOUND", `img: ${name} does not exist`);
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const header = await probeSlice(name, {
    head: buf,
    size: buf.length,
    readAt: async (p, n) => buf.subarray(p, p + n),
  });
  const kind = sliceKind(header);
  if (kind.dtype !== "uint8" || kind.channels !== 1) {
    throw new VoxportError(
      "UNSUPPORTED",
      `img: ${name} is ${kind.dtype} × ${kind.channels} channel(s); emwrite sections are 8-bit greyscale`,
    );
  }
  const { width, height } = header;
  const data = await decodeSliceRegion(
    name,
    kind,
    { width, height },
    { left: 0, top: 0, width, height },
    buf,
  );
  return { data, x0: 0, y0: 0, width, height, channels: 1, w: width, h: height };
}

/** Renders tile (tx, ty) of the canvas: TILE² pixels, 0 outside the canvas and the section. */
function renderTile(job: AlignedSliceJob, src: Plane, tx: number, ty: number): Uint8Array {
  const out: Plane = {
    data: new Uint8Array(TILE * TILE),
    x0: tx * TILE,
    y0: ty * TILE,
    width: TILE,
    height: TILE,
    channels: 1,
  };
  const inCanvas = {
    x0: out.x0,
    y0: out.y0,
    x1: Math.min(out.x0 + TILE, job.width),
    y1: Math.min(out.y0 + TILE, job.height),
  };
  if (!sourceFootprint(job.transform, inCanvas, src.width, src.height, "linear")) {
    return out.data as Uint8Array;
  }
  warpAffine(src, src.width, src.height, job.transform, out, "linear", "uint8");
  const px = out.data as Uint8Array;
  // emwrite crops the canvas: what lies beyond it is 0 even where the section reaches.
  const cw = inCanvas.x1 - inCanvas.x0;
  const ch = inCanvas.y1 - inCanvas.y0;
  if (cw < TILE) for (let j = 0; j < TILE; j++) px.fill(0, j * TILE + cw, (j + 1) * TILE);
  if (ch < TILE) px.fill(0, ch * TILE);
  return px;
}

export async function alignedSlice(job: AlignedSliceJob): Promise<AlignedSliceResult> {
  const src = await decodeSection(job.imageStore, job.imageKey);
  const result: AlignedSliceResult = { regions: 0, tiles: 0, bytes: 0 };
  for (let yb = 0; yb * REGION < job.height; yb++) {
    for (let xb = 0; xb * REGION < job.width; xb++) {
      job.signal?.throwIfAborted();
      const { cols, rows } = regionTiles(job.width, job.height, xb, yb);
      const pngs: Uint8Array[] = [];
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < cols; c++) {
          const tx = (xb * REGION) / TILE + c;
          const ty = (yb * REGION) / TILE + r;
          pngs.push(await encodeTile(renderTile(job, src, tx, ty)));
        }
      }
      const bytes = encodeRegion(job.width, job.height, TILE, pngs);
      await job.tmpStore.put(regionName(job.slice, xb, yb), bytes, {
        contentType: "application/octet-stream",
        signal: job.signal,
      });
      result.regions++;
      result.tiles += pngs.length;
      result.bytes += bytes.length;
    }
  }
  return result;
}
