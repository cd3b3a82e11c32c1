/**
 * NIfTI-1 and NIfTI-2 volumes (`.nii`, `.nii.gz`) as a VolumeSource; the header is parsed by
 * nifti-reader-js, the voxels are read here by region.
 *
 * Decisions (README "NIfTI"):
 * - Orientation: none applied. Voxel axes i, j, k become x, y, z as stored, so voxels are copied
 *   exactly (no resampling) and Neuroglancer shows the array in index order: i to the right,
 *   j downwards in the xy panel, k through the sections. The header's rotation (qform/sform) is
 *   not applied; an axis-aligned affine with positive diagonal gives the voxel offset (below).
 * - Voxel size: pixdim[1..3] in the units of xyzt_units (metre, mm, µm → nm); unknown units are
 *   taken as mm (NIfTI's convention for Analyze-derived files). Non-positive pixdims: no
 *   resolution (the ingest then needs --resolution).
 * - Offset: when the header affine (nifti-reader-js' choice: sform, or qform when its code is
 *   higher) is diagonal with positive entries, voxel_offset = round(translation / diagonal), so
 *   world coordinates match Neuroglancer's (sub-voxel remainders are dropped). Otherwise 0.
 * - Types: uint8, int8, uint16, int16, uint32, int32, uint64, float32 stay as they are; float64
 *   becomes float32 (precomputed has no float64; values beyond float32 precision round, beyond
 *   its range become ±Infinity); RGB24 becomes 3 uint8 channels. int64, complex, float128,
 *   RGBA32 and 1-bit are refused (UNSUPPORTED, naming the file).
 * - scl_slope / scl_inter: applied when they are not the identity (slope 0 or NaN means "no
 *   scaling", as in the NIfTI standard): values become float32 v·slope + inter, as nibabel's
 *   get_fdata() returns them.
 * - 4-D: the 4th dimension (time, or vector components) becomes channels. Dimensions 5–7 must be 1.
 *
 * Memory. `.nii`: each read reads only the rows of its box (positional reads; whole row spans
 * when the box covers most of a row) — the output block plus at most one z-plane span.
 * `.nii.gz` has no random access: each read streams the file through gunzip from its start up
 * to the last byte the box needs and keeps only the box's rows, so memory is the output block
 * plus zlib's buffers (~100 KiB), whatever the file size. The cost is time: a volume ingested in
 * N stage-0 tasks is decompressed about N/2 times in total; gunzip very large files first.
 */
import { createReadStream } from "node:fs";
import { createGunzip } from "node:zlib";
import * as nifti from "nifti-reader-js";
import { VoxportError } from "../errors.js";
import type { Block, DataType, TypedArray, Vec3 } from "../ops/array.js";
import type { Box } from "../ops/bbox.js";
import { throwIfAborted } from "../storage/abort.js";
import { openFileBytes } from "./bytes.js";
import { startRead, type VolumeSource } from "./source.js";

/** How a stored NIfTI type is read: bytes per voxel, a reader, and the output type. */
interface StoredType {
  name: string;
  bytes: number;
  /** Output data type (before scl_slope). */
  dtype: DataType;
  channels: 1 | 3;
}

const TYPES: Record<number, StoredType> = {
  2: { name: "uint8", bytes: 1, dtype: "uint8", channels: 1 },
  256: { name: "int8", bytes: 1, dtype: "int8", channels: 1 },
  4: { name: "int16", bytes: 2, dtype: "int16", channels: 1 },
  512: { name: "uint16", bytes: 2, dtype: "uint16", channels: 1 },
  8: { name: "int32", bytes: 4, dtype: "int32", channels: 1 },
  768: { name: "uint32", bytes: 4, dtype: "uint32", channels: 1 },
  16: { name: "float32", bytes: 4, dtype: "float32", channels: 1 },
  64: { name: "float64", bytes: 8, dtype: "float32", channels: 1 },
  1280: { name: "uint64", bytes: 8, dtype: "uint64", channels: 1 },
  128: { name: "RGB24", bytes: 3, dtype: "uint8", channels: 3 },
};

const REFUSED: Record<number, string> = {
  1: "1-bit (DT_BINARY)",
  32: "complex64",
  1024: "int64",
  1536: "float128",
  1792: "complex128",
  2048: "complex256",
  2304: "RGBA32",
};

/** Bytes of header read before parsing: NIfTI-2's 540 plus the extension flag. */
const HEADER_BYTES = 544;

export class NiftiSource implements VolumeSource {
  readonly description: string;
  readonly size: Vec3;
  readonly dtype: DataType;
  readonly channels: number;
  readonly resolution?: Vec3;
  /** Voxel offset derived from the header affine (see the file comment). */
  readonly voxelOffset: Vec3;
  /** Scaling applied to stored values, when not the identity. */
  readonly scaling?: { slope: number; inter: number };

