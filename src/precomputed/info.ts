/**
 * Validating and writing the precomputed `info` file (../shared/docs/precomputed-format.md §1.2,
 * §1.3, §9 item 1). Validation follows Neuroglancer's and TensorStore's rules rather than the
 * looser JSON schema, so a dataset we accept is one both of them open.
 *
 * Unknown keys are kept (NG ignores them; CloudVolume adds some, e.g. `spatial_index`) so that
 * reading and rewriting an info file never drops another tool's metadata.
 */
import * as z from "zod";
import { VoxportError } from "../errors.js";
import { DATA_TYPES, type DataType } from "../ops/array.js";
import type { Encoding, PrecomputedInfo, ScaleInfo, ShardingSpec } from "./types.js";

export const ENCODINGS: readonly Encoding[] = [
  "raw",
  "jpeg",
  "png",
  "compressed_segmentation",
  "compresso",
  "jxl",
];

/**
 * Optional keys must be absent, never `null`: NG's validators reject a present null (e.g.
 * `"sharding": null`, seung-lab/igneous#77). Schemas wrapped by `opt` are remembered so the
 * error map can give that advice instead of zod's generic "expected X, received null".
 */
const optionalInner = new WeakSet<object>();
function opt<T extends z.ZodType>(schema: T): z.ZodOptional<T> {
  optionalInner.add(schema);
  return schema.optional();
}

// Factories, not shared constants: each optional use needs its own schema instance (see `opt`).
const int = () => z.int();
const vec3Int = () => z.tuple([int(), int(), int()]);
const vec3Positive = () => z.tuple([int().min(1), int().min(1), int().min(1)]);
const positiveFinite = () => z.number().positive().finite();
/** NG parses `type` and `encoding` case-insensitively; we accept that and store lower case. */
const lowerEnum = <T extends readonly [string, ...string[]]>(values: T) =>
  z
    .string()
    .transform((s) => s.toLowerCase())
    .pipe(z.enum(values));

const shardingSchema = z.looseObject({
  "@type": z.literal("neuroglancer_uint64_sharded_v1"),
  preshift_bits: int().min(0).max(64),
  hash: z.enum(["identity", "murmurhash3_x86_128"]),
  minishard_bits: int().min(0).max(64),
  shard_bits: int().min(0).max(64),
  // NG treats a missing value as raw, but the schema requires it; we read it leniently and
  // always write it (serializeInfo below fills in "raw" only if the caller's object lacks it).
  minishard_index_encoding: opt(z.enum(["raw", "gzip"])),
  data_encoding: opt(z.enum(["raw", "gzip"])),
});

const scaleSchema = z.looseObject({
  key: z.string().min(1),
  size: vec3Positive(),
  voxel_offset: opt(vec3Int()),
  resolution: z.tuple([positiveFinite(), positiveFinite(), positiveFinite()]),
  chunk_sizes: z.array(vec3Positive()).min(1),
  encoding: lowerEnum(ENCODINGS as unknown as readonly [Encoding, ...Encoding[]]),
  compressed_segmentation_block_size: opt(vec3Positive()),
  sharding: opt(shardingSchema),
  hidden: opt(z.boolean()),
  jpeg_quality: opt(int().min(0).max(100)),
  png_level: opt(int().min(0).max(9)),
});

const infoSchema = z.looseObject({
  "@type": opt(z.literal("neuroglancer_multiscale_volume")),
  type: lowerEnum(["image", "segmentation"] as const),
  data_type: z.enum(DATA_TYPES as unknown as readonly [DataType, ...DataType[]]),
  num_channels: int().min(1),
  scales: z.array(scaleSchema).min(1),
  mesh: opt(z.string()),
  skeletons: opt(z.string()),
  segment_properties: opt(z.string()),
  redirect: opt(z.string()),
});

type Issue = { path: PropertyKey[]; message: string };

/** Data type and channel rules per encoding (§1.3 table; NG volume.rst, TS ValidateEncodingDataType). */
const ENCODING_RULES: Record<Encoding, { dtypes: readonly DataType[] | "all"; channels: string }> =
  {
    raw: { dtypes: "all", channels: "any" },
    compressed_segmentation: { dtypes: ["uint32", "uint64"], channels: "any" },
    jpeg: { dtypes: ["uint8"], channels: "1,3" },
    png: { dtypes: ["uint8", "uint16"], channels: "1,2,3,4" },
    jxl: { dtypes: ["uint8"], channels: "1,3,4" },
    compresso: {
      dtypes: ["uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32"],
      channels: "1",
    },
  };

