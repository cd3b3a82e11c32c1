/** Read-side graph operations the HTTP API serves (chunkedgraph.md §7.1). */
import type { GraphLayout } from "./ids.js";
import { ancestorChunk, coordsOf, layerOf } from "./ids.js";
import type { GraphStore } from "./store.js";

/** Follows parents to the top; a node without a parent is its own root. */
export async function rootsOf(store: GraphStore, ids: readonly bigint[]): Promise<bigint[]> {
  const out = [...ids];
  let open = out.map((_, i) => i);
  while (open.length > 0) {
    const parents = await store.parents(open.map((i) => out[i]));
    const next: number[] = [];
    open.forEach((i, k) => {
      const p = parents[k];
      if (p === undefined) return;
      out[i] = p;
      next.push(i);
    });
    open = next;
  }
  return out;
}

/**
 * Supervoxels under `id`; with `bounds` ([lo, hi) in L2-chunk units), subtrees whose chunk lies
 * outside the box are pruned on the way down, as Neuroglancer's per-chunk leaf requests need.
 */
export async function leavesOf(
  layout: GraphLayout,
  store: GraphStore,
  id: bigint,
  bounds?: { lo: [number, number, number]; hi: [number, number, number] },
): Promise<bigint[]> {
  const leaves: bigint[] = [];
  let frontier = [id];
  while (frontier.length > 0) {
    const kids = await store.children(frontier);
    const next: bigint[] = [];
    frontier.forEach((node, i) => {
      const list = kids[i];
      if (!list) {
        if (layerOf(node, layout.layerIdBits) === 1) leaves.push(node);
        return;
      }
      for (const child of list) {
        const layer = layerOf(child, layout.layerIdBits);
        if (layer === 1) {
          leaves.push(child);
          continue;
        }
        if (bounds && !chunkInBounds(layout, child, layer, bounds)) continue;
        next.push(child);
      }
    });
    frontier = next;
  }
  return leaves.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function chunkInBounds(
  layout: GraphLayout,
  id: bigint,
  layer: number,
  b: { lo: [number, number, number]; hi: [number, number, number] },
): boolean {
  if (layer >= layout.layerCount) return true;
  const c = coordsOf(layout, id);
  const f = layout.fanout ** (layer - 2);
  for (let a = 0; a < 3; a++) {
    // The node's chunk spans [c·f, (c+1)·f) in L2 units.
    if (c[a] * f >= b.hi[a] || (c[a] + 1) * f <= b.lo[a]) return false;
  }
  return true;
}

/** True when `child`'s chunk lies inside `parent`'s chunk (a structural invariant). */
export function childInParentChunk(layout: GraphLayout, parent: bigint, child: bigint): boolean {
  const pl = layerOf(parent, layout.layerIdBits);
  const cl = layerOf(child, layout.layerIdBits);
  if (cl >= pl) return false;
  const want = coordsOf(layout, parent);
  const got = ancestorChunk(layout, coordsOf(layout, child), Math.max(cl, 2), pl);
  return want.every((v, a) => v === got[a]);
}