  constructor(
    readonly path: string,
    readonly gzipped: boolean,
    readonly stored: StoredType & { code: number },
    readonly littleEndian: boolean,
    readonly dataOffset: number,
    size: Vec3,
    frames: number,
    resolution: Vec3 | undefined,
    voxelOffset: Vec3,
    scaling: { slope: number; inter: number } | undefined,
  ) {
    this.description = path;
    this.size = size;
    this.channels = stored.channels === 3 ? 3 : frames;
    this.scaling = scaling;
    this.dtype = scaling ? "float32" : stored.dtype;
    this.resolution = resolution;
    this.voxelOffset = voxelOffset;
  }

  async read(box: Box, options: { signal?: AbortSignal } = {}): Promise<Block> {
    const { signal } = options;
    const {
      block,
      size: [sx, sy, sz],
    } = startRead(this, box, signal);
    const [nx, ny, nz] = this.size;
    const x0 = Math.max(0, box.min[0]);
    const x1 = Math.min(nx, box.max[0]);
    const y0 = Math.max(0, box.min[1]);
    const y1 = Math.min(ny, box.max[1]);
    const z0 = Math.max(0, box.min[2]);
    const z1 = Math.min(nz, box.max[2]);
    if (x1 <= x0 || y1 <= y0 || z1 <= z0) return block;

    // One segment per stored row piece, in file order: frames (channels) outermost.
    const bpv = this.stored.bytes;
    const frames = this.stored.channels === 3 ? 1 : this.channels;
    const w = x1 - x0;
    const segments: Segment[] = [];
    for (let t = 0; t < frames; t++) {
      for (let z = z0; z < z1; z++) {
        for (let y = y0; y < y1; y++) {
          const voxel = ((t * nz + z) * ny + y) * nx + x0;
          segments.push({
            at: this.dataOffset + voxel * bpv,
            length: w * bpv,
            dst: x0 - box.min[0] + sx * (y - box.min[1] + sy * (z - box.min[2] + sz * t)),
          });
        }
      }
    }
    const planeStride = sx * sy * sz;
    const put = (seg: Segment, bytes: Uint8Array) =>
      this.convert(bytes, block.data, seg.dst, w, planeStride);
    if (this.gzipped) await this.readGzipped(segments, put, signal);
    else await this.readPlain(segments, put, { rowBytes: nx * bpv, w, signal });
    return block;
  }

  /** Stored bytes of `n` voxels → output values at `dst` (RGB: planes `planeStride` apart). */
  private convert(
    bytes: Uint8Array,
    out: TypedArray,
    dst: number,
    n: number,
    planeStride: number,
  ): void {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const le = this.littleEndian;
    const code = this.stored.code;
    if (code === 128) {
      const o = out as Uint8Array;
      for (let i = 0; i < n; i++) {
        o[dst + i] = bytes[3 * i];
        o[dst + planeStride + i] = bytes[3 * i + 1];
        o[dst + 2 * planeStride + i] = bytes[3 * i + 2];
      }
      return;
    }
    if (code === 1280) {
      const o = out as BigUint64Array;
      for (let i = 0; i < n; i++) o[dst + i] = view.getBigUint64(i * 8, le);
      return;
    }
    const get = getter(code, view, le);
    const o = out as Float32Array;
    if (this.scaling) {
      const { slope, inter } = this.scaling;
      for (let i = 0; i < n; i++) o[dst + i] = get(i) * slope + inter;
    } else {
      for (let i = 0; i < n; i++) o[dst + i] = get(i);
    }
  }

  private async readPlain(
    segments: Segment[],
    put: (seg: Segment, bytes: Uint8Array) => void,
    opts: { rowBytes: number; w: number; signal?: AbortSignal },
  ): Promise<void> {
    const bytes = await openFileBytes(this.path);
    try {
      // Consecutive rows are read as one span when the span is not much larger than what the
      // box needs (at most 4× and 64 MiB): few reads for whole-row boxes, little waste otherwise.
      const maxSpan = 64 * 1024 ** 2;
      for (let i = 0; i < segments.length; ) {
        throwIfAborted(opts.signal, `${this.path}: read`);
        let j = i + 1;
        let need = segments[i].length;
        while (j < segments.length) {
          const span = segments[j].at + segments[j].length - segments[i].at;
          if (span > maxSpan || span > 4 * (need + segments[j].length)) break;
          need += segments[j].length;
          j++;
        }
        const start = segments[i].at;
        const length = segments[j - 1].at + segments[j - 1].length - start;
        const buf = await bytes.read(start, length);
        for (let k = i; k < j; k++) {
          const s = segments[k];
          put(s, buf.subarray(s.at - start, s.at - start + s.length));
        }
        i = j;
      }
    } finally {
      await bytes.close();
    }
  }

