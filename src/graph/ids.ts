/**
 * ChunkedGraph node ids, chunk ids and the layer hierarchy (the PyChunkedGraph/graphene layout,
 * so ids we build decode in Neuroglancer's graphene source and in CAVE tools).
 *
 * A node id is a uint64, most-significant bits first:
 *   | layer (layerIdBits) | x (b) | y (b) | z (b) | segment (64 − layerIdBits − 3b) |
 * where b = bitsPerAxis[layer]. Ids are bigint throughout: they use all 64 bits.
 */
import { VoxportError } from "../errors.js";
import type { Vec3 } from "../ops/array.js";

export interface GraphLayout {
  /** Bits holding the layer number (PyChunkedGraph's LAYER_ID_BITS, default 8). */
  layerIdBits: number;
  /** Number of layers: 1 = supervoxels, 2 = atomic (L2) chunks, … layerCount = roots. */
  layerCount: number;
  /** Bits per axis of the chunk coordinate, indexed by layer (index 0 unused). */
  bitsPerAxis: number[];
  /** L2 chunk grid size per axis. */
  l2Grid: Vec3;
  fanout: number;
}

/** Layers needed so that the L2 grid folds into one root chunk (fanout 2 in practice). */
export function layerCountFor(l2Grid: Vec3, fanout = 2): number {
  const n = Math.max(...l2Grid);
  let layers = 0;
  // ceil(log_fanout(n)) without floating-point surprises at exact powers.
  for (let span = 1; span < n; span *= fanout) layers++;
  return layers + 2;
}

/**
 * Bits per axis per layer (compute_bitmasks): a layer L ≥ 3 gets enough bits for a grid of
 * 2^(layerCount − L) chunks per axis (at least 1); layers 1 and 2 get `spatialBits`, or more
 * if the graph is too tall for them.
 */
export function bitsPerAxisFor(layerCount: number, spatialBits: number): number[] {
  const bits = new Array<number>(layerCount + 1).fill(0);
  for (let layer = layerCount; layer >= 2; layer--) {
    let b = Math.max(1, layerCount - layer);
    if (layer === 2) {
      if (spatialBits < b) {
        throw new VoxportError(
          "INVALID_ARGUMENT",
          `graph_config.SPATIAL_BITS: ${spatialBits} bits per axis cannot address ${layerCount} layers (needs ≥ ${b})`,
        );
      }
      b = Math.max(spatialBits, b);
    }
    bits[layer] = b;
  }
  bits[1] = bits[2];
  return bits;
}

export function makeLayout(opts: {
  voxelSize: Vec3;
  chunkSize: Vec3;
  fanout?: number;
  layerIdBits?: number;
  spatialBits?: number;
}): GraphLayout {
  const fanout = opts.fanout ?? 2;
  const l2Grid = opts.voxelSize.map((v, i) => Math.ceil(v / opts.chunkSize[i])) as Vec3;
  const layerCount = layerCountFor(l2Grid, fanout);
  const layerIdBits = opts.layerIdBits ?? 8;
  const bitsPerAxis = bitsPerAxisFor(layerCount, opts.spatialBits ?? 10);
  const layout: GraphLayout = { layerIdBits, layerCount, bitsPerAxis, l2Grid, fanout };
  for (let axis = 0; axis < 3; axis++) {
    if (l2Grid[axis] > 2 ** bitsPerAxis[2]) {
      throw new VoxportError(
        "INVALID_ARGUMENT",
        `graph_config.SPATIAL_BITS: ${bitsPerAxis[2]} bits per axis cannot address ${l2Grid[axis]} chunks along ${"xyz"[axis]}`,
      );
    }
  }
  if (segmentBits(layout, 2) < 1) {
    throw new VoxportError("INVALID_ARGUMENT", "graph_config: no bits left for segment ids");
  }
  return layout;
}

/** Chunk grid size per axis at a layer (the root layer is one chunk). */
export function gridAt(layout: GraphLayout, layer: number): Vec3 {
  if (layer >= layout.layerCount) return [1, 1, 1];
  const f = layout.fanout ** Math.max(0, layer - 2);
  return layout.l2Grid.map((n) => Math.ceil(n / f)) as Vec3;
}

export function segmentBits(layout: GraphLayout, layer: number): number {
  return 64 - layout.layerIdBits - 3 * layout.bitsPerAxis[layer];
}

export function layerOf(id: bigint, layerIdBits = 8): number {
  return Number(id >> BigInt(64 - layerIdBits));
}

