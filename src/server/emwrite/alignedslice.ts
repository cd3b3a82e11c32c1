import { VoxportError } from "../../errors.js";
import { clahe } from "../../ops/clahe.js";
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
 * CLAHE (`clip-limit` > 0; emwrite's default 0.02) as emwrite applied it: 3072² tiles of the
 * canvas, each equalised over its window grown by 512 on every side (clipped to the canvas)
 * with skimage's algorithm (src/ops/clahe.ts, kernel 1024), zeros kept zero, and only the tile
 * itself kept. emwrite forced two pixels of each window to 0 and 255 so that all tiles share one
 * input range (and wrote them into its source array, so they leaked into the output); here the
 * range 0…255 is given to the equalisation instead and no pixel is altered. A canvas that fits
 * in one window uses its own range, as emwrite's unpinned single tile did. emwrite's 12288²
 * super-tiles only bounded its memory: the tile windows are the same on the whole canvas.
 *
 * Left out, on purpose: the `<dest>_process/<run_id>/align/` thumbnail (a preview for the
 * Airflow e-mail).
 * Memory: the decoded section plus one region's tiles (with CLAHE, plus up to two rows of
 * equalised 3072² tiles).
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
  /** CLAHE clip limit; 0 or less: none. */
  clipLimit?: number;
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

/** Renders a w × h window of the canvas at (x0, y0): 0 outside the canvas and the section. */
function renderWindow(
  job: AlignedSliceJob,
  src: Plane,
  x0: number,
  y0: number,
  w: number,
  h: number,
): Uint8Array {
  const out: Plane = { data: new Uint8Array(w * h), x0, y0, width: w, height: h, channels: 1 };
  const inCanvas = {
    x0,
    y0,
    x1: Math.min(x0 + w, job.width),
    y1: Math.min(y0 + h, job.height),
  };
  if (!sourceFootprint(job.transform, inCanvas, src.width, src.height, "linear")) {
    return out.data as Uint8Array;
  }
  warpAffine(src, src.width, src.height, job.transform, out, "linear", "uint8");
  const px = out.data as Uint8Array;
  // emwrite crops the canvas: what lies beyond it is 0 even where the section reaches.
  const cw = inCanvas.x1 - inCanvas.x0;
  const ch = inCanvas.y1 - inCanvas.y0;
  if (cw < w) for (let j = 0; j < h; j++) px.fill(0, j * w + cw, (j + 1) * w);
  if (ch < h) px.fill(0, ch * w);
  return px;
}

const CLAHE_TILE = 3072;
const CLAHE_OVERLAP = 512;
const CLAHE_KERNEL = 1024;

/** The canvas after CLAHE, one 3072² tile at a time (see the top of this file). */
class EqualisedCanvas {
  /** Equalised tiles by CLAHE row, then column. */
  private readonly rows = new Map<number, Map<number, Uint8Array>>();

  constructor(
    private readonly job: AlignedSliceJob,
    private readonly src: Plane,
    private readonly clipLimit: number,
  ) {}

  /** TILE² pixels at staging tile (tx, ty); a staging tile lies inside one CLAHE tile. */
  tile(tx: number, ty: number): Uint8Array {
    const cx = Math.floor((tx * TILE) / CLAHE_TILE);
    const cy = Math.floor((ty * TILE) / CLAHE_TILE);
    const eq = this.equalised(cx, cy);
    const out = new Uint8Array(TILE * TILE);
    const ox = tx * TILE - cx * CLAHE_TILE;
    const oy = ty * TILE - cy * CLAHE_TILE;
    for (let j = 0; j < TILE; j++) {
      out.set(eq.subarray((oy + j) * CLAHE_TILE + ox, (oy + j) * CLAHE_TILE + ox + TILE), j * TILE);
    }
    return out;
  }

  /** Forgets equalised tiles above canvas row `y` (regions are staged top to bottom). */
  dropAbove(y: number): void {
    for (const cy of this.rows.keys()) if ((cy + 1) * CLAHE_TILE <= y) this.rows.delete(cy);
  }

  private equalised(cx: number, cy: number): Uint8Array {
    let row = this.rows.get(cy);
    if (!row) {
      row = new Map();
      this.rows.set(cy, row);
    }
    let eq = row.get(cx);
    if (eq) return eq;
    const { width: W, height: H } = this.job;
    const x0 = Math.max(0, cx * CLAHE_TILE - CLAHE_OVERLAP);
    const y0 = Math.max(0, cy * CLAHE_TILE - CLAHE_OVERLAP);
    const x1 = Math.min(W, (cx + 1) * CLAHE_TILE + CLAHE_OVERLAP);
    const y1 = Math.min(H, (cy + 1) * CLAHE_TILE + CLAHE_OVERLAP);
    const w = x1 - x0;
    const h = y1 - y0;
    const win = renderWindow(this.job, this.src, x0, y0, w, h);
    eq = new Uint8Array(CLAHE_TILE * CLAHE_TILE);
    if (win.some((v) => v !== 0)) {
      const whole = x0 === 0 && y0 === 0 && x1 === W && y1 === H;
      const out = clahe(win, w, h, {
        kernel: CLAHE_KERNEL,
        clipLimit: this.clipLimit,
        range: whole ? undefined : [0, 255],
      });
      // Keep this tile's part of the window; zeros of the input stay zero.
      const tw = Math.min(CLAHE_TILE, W - cx * CLAHE_TILE);
      const th = Math.min(CLAHE_TILE, H - cy * CLAHE_TILE);
      const dx = cx * CLAHE_TILE - x0;
      const dy = cy * CLAHE_TILE - y0;
      for (let j = 0; j < th; j++) {
        for (let i = 0; i < tw; i++) {
          const k = (dy + j) * w + dx + i;
          eq[j * CLAHE_TILE + i] = win[k] === 0 ? 0 : out[k];
        }
      }
    }
    row.set(cx, eq);
    return eq;
  }
}

export async function alignedSlice(job: AlignedSliceJob): Promise<AlignedSliceResult> {
  const src = await decodeSection(job.imageStore, job.imageKey);
  const result: AlignedSliceResult = { regions: 0, tiles: 0, bytes: 0 };
  const equalised =
    (job.clipLimit ?? 0) > 0 ? new EqualisedCanvas(job, src, job.clipLimit as number) : undefined;
  const render = (tx: number, ty: number) =>
    equalised ? equalised.tile(tx, ty) : renderWindow(job, src, tx * TILE, ty * TILE, TILE, TILE);
  for (let yb = 0; yb * REGION < job.height; yb++) {
    equalised?.dropAbove(yb * REGION);
    for (let xb = 0; xb * REGION < job.width; xb++) {
      job.signal?.throwIfAborted();
      const { cols, rows } = regionTiles(job.width, job.height, xb, yb);
      const pngs: Uint8Array[] = [];
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < cols; c++) {
          const tx = (xb * REGION) / TILE + c;
          const ty = (yb * REGION) / TILE + r;
          pngs.push(await encodeTile(render(tx, ty)));
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
