/**
 * A consistent synthetic ChunkedGraph dataset of any size, for tests and benchmarks: the
 * volume is tiled by cubic supervoxels (graphene-encoded ids, one chunk each), face-adjacent
 * cubes share an edge, a seeded random fraction of edges is merged by the "agglomeration",
 * and a fraction of the edges crossing chunk faces are cut-supervoxel (cross_chunk) edges,
 * which always merge. The ground truth is the connected components of the merged edges.
 */
import type { Vec3 } from "../ops/array.js";
import { connectedComponents } from "./components.js";
import { type GraphLayout, makeLayout, nodeId } from "./ids.js";
import type { ChunkEdges, EdgeList } from "./layer2.js";

export interface SyntheticOptions {
  size: Vec3;
  chunkSize: Vec3;
  /** Edge of a supervoxel cube; must divide chunkSize and size. */
  svSize: number;
  mergeProbability: number;
  /** Fraction of chunk-crossing edges that are cut-supervoxel edges. */
  crossProbability?: number;
  seed?: number;
  spatialBits?: number;
}

export interface SyntheticGraph {
  layout: GraphLayout;
  chunkSize: Vec3;
  size: Vec3;
  svSize: number;
  /** Key `x_y_z` of the L2 chunk. */
  edges: Map<string, ChunkEdges>;
  components: Map<string, Map<bigint, number>>;
  /** Supervoxel id of cube (i, j, k) of the whole volume. */
  svAt(i: number, j: number, k: number): bigint;
  supervoxels: bigint[];
  /** The agglomeration: the supervoxel pairs it merged (tests derive their own truth from it). */
  merged: [bigint, bigint][];
  /** The agglomerated objects, each a sorted list of supervoxels (used to write the component files). */
  objects: bigint[][];
  edgeCount: number;
}

/** mulberry32: small, fast, seeded. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function syntheticGraph(opts: SyntheticOptions): SyntheticGraph {
  const { size, chunkSize, svSize } = opts;
  for (let a = 0; a < 3; a++) {
    if (chunkSize[a] % svSize !== 0 || size[a] % svSize !== 0) {
      throw new Error(`svSize ${svSize} must divide chunk size and volume size`);
    }
  }
  const layout = makeLayout({ voxelSize: size, chunkSize, spatialBits: opts.spatialBits ?? 10 });
  const random = rng(opts.seed ?? 1);
  const cubes = size.map((v) => v / svSize) as Vec3;
  const perChunk = chunkSize.map((v) => v / svSize) as Vec3;
  const svAt = (i: number, j: number, k: number): bigint => {
    const c: Vec3 = [
      Math.floor(i / perChunk[0]),
      Math.floor(j / perChunk[1]),
      Math.floor(k / perChunk[2]),
    ];
    const li = i % perChunk[0];
    const lj = j % perChunk[1];
    const lk = k % perChunk[2];
    return nodeId(layout, 1, c, BigInt(1 + li + perChunk[0] * (lj + perChunk[1] * lk)));
  };
  const chunkKey = (i: number, j: number, k: number) =>
    `${Math.floor(i / perChunk[0])}_${Math.floor(j / perChunk[1])}_${Math.floor(k / perChunk[2])}`;

  interface Lists {
    inA: bigint[];
    inB: bigint[];
    betA: bigint[];
    betB: bigint[];
    crossA: bigint[];
    crossB: bigint[];
  }
  const lists = new Map<string, Lists>();
  const listOf = (key: string): Lists => {
    let l = lists.get(key);
    if (!l) {
      l = { inA: [], inB: [], betA: [], betB: [], crossA: [], crossB: [] };
      lists.set(key, l);
    }
    return l;
  };
  const supervoxels: bigint[] = [];
  const merged: [bigint, bigint][] = [];
  const outsideNeighbours = new Map<string, Set<bigint>>();
  let edgeCount = 0;
  for (let k = 0; k < cubes[2]; k++) {
    for (let j = 0; j < cubes[1]; j++) {
      for (let i = 0; i < cubes[0]; i++) {
        const a = svAt(i, j, k);
        supervoxels.push(a);
        listOf(chunkKey(i, j, k));
        for (const [di, dj, dk] of [
          [1, 0, 0],
          [0, 1, 0],
          [0, 0, 1],
        ]) {
          const [ni, nj, nk] = [i + di, j + dj, k + dk];
          if (ni >= cubes[0] || nj >= cubes[1] || nk >= cubes[2]) continue;
          const b = svAt(ni, nj, nk);
          edgeCount++;
          const ka = chunkKey(i, j, k);
          const kb = chunkKey(ni, nj, nk);
          if (ka === kb) {
            const l = listOf(ka);
            l.inA.push(a);
            l.inB.push(b);
            if (random() < opts.mergeProbability) merged.push([a, b]);
            continue;
          }
          const cross = random() < (opts.crossProbability ?? 0);
          const merge = cross || random() < opts.mergeProbability;
          if (merge) merged.push([a, b]);
          // Each boundary edge appears in both chunks' files, written from either side.
          const la = listOf(ka);
          const lb = listOf(kb);
          if (cross) {
            la.crossA.push(a);
            la.crossB.push(b);
            lb.crossA.push(b);
            lb.crossB.push(a);
          } else {
            la.betA.push(a);
            la.betB.push(b);
            lb.betA.push(a);
            lb.betB.push(b);
          }
          for (const [key, other] of [
            [ka, b],
            [kb, a],
          ] as const) {
            let set = outsideNeighbours.get(key);
            if (!set) {
              set = new Set();
              outsideNeighbours.set(key, set);
            }
            set.add(other);
          }
        }
      }
    }
  }
  const objects = connectedComponents(supervoxels, merged);
  const objectOf = new Map<bigint, number>();
  objects.forEach((members, i) => {
    for (const sv of members) objectOf.set(sv, i);
  });

  const edges = new Map<string, ChunkEdges>();
  const components = new Map<string, Map<bigint, number>>();
  const toList = (a: bigint[], b: bigint[]): EdgeList => ({
    ids1: BigUint64Array.from(a),
    ids2: BigUint64Array.from(b),
  });
  for (const [key, l] of lists) {
    edges.set(key, {
      inChunk: toList(l.inA, l.inB),
      betweenChunk: toList(l.betA, l.betB),
      crossChunk: toList(l.crossA, l.crossB),
    });
  }
  // Component files: this chunk's supervoxels plus the outside ones they touch, grouped by
  // object and numbered in order of first appearance.
  const chunkSvs = new Map<string, bigint[]>();
  for (let k = 0; k < cubes[2]; k++) {
    for (let j = 0; j < cubes[1]; j++) {
      for (let i = 0; i < cubes[0]; i++) {
        const key = chunkKey(i, j, k);
        let list = chunkSvs.get(key);
        if (!list) {
          list = [];
          chunkSvs.set(key, list);
        }
        list.push(svAt(i, j, k));
      }
    }
  }
  for (const [key, svs] of chunkSvs) {
    const map = new Map<bigint, number>();
    const index = new Map<number, number>();
    for (const sv of [...svs, ...(outsideNeighbours.get(key) ?? [])]) {
      const obj = objectOf.get(sv) as number;
      let idx = index.get(obj);
      if (idx === undefined) {
        idx = index.size;
        index.set(obj, idx);
      }
      map.set(sv, idx);
    }
    components.set(key, map);
  }
  return {
    layout,
    chunkSize,
    size,
    svSize,
    edges,
    components,
    svAt,
    supervoxels,
    merged,
    objects,
    edgeCount,
  };
}
