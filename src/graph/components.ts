/**
 * Connected components over bigint node ids (union-find with path halving and union by size).
 * Components come back deterministic: members ascending, components ordered by smallest
 * member, so ids allocated from this order are the same on every run.
 */
export function connectedComponents(
  nodes: Iterable<bigint>,
  edges: Iterable<readonly [bigint, bigint]>,
): bigint[][] {
  const index = new Map<bigint, number>();
  const ids: bigint[] = [];
  for (const n of nodes) {
    if (!index.has(n)) {
      index.set(n, ids.length);
      ids.push(n);
    }
  }
  const parent = new Int32Array(ids.length);
  const size = new Int32Array(ids.length).fill(1);
  for (let i = 0; i < parent.length; i++) parent[i] = i;
  const find = (i: number): number => {
    while (parent[i] !== i) {
      parent[i] = parent[parent[i]];
      i = parent[i];
    }
    return i;
  };
  for (const [a, b] of edges) {
    const ia = index.get(a);
    const ib = index.get(b);
    // Edges to nodes outside the set are not this graph's business.
    if (ia === undefined || ib === undefined) continue;
    let ra = find(ia);
    let rb = find(ib);
    if (ra === rb) continue;
    if (size[ra] < size[rb]) [ra, rb] = [rb, ra];
    parent[rb] = ra;
    size[ra] += size[rb];
  }
  const groups = new Map<number, bigint[]>();
  for (let i = 0; i < ids.length; i++) {
    const r = find(i);
    let g = groups.get(r);
    if (!g) {
      g = [];
      groups.set(r, g);
    }
    g.push(ids[i]);
  }
  const out = [...groups.values()];
  for (const g of out) g.sort(compareBig);
  out.sort((a, b) => compareBig(a[0], b[0]));
  return out;
}

export function compareBig(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