/** Bits of the compressed Morton code for a grid of `ceil(size/chunk)` cells (§4.3). */
function mortonBits(size: number[], chunk: number[]): number {
  let bits = 0;
  for (let d = 0; d < 3; d++) {
    const grid = Math.ceil(size[d] / chunk[d]);
    // bitLength(grid - 1), as §4.3 advises over floating-point log2.
    bits += grid <= 1 ? 0 : (grid - 1).toString(2).length;
  }
  return bits;
}

/** Rules that span fields, which a per-field schema cannot express. */
function crossFieldIssues(info: PrecomputedInfo): Issue[] {
  const issues: Issue[] = [];
  const push = (path: PropertyKey[], message: string) => issues.push({ path, message });
  const segmentation = info.type === "segmentation";
  if (segmentation && info.num_channels !== 1) {
    push(["num_channels"], `must be 1 for a segmentation volume (got ${info.num_channels})`);
  }
  if (!segmentation) {
    for (const k of ["mesh", "skeletons", "segment_properties"] as const) {
      if (info[k] !== undefined) push([k], `is only allowed when type is "segmentation"`);
    }
  }
  info.scales.forEach((s, i) => {
    const at = (...rest: PropertyKey[]) => ["scales", i, ...rest];
    const rule = ENCODING_RULES[s.encoding];
    if (rule.dtypes !== "all" && !rule.dtypes.includes(info.data_type)) {
      push(
        at("encoding"),
        `"${s.encoding}" cannot store data_type "${info.data_type}" (allowed: ${rule.dtypes.join(", ")})`,
      );
    }
    if (rule.channels !== "any" && !rule.channels.split(",").includes(String(info.num_channels))) {
      push(
        at("encoding"),
        `"${s.encoding}" cannot store num_channels ${info.num_channels} (allowed: ${rule.channels})`,
      );
    }
    const isCseg = s.encoding === "compressed_segmentation";
    if (isCseg && s.compressed_segmentation_block_size === undefined) {
      push(at("compressed_segmentation_block_size"), "is required with compressed_segmentation");
    }
    if (!isCseg && s.compressed_segmentation_block_size !== undefined) {
      push(
        at("compressed_segmentation_block_size"),
        "is only allowed with encoding compressed_segmentation",
      );
    }
    if (s.jpeg_quality !== undefined && s.encoding !== "jpeg") {
      push(at("jpeg_quality"), "is only allowed with encoding jpeg");
    }
    if (s.png_level !== undefined && s.encoding !== "png") {
      push(at("png_level"), "is only allowed with encoding png");
    }
    const offset = s.voxel_offset ?? [0, 0, 0];
    for (let d = 0; d < 3; d++) {
      // TS CheckScaleBounds; here the limit is what a JS number holds exactly.
      if (!Number.isSafeInteger(offset[d] + s.size[d])) {
        push(at("size", d), "voxel_offset + size overflows a safe integer");
      }
    }
    if (s.sharding) {
      if (s.chunk_sizes.length !== 1) {
        push(
          at("chunk_sizes"),
          `a sharded scale must have exactly one chunk size (got ${s.chunk_sizes.length})`,
        );
      }
      if (s.sharding.minishard_bits + s.sharding.shard_bits > 64) {
        push(at("sharding", "shard_bits"), "minishard_bits + shard_bits must be <= 64");
      }
      const bits = mortonBits(s.size, s.chunk_sizes[0]);
      if (bits > 64) {
        push(at("chunk_sizes", 0), `the chunk grid needs ${bits} Morton-code bits; at most 64 fit`);
      }
    }
  });
  return issues;
}

