/**
 * ChunkFlow.jl task JSON (`voxport ingest --task FILE`), mapped onto ingest options.
 *
 * A task is a "net" of named nodes `{kind, params, inputs, outputs}` (seed-systems §2.2). voxport
 * reads its one `cutoutchunk` node:
 *   params.bigArrayType        must name aligned sections ("aligned"; ChunkFlow matches "align")
 *   inputs.registerFile        the registry (file or directory; `~` expanded) → SOURCE
 *   params.origin              1-based [x, y, z] of the cutout's first voxel, registry coordinates
 *   params.cutoutSize          [x, y, z] voxels (`chunkSize` is the deprecated alias)
 *   params.originOffset        added to origin first (optional)
 *   params.grid, params.stride voxport extension, taskproducer's `-g`/`-s`: the ingest covers the
 *                              union of the grid's cutouts, origin + (g − 1)·stride for g in grid;
 *                              a stride larger than the cutout would leave gaps and is refused
 *   params.offset              added to the position in the output → voxel_offset
 *   params.voxelSize           nm → --resolution
 *   params.nonzeroRatioThreshold → --skip-empty (per chunk: finer than ChunkFlow's per cutout)
 *   params.isRemoveNaN         float sections: NaN → 0
 *   params.deviceID            set by taskproducer, meaningless here: ignored
 *   outputs.data               the name of ChunkFlow's in-memory channel: ignored
 * So the ingested box is [origin − 1 + originOffset, … + (grid − 1)·stride + cutoutSize) in
 * registry coordinates, and its first voxel lands at voxel_offset = that corner + offset.
 * `blendchunk` nodes (ChunkFlow's writer) are accepted so original task files work unchanged,
 * but ignored: the destination is the command line's, and voxport writes the whole pyramid
 * (ChunkFlow's `outputs.path` is one scale's folder). Any other node kind, unknown key, or a
 * field that conflicts with a command-line option is an error naming the field.
 */
import { statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { VoxportError } from "../../errors.js";
import type { Vec3 } from "../../ops/array.js";
import type { Box } from "../../ops/bbox.js";

export interface ChunkflowTask {
  /** Absolute path of inputs.registerFile. */
  registerFile: string;
  /** Ingested box, 0-based, registry (global) coordinates. */
  box: Box;
  /** voxel_offset of the box's first voxel in the output. */
  offset: Vec3;
  resolution?: Vec3;
  skipEmptyRatio?: number;
  removeNaN: boolean;
  /** Things the user may want to know (ignored nodes, deprecated aliases). */
  notes: string[];
}

const NODE_KEYS = new Set(["kind", "params", "inputs", "outputs"]);
const CUTOUT_PARAMS = new Set([
  "bigArrayType",
  "origin",
  "cutoutSize",
  "chunkSize",
  "originOffset",
  "offset",
  "voxelSize",
  "nonzeroRatioThreshold",
  "isRemoveNaN",
  "deviceID",
  "grid",
  "stride",
]);

function bad(where: string, message: string): VoxportError {
  return new VoxportError("INVALID_ARGUMENT", `${where}: ${message}`);
}

function object(v: unknown, where: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw bad(where, `expected an object, got ${JSON.stringify(v)}`);
  }
  return v as Record<string, unknown>;
}

function checkKeys(o: Record<string, unknown>, allowed: Set<string>, where: string): void {
  for (const k of Object.keys(o)) {
    if (!allowed.has(k)) {
      throw bad(`${where}.${k}`, `unknown field (known: ${[...allowed].join(", ")})`);
    }
  }
}

/** [x, y, z] integers; longer vectors are accepted when the extra entries are 1 (ChunkFlow truncates). */
function vec3(v: unknown, where: string, opts: { min?: number; integer?: boolean } = {}): Vec3 {
  const integer = opts.integer ?? true;
  if (
    !Array.isArray(v) ||
    v.length < 3 ||
    v.some((x) => typeof x !== "number" || !Number.isFinite(x)) ||
    v.slice(3).some((x) => x !== 1)
  ) {
    throw bad(where, `expected [x, y, z] numbers, got ${JSON.stringify(v)}`);
  }
  const out = v.slice(0, 3) as Vec3;
  for (const x of out) {
    if (integer && !Number.isSafeInteger(x)) throw bad(where, `${x} is not an integer`);
    if (opts.min !== undefined && x < opts.min) throw bad(where, `${x} is below ${opts.min}`);
  }
  return out;
}

