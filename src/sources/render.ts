import sharp from "sharp";
import { VoxportError } from "../errors.js";
import { type Block, type DataType, makeBlock, type Vec3 } from "../ops/array.js";
import { type Box, intersect, isEmptyBox } from "../ops/bbox.js";
import { parseRenderUrl, type RenderUrl } from "./render-url.js";
import type { VolumeSource } from "./source.js";

/**
 * A render-ws stack (saalfeldlab/render) as a volume, as ndpush's `render_resource.py` reads it:
 * the stack's metadata gives the bounds (`stats.stackBounds`, rounded; x and y are
 * [min, max), z is [minZ, maxZ] — ndpush dropped the last section, voxport keeps it) and the
 * channel names; pixels come from the box API
 * `…/stack/{s}/z/{z}/box/{x},{y},{w},{h},{scale}/png-image` (`png16-image` for 16-bit), with
 * `channels=` and `minIntensity=`/`maxIntensity=` when given, fetched in tiles of at most
 * `tile`² output pixels, each retried (6 attempts, backoff doubling from 2 s, as ndpush).
 *
 * Coordinates: source voxel (0,0,0) is the stack's (round(minX·scale), round(minY·scale), minZ).
 * A box asks render for unscaled coordinates `round(v / scale)`; the image is placed at the
 * scaled position and clipped to the box, so at scale 1 every pixel is exact.
 */

export interface RenderOptions {
  signal?: AbortSignal;
  /** Waits between attempts (tests). */
  sleep?: (ms: number) => Promise<void>;
  attempts?: number;
  backoffMs?: number;
}

interface StackBounds {
  minX: number;
  maxX: number;
  minY: number;
  maxY: number;
  minZ: number;
  maxZ: number;
}

/** The stack's metadata URL; tiles hang below it. */
export function stackUrl(u: RenderUrl): string {
  const e = encodeURIComponent;
  return `${u.base}owner/${e(u.owner)}/project/${e(u.project)}/stack/${e(u.stack)}`;
}

const sleepMs = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class RenderSource implements VolumeSource {
  readonly description: string;
  readonly size: Vec3;
  readonly dtype: DataType;
  readonly channels = 1;
  /** Scaled stack origin: source voxel 0 is this render pixel (x, y) and section z. */
  readonly origin: Vec3;

  constructor(
    readonly url: RenderUrl,
    bounds: StackBounds,
    private readonly opts: RenderOptions,
    input: string,
  ) {
    this.description = input;
    this.dtype = url.bits === 16 ? "uint16" : "uint8";
    const s = url.scale;
    const x0 = Math.round(Math.round(bounds.minX) * s);
    const y0 = Math.round(Math.round(bounds.minY) * s);
    const x1 = Math.round(Math.round(bounds.maxX) * s);
    const y1 = Math.round(Math.round(bounds.maxY) * s);
    const z0 = Math.round(bounds.minZ);
    const z1 = Math.round(bounds.maxZ) + 1;
    this.origin = [x0, y0, z0];
    this.size = [x1 - x0, y1 - y0, z1 - z0];
  }

  /** The box-API URL for a tile at scaled (x, y) of w × h scaled pixels on section z. */
  tileUrl(z: number, x: number, y: number, w: number, h: number): string {
    const u = this.url;
    const s = u.scale;
    const ux = Math.round(x / s);
    const uy = Math.round(y / s);
    const uw = Math.round((x + w) / s) - ux;
    const uh = Math.round((y + h) / s) - uy;
    const params = new URLSearchParams();
    if (u.channel !== undefined) params.set("channels", u.channel);
    if (u.minIntensity !== undefined && u.maxIntensity !== undefined) {
      params.set("minIntensity", String(u.minIntensity));
      params.set("maxIntensity", String(u.maxIntensity));
    }
    const q = params.toString();
    return (
      `${stackUrl(u)}/z/${z}/box/${ux},${uy},${uw},${uh},${s}/` +
      `png${u.bits === 16 ? "16" : ""}-image${q ? `?${q}` : ""}`
    );
  }

  private async fetchTile(
    url: string,
  ): Promise<{ data: Uint8Array; width: number; height: number }> {
    const attempts = this.opts.attempts ?? 6;
    const sleep = this.opts.sleep ?? sleepMs;
    let last = "";
    for (let attempt = 1; attempt <= attempts; attempt++) {
      this.opts.signal?.throwIfAborted();
      try {
        const r = await fetch(url, { signal: AbortSignal.timeout(60_000) });
        if (r.status === 200) {
          const png = Buffer.from(await r.arrayBuffer());
          // 8-bit: render answers colour images, ndpush takes channel 0; 16-bit: grey16.
          const img = sharp(png, { failOn: "error", limitInputPixels: false });
          const { data, info } = await (this.url.bits === 16
            ? img.toColourspace("grey16").raw({ depth: "ushort" })
            : img.extractChannel(0).raw({ depth: "uchar" })
          ).toBuffer({ resolveWithObject: true });
          return {
            data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
            width: info.width,
            height: info.height,
          };
        }
        await r.body?.cancel();
        last = `HTTP ${r.status}`;
        if (r.status >= 400 && r.status < 500 && r.status !== 429 && r.status !== 408) break;
      } catch (e) {
        last = (e as Error).cause ? String((e as Error).cause) : (e as Error).message;
      }
      if (attempt < attempts) await sleep((this.opts.backoffMs ?? 2000) * 2 ** (attempt - 1));
    }
    throw new VoxportError("STORAGE", `render-ws tile ${url}: ${last}`);
  }

  async read(box: Box, options: { signal?: AbortSignal } = {}): Promise<Block> {
    const shape = [0, 1, 2].map((d) => box.max[d] - box.min[d]) as Vec3;
    const block = makeBlock(this.dtype, [shape[0], shape[1], shape[2], 1]);
    const inside = intersect(box, { min: [0, 0, 0], max: this.size });
    if (isEmptyBox(inside)) return block;
    const T = this.url.tile;
    const bpv = this.dtype === "uint16" ? 2 : 1;
    const out = new Uint8Array(block.data.buffer);
    for (let z = inside.min[2]; z < inside.max[2]; z++) {
      for (let ty = inside.min[1]; ty < inside.max[1]; ty += T) {
        for (let tx = inside.min[0]; tx < inside.max[0]; tx += T) {
          options.signal?.throwIfAborted();
          const w = Math.min(T, inside.max[0] - tx);
          const h = Math.min(T, inside.max[1] - ty);
          const url = this.tileUrl(
            this.origin[2] + z,
            this.origin[0] + tx,
            this.origin[1] + ty,
            w,
            h,
          );
          const img = await this.fetchTile(url);
          // Place the image at (tx, ty), clipped to the tile: render rounds scaled sizes.
          const cw = Math.min(w, img.width);
          const ch = Math.min(h, img.height);
          for (let y = 0; y < ch; y++) {
            const src = y * img.width * bpv;
            const dst =
              (tx - box.min[0] + shape[0] * (ty + y - box.min[1] + shape[1] * (z - box.min[2]))) *
              bpv;
            out.set(img.data.subarray(src, src + cw * bpv), dst);
          }
        }
      }
    }
    return block;
  }
}

