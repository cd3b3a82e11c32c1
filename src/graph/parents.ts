/**
 * Parent-layer chunk build (chunkedgraph.md §4) with deterministic ids, so a retried job
 * rewrites the same rows instead of adding duplicates (PyChunkedGraph allocates fresh ids and
 * filters failed copies at read time; we need neither).
 *
 * Id allocation: a node created by the job of layer L, chunk c, in target chunk T (layer t ≥ L)
 * gets segment = [L − 2 : 5 bits][c's position inside T at layer L][counter], so two jobs can
 * never pick the same id, and one job numbers its new nodes in component order.
 */
import { VoxportError } from "../errors.js";
import type { Vec3 } from "../ops/array.js";
import { connectedComponents } from "./components.js";
import {
  ancestorChunk,
  childChunks,
  chunkId,
  type GraphLayout,
  gridAt,
  layerOf,
  nodeId,
  segmentBits,
} from "./ids.js";
import type { GraphStore, NodeRow } from "./store.js";

const LAYER_CODE_BITS = 5;
/** Below this many counter bits a job could run out of ids; refuse the layout up front. */
const MIN_COUNTER_BITS = 16;

function localBits(layout: GraphLayout, creatorLayer: number, targetLayer: number): number {
  if (targetLayer >= layout.layerCount) return layout.bitsPerAxis[creatorLayer];
  return Math.log2(layout.fanout) * (targetLayer - creatorLayer);
}

function counterBits(layout: GraphLayout, creatorLayer: number, targetLayer: number): number {
  return (
    segmentBits(layout, targetLayer) -
    LAYER_CODE_BITS -
    3 * localBits(layout, creatorLayer, targetLayer)
  );
}

/** Throws when some (creator, target) pair leaves too few bits for a job's node counter. */
export function checkIdSpace(layout: GraphLayout): void {
  for (let creator = 3; creator <= layout.layerCount; creator++) {
    for (let target = creator; target <= layout.layerCount; target++) {
      const bits = counterBits(layout, creator, target);
      if (bits < MIN_COUNTER_BITS) {
        throw new VoxportError(
          "INVALID_ARGUMENT",
          `graph_config: ${layout.layerCount} layers leave ${bits} bits for the nodes one layer-${creator} job creates at layer ${target}; lower SPATIAL_BITS or LAYER_ID_BITS`,
        );
      }
    }
  }
}

export function allocateId(
  layout: GraphLayout,
  creatorLayer: number,
  c: Vec3,
  targetLayer: number,
  counter: number,
): bigint {
  const lb = localBits(layout, creatorLayer, targetLayer);
  const cb = counterBits(layout, creatorLayer, targetLayer);
  if (counter >= 2 ** cb - 1) {
    throw new VoxportError(
      "UNSUPPORTED",
      `layer-${creatorLayer} chunk ${c.join("_")} creates more than ${2 ** cb - 1} nodes at layer ${targetLayer}`,
    );
  }
  const span = 2 ** lb;
  let local = 0n;
  for (let axis = 0; axis < 3; axis++) {
    local = (local << BigInt(lb)) | BigInt(c[axis] % span);
  }
  const segment =
    (((BigInt(creatorLayer - 2) << BigInt(3 * lb)) | local) << BigInt(cb)) | BigInt(counter + 1);
  return nodeId(layout, targetLayer, ancestorChunk(layout, c, creatorLayer, targetLayer), segment);
}

/** Each id's highest ancestor whose layer is ≤ maxLayer (get_roots(stop_layer, ceil=False)). */
export async function liftTo(
  store: GraphStore,
  ids: readonly bigint[],
  maxLayer: number,
  layerIdBits: number,
): Promise<bigint[]> {
  const out = [...ids];
  let open = out.map((_, i) => i).filter((i) => layerOf(out[i], layerIdBits) < maxLayer);
  while (open.length > 0) {
    const parents = await store.parents(open.map((i) => out[i]));
    const next: number[] = [];
    open.forEach((i, k) => {
      const p = parents[k];
      if (p === undefined || layerOf(p, layerIdBits) > maxLayer) return;
      out[i] = p;
      if (layerOf(p, layerIdBits) < maxLayer) next.push(i);
    });
    open = next;
  }
  return out;
}

/** L2 chunks of the box [lo, hi) (in L2 chunk units) for which `keep` holds, clipped to the grid. */
function l2ChunksWhere(
  layout: GraphLayout,
  lo: Vec3,
  hi: Vec3,
  keep: (x: number, y: number, z: number) => boolean,
): Vec3[] {
  const g = layout.l2Grid;
  const out: Vec3[] = [];
  for (let z = lo[2]; z < Math.min(hi[2], g[2]); z++) {
    for (let y = lo[1]; y < Math.min(hi[1], g[1]); y++) {
      for (let x = lo[0]; x < Math.min(hi[0], g[0]); x++) if (keep(x, y, z)) out.push([x, y, z]);
    }
  }
  return out;
}