  private async readGzipped(
    segments: Segment[],
    put: (seg: Segment, bytes: Uint8Array) => void,
    signal?: AbortSignal,
  ): Promise<void> {
    const file = createReadStream(this.path, { highWaterMark: 64 * 1024 });
    const gunzip = createGunzip();
    const stream = file.pipe(gunzip);
    let pos = 0; // decompressed bytes seen so far
    let k = 0; // next segment to fill
    let partial: Buffer | undefined; // the segment being filled across chunks
    let filled = 0;
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        throwIfAborted(signal, `${this.path}: read`);
        const end = pos + chunk.length;
        while (k < segments.length && segments[k].at < end) {
          const s = segments[k];
          const from = Math.max(s.at + filled, pos);
          const to = Math.min(s.at + s.length, end);
          if (partial === undefined && from === s.at && to === s.at + s.length) {
            put(s, chunk.subarray(s.at - pos, s.at - pos + s.length));
          } else {
            partial ??= Buffer.alloc(s.length);
            chunk.copy(partial, from - s.at, from - pos, to - pos);
            filled = to - s.at;
            if (filled < s.length) break; // continues in the next chunk
            put(s, partial);
          }
          partial = undefined;
          filled = 0;
          k++;
        }
        pos = end;
        if (k >= segments.length) break; // the rest of the file is not needed
      }
    } catch (e) {
      if (e instanceof VoxportError) throw e;
      throw new VoxportError(
        "INVALID_SOURCE",
        `${this.path}: cannot decompress: ${(e as Error).message}`,
        { cause: e },
      );
    } finally {
      file.destroy();
      gunzip.destroy();
    }
    if (k < segments.length) {
      const s = segments[segments.length - 1];
      throw new VoxportError(
        "INVALID_SOURCE",
        `${this.path}: decompressed data ends at byte ${pos}, voxel data needs ${s.at + s.length} (truncated?)`,
      );
    }
  }
}

interface Segment {
  /** Offset in the (decompressed) file. */
  at: number;
  length: number;
  /** Index of the segment's first voxel in the output block (channel 0 plane). */
  dst: number;
}

function getter(code: number, v: DataView, le: boolean): (i: number) => number {
  switch (code) {
    case 2:
      return (i) => v.getUint8(i);
    case 256:
      return (i) => v.getInt8(i);
    case 4:
      return (i) => v.getInt16(i * 2, le);
    case 512:
      return (i) => v.getUint16(i * 2, le);
    case 8:
      return (i) => v.getInt32(i * 4, le);
    case 768:
      return (i) => v.getUint32(i * 4, le);
    case 16:
      return (i) => v.getFloat32(i * 4, le);
    case 64:
      return (i) => v.getFloat64(i * 8, le);
    default:
      throw new Error(`no reader for NIfTI datatype ${code}`);
  }
}

/** Whether `path` names a NIfTI file by its extension. */
export function isNiftiPath(path: string): boolean {
  return /\.nii(\.gz)?$/i.test(path);
}

async function readHead(path: string): Promise<{ head: Buffer; gzipped: boolean; size: number }> {
  const bytes = await openFileBytes(path);
  const size = bytes.size;
  let first: Buffer;
  try {
    first = await bytes.read(0, Math.min(size, HEADER_BYTES));
  } finally {
    await bytes.close();
  }
  if (first[0] !== 0x1f || first[1] !== 0x8b) return { head: first, gzipped: false, size };
  // Gzip: decompress just the header.
  const chunks: Buffer[] = [];
  let have = 0;
  const file = createReadStream(path, { highWaterMark: 16 * 1024 });
  const gunzip = createGunzip();
  try {
    for await (const chunk of file.pipe(gunzip) as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      have += chunk.length;
      if (have >= HEADER_BYTES) break;
    }
  } catch (e) {
    throw new VoxportError(
      "INVALID_SOURCE",
      `${path}: cannot decompress the header: ${(e as Error).message}`,
      { cause: e },
    );
  } finally {
    file.destroy();
    gunzip.destroy();
  }
  return { head: Buffer.concat(chunks).subarray(0, HEADER_BYTES), gzipped: true, size };
}