export function parseChunkflowTask(json: unknown, file: string): ChunkflowTask {
  const top = object(json, file);
  const notes: string[] = [];
  let cutout: { name: string; node: Record<string, unknown> } | undefined;
  for (const [name, value] of Object.entries(top)) {
    const where = `${file}: ${name}`;
    const node = object(value, where);
    checkKeys(node, NODE_KEYS, where);
    if (node.kind === "cutoutchunk") {
      if (cutout) {
        throw bad(
          where,
          `a second cutoutchunk node (the first is ${cutout.name}); voxport reads one`,
        );
      }
      cutout = { name, node };
    } else if (node.kind === "blendchunk") {
      notes.push(
        `${name} (blendchunk) ignored: output goes to DESTINATION, all scales (ChunkFlow's outputs.path is one scale's folder)`,
      );
    } else {
      throw new VoxportError(
        "UNSUPPORTED",
        `${where}.kind: ${JSON.stringify(node.kind)} is not supported; voxport ingest reads a cutoutchunk node (and ignores blendchunk)`,
      );
    }
  }
  if (!cutout)
    throw bad(file, "no cutoutchunk node (the node that names the registry and the cutout)");
  const where = `${file}: ${cutout.name}`;
  const params = object(cutout.node.params ?? {}, `${where}.params`);
  const inputs = object(cutout.node.inputs ?? {}, `${where}.inputs`);
  const outputs = object(cutout.node.outputs ?? {}, `${where}.outputs`);
  checkKeys(params, CUTOUT_PARAMS, `${where}.params`);
  checkKeys(inputs, new Set(["registerFile"]), `${where}.inputs`);
  checkKeys(outputs, new Set(["data"]), `${where}.outputs`);
  const p = (k: string) => `${where}.params.${k}`;

  const type = params.bigArrayType;
  if (typeof type !== "string" || !/align/i.test(type)) {
    throw new VoxportError(
      "UNSUPPORTED",
      `${p("bigArrayType")}: ${JSON.stringify(type)}; voxport reads aligned sections ("aligned") from a task file`,
    );
  }
  const reg = inputs.registerFile;
  if (typeof reg !== "string" || reg.length === 0) {
    throw bad(`${where}.inputs.registerFile`, "missing: the registry.txt (or its folder) to read");
  }
  const expanded = reg === "~" || reg.startsWith("~/") ? homedir() + reg.slice(1) : reg;
  const registerFile = resolve(dirname(resolve(file)), expanded);

  if (params.origin === undefined)
    throw bad(p("origin"), "missing: the 1-based [x, y, z] of the cutout");
  const origin = vec3(params.origin, p("origin"));
  if (params.cutoutSize !== undefined && params.chunkSize !== undefined) {
    throw bad(p("chunkSize"), "give cutoutSize or its deprecated alias chunkSize, not both");
  }
  if (params.chunkSize !== undefined)
    notes.push(`${p("chunkSize")} is deprecated; read as cutoutSize`);
  const sizeKey = params.cutoutSize !== undefined ? "cutoutSize" : "chunkSize";
  if (params[sizeKey] === undefined)
    throw bad(p("cutoutSize"), "missing: the [x, y, z] size of the cutout");
  const cutoutSize = vec3(params[sizeKey], p(sizeKey), { min: 1 });
  const originOffset =
    params.originOffset === undefined ? [0, 0, 0] : vec3(params.originOffset, p("originOffset"));
  const offset = params.offset === undefined ? [0, 0, 0] : vec3(params.offset, p("offset"));
  const grid = params.grid === undefined ? [1, 1, 1] : vec3(params.grid, p("grid"), { min: 1 });
  const stride =
    params.stride === undefined ? [0, 0, 0] : vec3(params.stride, p("stride"), { min: 0 });
  const min = [0, 1, 2].map((d) => origin[d] - 1 + originOffset[d]) as Vec3;
  const max = [0, 1, 2].map((d) => {
    if (grid[d] > 1 && stride[d] > cutoutSize[d]) {
      throw bad(
        p("stride"),
        `${stride[d]} along ${"xyz"[d]} is larger than cutoutSize ${cutoutSize[d]}: the grid's cutouts would leave gaps, and voxport ingests one box`,
      );
    }
    return min[d] + (grid[d] - 1) * stride[d] + cutoutSize[d];
  }) as Vec3;

  let resolution: Vec3 | undefined;
  if (params.voxelSize !== undefined) {
    resolution = vec3(params.voxelSize, p("voxelSize"), { integer: false });
    if (resolution.some((r) => !(r > 0))) throw bad(p("voxelSize"), "must be positive nanometres");
  }
  let skipEmptyRatio: number | undefined;
  const t = params.nonzeroRatioThreshold;
  if (t !== undefined) {
    if (typeof t !== "number" || !(t >= 0 && t <= 1)) {
      throw bad(
        p("nonzeroRatioThreshold"),
        `expected a fraction in [0, 1], got ${JSON.stringify(t)}`,
      );
    }
    skipEmptyRatio = t;
  }
  if (params.isRemoveNaN !== undefined && typeof params.isRemoveNaN !== "boolean") {
    throw bad(
      p("isRemoveNaN"),
      `expected true or false, got ${JSON.stringify(params.isRemoveNaN)}`,
    );
  }
  if (outputs.data !== undefined && typeof outputs.data !== "string") {
    throw bad(`${where}.outputs.data`, "expected a string");
  }
  return {
    registerFile,
    box: { min, max },
    offset: [0, 1, 2].map((d) => min[d] + offset[d]) as Vec3,
    resolution,
    skipEmptyRatio,
    removeNaN: params.isRemoveNaN === true,
    notes,
  };
}