export function chunkId(layout: GraphLayout, layer: number, c: Vec3): bigint {
  const b = layout.bitsPerAxis[layer];
  if (b === undefined || layer < 1 || layer > layout.layerCount) {
    throw new RangeError(`layer ${layer} is outside 1..${layout.layerCount}`);
  }
  const layerOffset = 64 - layout.layerIdBits;
  let id = BigInt(layer) << BigInt(layerOffset);
  for (let axis = 0; axis < 3; axis++) {
    if (!Number.isInteger(c[axis]) || c[axis] < 0 || c[axis] >= 2 ** b) {
      throw new RangeError(`chunk coordinate ${c.join(",")} does not fit ${b} bits per axis`);
    }
    id |= BigInt(c[axis]) << BigInt(layerOffset - b * (axis + 1));
  }
  return id;
}

export function nodeId(layout: GraphLayout, layer: number, c: Vec3, segment: bigint): bigint {
  const limit = (1n << BigInt(segmentBits(layout, layer))) - 1n;
  if (segment < 1n || segment > limit) {
    throw new RangeError(`segment id ${segment} is outside 1..${limit} at layer ${layer}`);
  }
  return chunkId(layout, layer, c) | segment;
}

export function coordsOf(layout: GraphLayout, id: bigint): Vec3 {
  const layer = layerOf(id, layout.layerIdBits);
  const b = layout.bitsPerAxis[layer];
  if (b === undefined || layer < 1) throw new RangeError(`id ${id} has layer ${layer}`);
  const mask = (1n << BigInt(b)) - 1n;
  const layerOffset = 64 - layout.layerIdBits;
  return [0, 1, 2].map((axis) =>
    Number((id >> BigInt(layerOffset - b * (axis + 1))) & mask),
  ) as Vec3;
}

/** The chunk id of a node: its id with the segment bits cleared. */
export function chunkOf(layout: GraphLayout, id: bigint): bigint {
  const off = BigInt(segmentBits(layout, layerOf(id, layout.layerIdBits)));
  return (id >> off) << off;
}

export function segmentOf(layout: GraphLayout, id: bigint): bigint {
  const bits = BigInt(segmentBits(layout, layerOf(id, layout.layerIdBits)));
  return id & ((1n << bits) - 1n);
}

/** Coordinates of the chunk at `toLayer` containing chunk `c` of `fromLayer` (toLayer ≥ fromLayer). */
export function ancestorChunk(
  layout: GraphLayout,
  c: Vec3,
  fromLayer: number,
  toLayer: number,
): Vec3 {
  if (toLayer >= layout.layerCount) return [0, 0, 0];
  const f = layout.fanout ** (Math.max(2, toLayer) - Math.max(2, fromLayer));
  return c.map((v) => Math.floor(v / f)) as Vec3;
}

/** In-bounds child chunks (layer − 1) of a chunk at layer ≥ 3. */
export function childChunks(layout: GraphLayout, layer: number, c: Vec3): Vec3[] {
  const grid = gridAt(layout, layer - 1);
  const f = layout.fanout;
  const out: Vec3[] = [];
  // The root chunk's children are the whole grid of the layer below (which may be narrower
  // than fanout per axis when the grid is not a power of two).
  const span = layer >= layout.layerCount ? grid : ([f, f, f] as Vec3);
  const origin = layer >= layout.layerCount ? [0, 0, 0] : c.map((v) => v * f);
  for (let dz = 0; dz < span[2]; dz++) {
    for (let dy = 0; dy < span[1]; dy++) {
      for (let dx = 0; dx < span[0]; dx++) {
        const child: Vec3 = [origin[0] + dx, origin[1] + dy, origin[2] + dz];
        if (child[0] < grid[0] && child[1] < grid[1] && child[2] < grid[2]) out.push(child);
      }
    }
  }
  return out;
}

/**
 * The layer at which an edge between two L2 chunks is resolved minus one
 * (get_cross_chunk_edges_layer): 1 for the same chunk; k ≥ 2 when the chunks differ at layer k
 * and coincide at layer k + 1.
 */
export function crossEdgeLayer(layout: GraphLayout, a: Vec3, b: Vec3): number {
  let layer = 1;
  let ca = [...a];
  let cb = [...b];
  for (let round = 0; round < layout.layerCount - 2; round++) {
    if (ca[0] !== cb[0] || ca[1] !== cb[1] || ca[2] !== cb[2]) layer++;
    ca = ca.map((v) => Math.floor(v / layout.fanout));
    cb = cb.map((v) => Math.floor(v / layout.fanout));
  }
  return layer;
}

/** 20-digit zero-padded decimal: lexicographic order equals numeric order (PCG row keys). */
export function rowKey(id: bigint): string {
  return id.toString().padStart(20, "0");
}
