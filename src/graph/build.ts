/**
 * Builds a whole graph in this process, layer by layer: every L2 chunk, then every chunk of
 * each parent layer. The queue-driven ingest runs the same two job kinds per chunk; this is
 * the reference order they must agree with.
 */
import type { Vec3 } from "../ops/array.js";
import { type GraphLayout, gridAt } from "./ids.js";
import { buildLayer2, type ChunkEdges } from "./layer2.js";
import { buildParentChunk, checkIdSpace, chunksOfLayer } from "./parents.js";
import type { GraphStore } from "./store.js";

/** Where the per-chunk inputs come from (files, a generator, …). */
export interface GraphInput {
  edges(c: Vec3): Promise<ChunkEdges>;
  components(c: Vec3): Promise<ReadonlyMap<bigint, number>>;
}

export interface BuildCounts {
  /** Per layer (index = layer): chunks built and nodes created. */
  chunks: number[];
  nodes: number[];
  supervoxels: number;
  edges: number;
}

export async function buildL2Chunk(
  layout: GraphLayout,
  store: GraphStore,
  input: GraphInput,
  c: Vec3,
): Promise<{ nodes: number; supervoxels: number; edges: number }> {
  const [edges, components] = await Promise.all([input.edges(c), input.components(c)]);
  const result = buildLayer2(layout, c, edges, components);
  await store.writeNodes(result.rows);
  return { nodes: result.l2Nodes, supervoxels: result.supervoxels, edges: result.activeEdges };
}

export async function buildInProcess(
  layout: GraphLayout,
  store: GraphStore,
  input: GraphInput,
): Promise<BuildCounts> {
  checkIdSpace(layout);
  const counts: BuildCounts = {
    chunks: new Array(layout.layerCount + 1).fill(0),
    nodes: new Array(layout.layerCount + 1).fill(0),
    supervoxels: 0,
    edges: 0,
  };
  for (const c of chunksOfLayer(layout, 2)) {
    const r = await buildL2Chunk(layout, store, input, c);
    counts.chunks[2]++;
    counts.nodes[2] += r.nodes;
    counts.supervoxels += r.supervoxels;
    counts.edges += r.edges;
  }
  for (let layer = 3; layer <= layout.layerCount; layer++) {
    const g = gridAt(layout, layer);
    if (g[0] * g[1] * g[2] === 0) continue;
    for (const c of chunksOfLayer(layout, layer)) {
      const r = await buildParentChunk(layout, store, layer, c);
      await store.writeNodes(r.rows);
      counts.chunks[layer]++;
      counts.nodes[layer] += r.created;
    }
  }
  return counts;
}