export async function readChunkflowTask(file: string): Promise<ChunkflowTask> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    throw new VoxportError("NOT_FOUND", `--task ${file}: cannot read (${(e as Error).message})`, {
      cause: e,
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw bad(file, `not valid JSON (${(e as Error).message})`);
  }
  return parseChunkflowTask(json, file);
}

export interface TaskMergeInput {
  source?: string;
  resolution?: Vec3;
  offset?: Vec3;
  skipEmptyRatio?: number;
}

/**
 * The task's settings combined with the command line's: a value given in both places must
 * agree (an error names both), a value given in one is taken from there.
 */
export function mergeTask(
  task: ChunkflowTask,
  cli: TaskMergeInput,
  file: string,
): Required<Pick<TaskMergeInput, "source">> & TaskMergeInput & { box: Box; removeNaN: boolean } {
  const same = (a: Vec3, b: Vec3) => a.every((v, d) => v === b[d]);
  if (cli.source !== undefined && registryFile(cli.source) !== registryFile(task.registerFile)) {
    throw bad(
      file,
      `inputs.registerFile ${task.registerFile} conflicts with SOURCE ${resolve(cli.source)}; give one`,
    );
  }
  if (cli.resolution && task.resolution && !same(cli.resolution, task.resolution)) {
    throw bad(
      file,
      `params.voxelSize ${task.resolution} conflicts with --resolution ${cli.resolution}`,
    );
  }
  if (cli.offset && !same(cli.offset, task.offset)) {
    throw bad(
      file,
      `params.origin/offset place the volume at voxel_offset ${task.offset}, which conflicts with --offset ${cli.offset}`,
    );
  }
  if (
    cli.skipEmptyRatio !== undefined &&
    task.skipEmptyRatio !== undefined &&
    cli.skipEmptyRatio !== task.skipEmptyRatio
  ) {
    throw bad(
      file,
      `params.nonzeroRatioThreshold ${task.skipEmptyRatio} conflicts with --skip-empty ${cli.skipEmptyRatio}`,
    );
  }
  return {
    source: task.registerFile,
    resolution: cli.resolution ?? task.resolution,
    offset: task.offset,
    skipEmptyRatio: cli.skipEmptyRatio ?? task.skipEmptyRatio,
    box: task.box,
    removeNaN: task.removeNaN,
  };
}

/** A registry path with a directory meaning its registry.txt, for comparing two of them. */
function registryFile(path: string): string {
  const abs = resolve(path);
  try {
    return statSync(abs).isDirectory() ? join(abs, "registry.txt") : abs;
  } catch {
    return abs;
  }
}