export async function openRender(input: string, opts: RenderOptions = {}): Promise<RenderSource> {
  const url = parseRenderUrl(input);
  const meta = await fetchJson(stackUrl(url), opts);
  const stats = (meta as { stats?: { stackBounds?: StackBounds; channelNames?: unknown } }).stats;
  const b = stats?.stackBounds;
  if (
    !b ||
    ["minX", "maxX", "minY", "maxY", "minZ", "maxZ"].some(
      (k) => typeof b[k as keyof StackBounds] !== "number",
    )
  ) {
    throw new VoxportError(
      "INVALID_SOURCE",
      `${input}: the stack's metadata has no stats.stackBounds (run render's stack statistics first)`,
    );
  }
  const names = Array.isArray(stats?.channelNames) ? (stats.channelNames as string[]) : [];
  if (url.channel !== undefined && !names.includes(url.channel)) {
    throw new VoxportError(
      "INVALID_SOURCE",
      `${input}: channel "${url.channel}" is not in the stack (it has: ${names.join(", ") || "none"})`,
    );
  }
  const source = new RenderSource(url, b, opts, input);
  if (source.size.some((v) => v <= 0)) {
    throw new VoxportError(
      "INVALID_SOURCE",
      `${input}: the stack is empty (${source.size.join("×")})`,
    );
  }
  return source;
}

async function fetchJson(url: string, opts: RenderOptions): Promise<unknown> {
  let r: Response;
  try {
    r = await fetch(url, {
      signal: opts.signal ?? AbortSignal.timeout(10_000),
      headers: { Accept: "application/json" },
    });
  } catch (e) {
    const why = (e as Error).cause ? String((e as Error).cause) : (e as Error).message;
    throw new VoxportError("INVALID_SOURCE", `render-ws ${url}: ${why}`);
  }
  if (r.status !== 200) {
    await r.body?.cancel();
    throw new VoxportError(
      r.status === 404 ? "NOT_FOUND" : "INVALID_SOURCE",
      `render-ws ${url}: HTTP ${r.status}${r.status === 404 ? " (no such owner, project or stack)" : ""}`,
    );
  }
  return r.json();
}