/** Opens a NIfTI file: parses and checks the header (see the file comment for decisions). */
export async function openNifti(path: string): Promise<NiftiSource> {
  const { head, gzipped, size } = await readHead(path);
  const ab = head.buffer.slice(head.byteOffset, head.byteOffset + head.byteLength) as ArrayBuffer;
  if (!nifti.isNIFTI(ab)) {
    throw new VoxportError(
      "INVALID_SOURCE",
      `${path}: not a NIfTI-1/2 file (no n+1/n+2 magic${nifti.isNIFTI(ab, true) ? "; a .hdr/.img pair is not supported, convert it to .nii" : ""})`,
    );
  }
  let h: nifti.NIFTI1 | nifti.NIFTI2;
  try {
    h = nifti.readHeader(ab);
  } catch (e) {
    throw new VoxportError("INVALID_SOURCE", `${path}: bad NIfTI header: ${(e as Error).message}`, {
      cause: e,
    });
  }
  const code = h.datatypeCode;
  const t = TYPES[code];
  if (t === undefined) {
    throw new VoxportError(
      "UNSUPPORTED",
      `${path}: NIfTI datatype ${REFUSED[code] ?? code} is not supported (supported: uint8, int8, ` +
        "uint16, int16, uint32, int32, uint64, float32, float64 → float32, RGB24)",
    );
  }
  const ndim = h.dims[0];
  const dim = (k: number) => (k <= ndim ? Math.max(1, h.dims[k]) : 1);
  if (!(ndim >= 1 && ndim <= 7)) {
    throw new VoxportError("INVALID_SOURCE", `${path}: dim[0] = ${ndim}, expected 1..7`);
  }
  for (let k = 5; k <= 7; k++) {
    if (dim(k) > 1) {
      throw new VoxportError(
        "UNSUPPORTED",
        `${path}: ${ndim}-D NIfTI (dim[${k}] = ${dim(k)}); only 3-D volumes and 4-D (channels) are supported`,
      );
    }
  }
  const sizeV: Vec3 = [dim(1), dim(2), dim(3)];
  const frames = dim(4);
  if (t.channels === 3 && frames > 1) {
    throw new VoxportError("UNSUPPORTED", `${path}: a 4-D RGB24 NIfTI (${frames} frames)`);
  }
  const dataOffset = Math.max(Math.round(h.vox_offset), h instanceof nifti.NIFTI2 ? 544 : 352);
  const dataBytes = sizeV[0] * sizeV[1] * sizeV[2] * frames * t.bytes;
  if (!gzipped && dataOffset + dataBytes > size) {
    throw new VoxportError(
      "INVALID_SOURCE",
      `${path}: the header describes ${sizeV.join("x")}x${frames} ${t.name} voxels from byte ` +
        `${dataOffset} (${dataOffset + dataBytes} bytes) but the file has ${size} (truncated?)`,
    );
  }

  const unit = h.xyzt_units & 7;
  const toNm = unit === 1 ? 1e9 : unit === 3 ? 1e3 : 1e6; // metre, micron, else mm (2 or unknown)
  const pix = [h.pixDims[1], h.pixDims[2], h.pixDims[3]];
  const resolution = pix.every((p) => Number.isFinite(p) && p > 0)
    ? (pix.map((p) => roundNm(p * toNm)) as Vec3)
    : undefined;

  const a = h.affine;
  let voxelOffset: Vec3 = [0, 0, 0];
  const diagonal =
    a[0][1] === 0 &&
    a[0][2] === 0 &&
    a[1][0] === 0 &&
    a[1][2] === 0 &&
    a[2][0] === 0 &&
    a[2][1] === 0 &&
    a[0][0] > 0 &&
    a[1][1] > 0 &&
    a[2][2] > 0;
  if (diagonal && (h.qform_code > 0 || h.sform_code > 0)) {
    voxelOffset = [0, 1, 2].map((d) => Math.round(a[d][3] / a[d][d]) + 0) as Vec3;
  }

  let scaling: { slope: number; inter: number } | undefined;
  const slope = h.scl_slope;
  const inter = Number.isFinite(h.scl_inter) ? h.scl_inter : 0;
  if (
    t.channels === 1 &&
    code !== 1280 &&
    Number.isFinite(slope) &&
    slope !== 0 &&
    (slope !== 1 || inter !== 0)
  ) {
    scaling = { slope, inter };
  }
  return new NiftiSource(
    path,
    gzipped,
    { ...t, code },
    h.littleEndian,
    dataOffset,
    sizeV,
    frames,
    resolution,
    voxelOffset,
    scaling,
  );
}

/** pixdim is float32: 0.1 mm reads as 100000.00149 nm. Keep 6 significant digits. */
function roundNm(x: number): number {
  return Number(x.toPrecision(6));
}

/** The voxel size (nm) a single-file input declares: a NIfTI header's; undefined otherwise. */
export async function sourceResolution(input: string): Promise<Vec3 | undefined> {
  if (!isNiftiPath(input)) return undefined;
  return (await openNifti(input)).resolution;
}