/** `["scales", 1, "chunk_sizes", 0]` → `scales[1].chunk_sizes[0]`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const p of path) {
    if (typeof p === "number") out += `[${p}]`;
    else if (typeof p === "string" && /^[A-Za-z_][A-Za-z0-9_]*$/.test(p)) {
      out += out ? `.${p}` : p;
    } else out += out ? `[${JSON.stringify(String(p))}]` : String(p); // "@type" at the top
  }
  return out || "(root)";
}

function invalid(where: string, issues: Issue[]): VoxportError {
  const shown = issues.slice(0, 5).map((i) => `${formatPath(i.path)}: ${i.message}`);
  if (issues.length > shown.length) shown.push(`(and ${issues.length - shown.length} more)`);
  return new VoxportError(
    "INVALID_INFO",
    `invalid precomputed info at ${where}: ${shown.join("; ")}`,
  );
}

/**
 * Validate an already JSON-parsed info object. `where` (a URL or path) goes into the error
 * message together with the path of every offending field.
 */
export function parseInfo(json: unknown, where: string): PrecomputedInfo {
  const result = infoSchema.safeParse(json, {
    error: (iss) =>
      iss.input === null && iss.inst && optionalInner.has(iss.inst)
        ? "is null; omit the key instead of null"
        : undefined,
  });
  if (!result.success) throw invalid(where, result.error.issues);
  const info = result.data as PrecomputedInfo;
  const issues = crossFieldIssues(info);
  if (issues.length) throw invalid(where, issues);
  return info;
}

// Fixed key orders: what humans expect to see first, and what makes output byte-stable.
const INFO_KEYS = [
  "@type",
  "type",
  "data_type",
  "num_channels",
  "scales",
  "mesh",
  "skeletons",
  "segment_properties",
  "redirect",
];
const SCALE_KEYS = [
  "key",
  "size",
  "voxel_offset",
  "resolution",
  "chunk_sizes",
  "encoding",
  "compressed_segmentation_block_size",
  "jpeg_quality",
  "png_level",
  "sharding",
  "hidden",
];
const SHARDING_KEYS = [
  "@type",
  "preshift_bits",
  "hash",
  "minishard_bits",
  "shard_bits",
  "minishard_index_encoding",
  "data_encoding",
];

/** Known keys in `order`, then unknown keys sorted; undefined values are dropped. */
function ordered(obj: object, order: readonly string[]): Record<string, unknown> {
  const src = obj as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  const rest = Object.keys(src)
    .filter((k) => !order.includes(k))
    .sort();
  for (const k of [...order, ...rest]) {
    if (src[k] !== undefined) out[k] = sortDeep(src[k]);
  }
  return out;
}

function sortDeep(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortDeep);
  if (v !== null && typeof v === "object") return ordered(v, []);
  return v;
}

function normalizeSharding(s: ShardingSpec): Record<string, unknown> {
  return ordered(
    {
      ...s,
      minishard_index_encoding: s.minishard_index_encoding ?? "raw",
      data_encoding: s.data_encoding ?? "raw",
    },
    SHARDING_KEYS,
  );
}

function normalizeScale(s: ScaleInfo): Record<string, unknown> {
  const out = ordered(s, SCALE_KEYS);
  if (s.sharding) out.sharding = normalizeSharding(s.sharding);
  return out;
}

/**
 * The info file's text: `@type` first (always written, §9), known keys in a fixed order, unknown
 * keys sorted, undefined optional keys left out (never null), arrays of numbers kept on one line.
 * Equal infos give byte-identical output.
 */
export function serializeInfo(info: PrecomputedInfo): string {
  const top = ordered({ ...info, "@type": "neuroglancer_multiscale_volume" }, INFO_KEYS);
  top.scales = info.scales.map(normalizeScale);
  return `${format(top, "")}\n`;
}

/** JSON with 2-space indent, except that arrays holding no objects stay on one line. */
function format(v: unknown, indent: string): string {
  if (Array.isArray(v)) {
    if (!v.some((x) => x !== null && typeof x === "object" && !Array.isArray(x))) {
      return `[${v.map((x) => format(x, indent)).join(", ")}]`;
    }
    const inner = `${indent}  `;
    return `[\n${v.map((x) => inner + format(x, inner)).join(",\n")}\n${indent}]`;
  }
  if (v !== null && typeof v === "object") {
    const entries = Object.entries(v);
    if (entries.length === 0) return "{}";
    const inner = `${indent}  `;
    const body = entries.map(([k, x]) => `${inner}${JSON.stringify(k)}: ${format(x, inner)}`);
    return `{\n${body.join(",\n")}\n${indent}}`;
  }
  return JSON.stringify(v);
}