async function l2NodesIn(
  layout: GraphLayout,
  store: GraphStore,
  chunks: Vec3[],
): Promise<bigint[]> {
  const out: bigint[] = [];
  const bits = segmentBits(layout, 2);
  for (const c of chunks) out.push(...(await store.nodesInChunk(chunkId(layout, 2, c), bits)));
  return out;
}

export interface ParentResult {
  rows: NodeRow[];
  children: number;
  created: number;
  edges: number;
}

/** Builds chunk `c` of `layer` (≥ 3); every child chunk must be complete. */
export async function buildParentChunk(
  layout: GraphLayout,
  store: GraphStore,
  layer: number,
  c: Vec3,
): Promise<ParentResult> {
  const top = layout.layerCount;
  const lb = layout.layerIdBits;
  const children: bigint[] = [];
  for (const cc of childChunks(layout, layer, c)) {
    const chunk = chunkId(layout, layer - 1, cc);
    children.push(...(await store.nodesInChunk(chunk, segmentBits(layout, layer - 1))));
  }

  // This chunk's box in L2 chunk units.
  const n = layout.fanout ** (layer - 2);
  const lo = c.map((v) => v * n) as Vec3;
  const hi = lo.map((v) => v + n) as Vec3;
  const mid = lo.map((v) => v + n / 2 - 1);

  // Edges between children cross one of the three mid-planes; each side stores its outgoing
  // edges, so the low side is enough.
  const touching = l2ChunksWhere(
    layout,
    lo,
    hi,
    (x, y, z) => x === mid[0] || y === mid[1] || z === mid[2],
  );
  const touchingNodes = await l2NodesIn(layout, store, touching);
  const crossLists = await store.crossEdges(touchingNodes);
  const ends: bigint[] = [];
  for (let i = 0; i < touchingNodes.length; i++) {
    const pairs = crossLists[i]?.get(layer - 1);
    if (!pairs) continue;
    for (let k = 0; k < pairs.length; k += 2) ends.push(touchingNodes[i], pairs[k + 1]);
  }
  const lifted = await liftTo(store, ends, layer - 1, lb);
  const edges: [bigint, bigint][] = [];
  for (let k = 0; k < lifted.length; k += 2) edges.push([lifted[k], lifted[k + 1]]);
  const ccs = connectedComponents(children, edges);

  // Skip connections: a lone child goes straight to the lowest layer where it has to meet a
  // neighbour, or to the root when it never does.
  const nodeLayer = new Map<bigint, number>();
  if (layer < top) {
    const g = layout.l2Grid;
    const boundary = l2ChunksWhere(
      layout,
      lo,
      hi,
      (x, y, z) =>
        x === lo[0] ||
        y === lo[1] ||
        z === lo[2] ||
        x === Math.min(hi[0], g[0]) - 1 ||
        y === Math.min(hi[1], g[1]) - 1 ||
        z === Math.min(hi[2], g[2]) - 1,
    );
    const boundaryNodes = await l2NodesIn(layout, store, boundary);
    const lists = await store.crossEdges(boundaryNodes);
    const withEdges: bigint[] = [];
    const minLayer: number[] = [];
    boundaryNodes.forEach((id, i) => {
      let best = Number.POSITIVE_INFINITY;
      for (const [k, pairs] of lists[i] ?? [])
        if (k >= layer && pairs.length > 0 && k < best) best = k;
      if (best !== Number.POSITIVE_INFINITY) {
        withEdges.push(id);
        minLayer.push(best);
      }
    });
    const ancestors = await liftTo(store, withEdges, layer - 1, lb);
    ancestors.forEach((a, i) => {
      const prev = nodeLayer.get(a);
      if (prev === undefined || minLayer[i] < prev) nodeLayer.set(a, minLayer[i]);
    });
  }

  const counters = new Map<number, number>();
  const rows: NodeRow[] = [];
  for (const members of ccs) {
    const target = members.length > 1 || layer >= top ? layer : (nodeLayer.get(members[0]) ?? top);
    const counter = counters.get(target) ?? 0;
    counters.set(target, counter + 1);
    const id = allocateId(layout, layer, c, target, counter);
    for (const m of members) rows.push({ id: m, parent: id });
    rows.push({ id, children: BigUint64Array.from(members) });
  }
  return { rows, children: children.length, created: ccs.length, edges: edges.length };
}

/** Every chunk coordinate of a layer, x fastest. */
export function chunksOfLayer(layout: GraphLayout, layer: number): Vec3[] {
  const g = gridAt(layout, layer);
  const out: Vec3[] = [];
  for (let z = 0; z < g[2]; z++)
    for (let y = 0; y < g[1]; y++) for (let x = 0; x < g[0]; x++) out.push([x, y, z]);
  return out;
}
