/**
 * Layer-2 (atomic) chunk build (chunkedgraph.md §3): supervoxels of one chunk joined by their
 * active in-chunk edges become L2 nodes; the active edges leaving the chunk are stored on the
 * L2 node, grouped by the layer at which they are resolved. Pure: edges and components in,
 * rows out.
 */
import { VoxportError } from "../errors.js";
import type { Vec3 } from "../ops/array.js";
import { connectedComponents } from "./components.js";
import { chunkId, chunkOf, coordsOf, crossEdgeLayer, type GraphLayout, nodeId } from "./ids.js";
import type { NodeRow } from "./store.js";

/** Parallel arrays, one entry per edge between supervoxels. */
export interface EdgeList {
  ids1: BigUint64Array;
  ids2: BigUint64Array;
  affinities?: Float32Array;
  areas?: BigUint64Array;
}

export interface ChunkEdges {
  inChunk: EdgeList;
  /** Real contacts with a supervoxel of a face-adjacent chunk. */
  betweenChunk: EdgeList;
  /** Pieces of one supervoxel cut by a chunk boundary: always active. */
  crossChunk: EdgeList;
}

export function emptyEdges(): EdgeList {
  return { ids1: new BigUint64Array(0), ids2: new BigUint64Array(0) };
}

export interface Layer2Result {
  rows: NodeRow[];
  l2Nodes: number;
  supervoxels: number;
  activeEdges: number;
}

/**
 * `components` maps supervoxel → component index, as in the chunk's component file; an edge
 * of in/between type is active iff both ends map to the same component.
 */
export function buildLayer2(
  layout: GraphLayout,
  c: Vec3,
  edges: ChunkEdges,
  components: ReadonlyMap<bigint, number>,
  where = `chunk ${c.join("_")}`,
): Layer2Result {
  const l1 = chunkId(layout, 1, c);
  const inside = (sv: bigint) => chunkOf(layout, sv) === l1;
  const nodes = new Set<bigint>();
  for (const sv of components.keys()) if (inside(sv)) nodes.add(sv);

  const internal: [bigint, bigint][] = [];
  const { ids1, ids2 } = edges.inChunk;
  for (let i = 0; i < ids1.length; i++) {
    const a = ids1[i];
    const b = ids2[i];
    if (!inside(a) || !inside(b)) {
      throw new VoxportError(
        "INVALID_SOURCE",
        `${where}: in_chunk edge ${a}–${b} has an end outside the chunk`,
      );
    }
    nodes.add(a);
    nodes.add(b);
    const ca = components.get(a);
    if (ca !== undefined && ca === components.get(b)) internal.push([a, b]);
  }

  // Outgoing edges, oriented inside → outside.
  const outgoing: [bigint, bigint][] = [];
  const orient = (list: EdgeList, kind: string, always: boolean) => {
    for (let i = 0; i < list.ids1.length; i++) {
      let a = list.ids1[i];
      let b = list.ids2[i];
      if (!inside(a)) [a, b] = [b, a];
      if (!inside(a) || inside(b)) {
        throw new VoxportError(
          "INVALID_SOURCE",
          `${where}: ${kind} edge ${list.ids1[i]}–${list.ids2[i]} must join this chunk to another`,
        );
      }
      nodes.add(a);
      const ca = components.get(a);
      if (always || (ca !== undefined && ca === components.get(b))) outgoing.push([a, b]);
    }
  };
  orient(edges.betweenChunk, "between_chunk", false);
  orient(edges.crossChunk, "cross_chunk", true);

  const ccs = connectedComponents(nodes, internal);
  const owner = new Map<bigint, bigint>();
  const rows: NodeRow[] = [];
  ccs.forEach((members, i) => {
    const id = nodeId(layout, 2, c, BigInt(i + 1));
    for (const sv of members) {
      owner.set(sv, id);
      rows.push({ id: sv, parent: id });
    }
    rows.push({ id, children: BigUint64Array.from(members) });
  });

  const byNode = new Map<bigint, Map<number, bigint[]>>();
  for (const [a, b] of outgoing) {
    const id = owner.get(a) as bigint;
    const layer = crossEdgeLayer(layout, c, coordsOf(layout, b));
    let groups = byNode.get(id);
    if (!groups) {
      groups = new Map();
      byNode.set(id, groups);
    }
    let list = groups.get(layer);
    if (!list) {
      list = [];
      groups.set(layer, list);
    }
    list.push(a, b);
  }
  for (const row of rows) {
    const groups = row.children ? byNode.get(row.id) : undefined;
    if (!groups) continue;
    row.crossEdges = new Map([...groups].map(([k, v]) => [k, BigUint64Array.from(v)]));
  }
  return {
    rows,
    l2Nodes: ccs.length,
    supervoxels: nodes.size,
    activeEdges: internal.length + outgoing.length,
  };
}
