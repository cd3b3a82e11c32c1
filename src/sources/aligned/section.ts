/**
 * One section's pixels, read by region: an HDF5 dataset "img" (h5wasm, reading only the
 * requested hyperslab, so only the HDF5 chunks it touches are decompressed) or an image file
 * (sharp, through decode.ts: PNG/JPEG decode sequentially and then crop; tiled TIFF reads tiles).
 *
 * Axes: x is the fastest-varying axis. For HDF5 that is the last dimension of a 2-D dataset
 * [height, width] as h5py and C see it — the first index as Julia (Alembic, BigArrays) sees it.
 */
import { VoxportError } from "../../errors.js";
import { type DataType, makeBlock, type TypedArray } from "../../ops/array.js";
import type { Plane, Rect } from "../../ops/resample.js";
import { decodeSliceRegion, probeSlice, type SliceKind, sliceKind } from "../decode.js";
import { isHdf5Path } from "./registry.js";

export const HDF5_DATASET = "img";

export interface SectionFile {
  path: string;
  width: number;
  height: number;
  dtype: DataType;
  channels: number;
  /** Pixels of `r` (inside the section), channels planar: the Plane layout of resample.ts. */
  read(r: Rect): Promise<Plane>;
}

export async function openSectionFile(path: string): Promise<SectionFile> {
  return isHdf5Path(path) ? openHdf5Section(path) : openImageSection(path);
}

// ---- HDF5 ----------------------------------------------------------------------------------

type H5 = typeof import("h5wasm/node").default;
let h5: Promise<H5> | undefined;

/** h5wasm, loaded once per thread, with errors thrown instead of printed and ignored. */
function h5wasm(): Promise<H5> {
  h5 ??= (async () => {
    const mod = (await import("h5wasm/node")).default;
    const m = await mod.ready;
    m.activate_throwing_error_handler();
    return mod;
  })();
  return h5;
}

function hdf5Dtype(meta: { type: number; size: number; signed: boolean }): DataType | undefined {
  const { type, size, signed } = meta;
  if (type === 1) return size === 4 ? "float32" : undefined; // H5T_FLOAT
  if (type !== 0) return undefined; // only H5T_INTEGER besides
  const table: Record<number, [DataType, DataType]> = {
    1: ["uint8", "int8"],
    2: ["uint16", "int16"],
    4: ["uint32", "int32"],
    8: ["uint64", "uint64"],
  };
  const pair = table[size];
  if (!pair || (size === 8 && signed)) return undefined;
  return signed ? pair[1] : pair[0];
}

/**
 * The innermost cause in an h5wasm error, which carries HDF5's whole error stack
 * ("#006: …/H5Fsuper.c line 388 in H5F__super_read(): file signature not found").
 */
function h5message(e: unknown): string {
  const text = String((e as Error)?.message ?? e);
  const causes = [...text.matchAll(/#\d+: .* in (\w+)\(\): ([^\n]+)/g)];
  const last = causes.at(-1);
  return last ? `${last[2].trim()} (${last[1]})` : (text.split("\n")[0] ?? text);
}

async function openHdf5Section(path: string): Promise<SectionFile> {
  const mod = await h5wasm();
  const fail = (message: string, code: "INVALID_SOURCE" | "UNSUPPORTED" = "INVALID_SOURCE") =>
    new VoxportError(code, `${path}: ${message}`);
  const withDataset = <T>(fn: (d: import("h5wasm/node").Dataset) => T): T => {
    let f: import("h5wasm/node").File;
    try {
      f = new mod.File(path, "r");
    } catch (e) {
      throw fail(`not a readable HDF5 file (${h5message(e)})`);
    }
    try {
      let d: unknown;
      try {
        d = f.get(HDF5_DATASET);
      } catch (e) {
        throw fail(`cannot open dataset "${HDF5_DATASET}" (${h5message(e)})`);
      }
      if (!(d instanceof mod.Dataset)) {
        throw fail(`has no dataset "${HDF5_DATASET}" (found: ${f.keys().join(", ") || "nothing"})`);
      }
      return fn(d);
    } finally {
      f.close();
    }
  };
  const { width, height, dtype } = withDataset((d) => {
    const shape = d.shape ?? [];
    if (shape.length !== 2) {
      throw fail(
        `dataset "${HDF5_DATASET}" has shape [${shape.join(", ")}]; a section is 2-D [height, width]`,
        "UNSUPPORTED",
      );
    }
    const t = hdf5Dtype(d.metadata as { type: number; size: number; signed: boolean });
    if (!t) {
      throw fail(`dataset "${HDF5_DATASET}" has an unsupported type ${d.dtype}`, "UNSUPPORTED");
    }
    return { height: shape[0], width: shape[1], dtype: t };
  });
  return {
    path,
    width,
    height,
    dtype,
    channels: 1,
    async read(r: Rect): Promise<Plane> {
      const w = r.x1 - r.x0;
      const h = r.y1 - r.y0;
      const data = withDataset((d) => {
        let v: unknown;
        try {
          v = d.slice([
            [r.y0, r.y1],
            [r.x0, r.x1],
          ]);
        } catch (e) {
          throw fail(`cannot read [${r.x0}, ${r.x1}) × [${r.y0}, ${r.y1}] (${h5message(e)})`);
        }
        return v as TypedArray;
      });
      if (data.length !== w * h) {
        throw fail(`read ${data.length} values for a ${w}×${h} region; did the file change?`);
      }
      return { data, x0: r.x0, y0: r.y0, width: w, height: h, channels: 1 };
    },
  };
}

// ---- image files ---------------------------------------------------------------------------

async function openImageSection(path: string): Promise<SectionFile> {
  const header = await probeSlice(path);
  const kind: SliceKind = sliceKind(header);
  const full = { width: header.width, height: header.height };
  return {
    path,
    width: header.width,
    height: header.height,
    dtype: kind.dtype,
    channels: kind.channels,
    async read(r: Rect): Promise<Plane> {
      const w = r.x1 - r.x0;
      const h = r.y1 - r.y0;
      const region = { left: r.x0, top: r.y0, width: w, height: h };
      const pixels = await decodeSliceRegion(path, kind, full, region);
      const nc = kind.channels;
      if (nc === 1) return { data: pixels, x0: r.x0, y0: r.y0, width: w, height: h, channels: 1 };
      // Interleaved (channel fastest) → planar.
      const planar = makeBlock(kind.dtype, [w, h, 1, nc]).data as Uint16Array;
      const src = pixels as Uint16Array;
      const n = w * h;
      for (let c = 0; c < nc; c++) {
        for (let i = 0, s = c; i < n; i++, s += nc) planar[c * n + i] = src[s];
      }
      return { data: planar, x0: r.x0, y0: r.y0, width: w, height: h, channels: nc };
    },
  };
}
