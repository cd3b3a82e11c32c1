/**
 * A graph ingest as plain JSON, kept in the graph store's meta (`job`): workers on any machine
 * open the store from the URL in their task message and find everything else there.
 *
 * Graph store URLs: `level:///abs/path` (embedded LevelDB; one process at a time, its workers
 * run as concurrent tasks in that process) and `bigtable://project/instance/table` (many
 * machines).
 */
import { VoxportError } from "../errors.js";
import type { Vec3 } from "../ops/array.js";
import type { GraphConfig } from "./config.js";
import { ancestorChunk, childChunks, type GraphLayout, makeLayout } from "./ids.js";
import { checkIdSpace } from "./parents.js";
import type { GraphStore } from "./store.js";

export interface GraphJob {
  version: 1;
  name: string;
  config: GraphConfig;
  layout: GraphLayout;
  /** Watershed scale-0 (CV_MIP) bounds and resolution. */
  watershed: { url: string; size: Vec3; offset: Vec3; resolution: Vec3 };
  /** --test: only the L2 children of this L3 chunk and its ancestors are built. */
  testChunk?: Vec3;
}

export const JOB_META = "job";

export function layoutFor(config: GraphConfig, size: Vec3): GraphLayout {
  const g = config.graph_config;
  const layout = makeLayout({
    voxelSize: size,
    chunkSize: g.CHUNK_SIZE as Vec3,
    fanout: g.FANOUT,
    layerIdBits: g.LAYER_ID_BITS,
    spatialBits: g.SPATIAL_BITS,
  });
  checkIdSpace(layout);
  return layout;
}

export async function readJob(store: GraphStore, where: string): Promise<GraphJob> {
  const text = await store.getMeta(JOB_META);
  if (text === undefined) {
    throw new VoxportError(
      "NOT_FOUND",
      `${where} holds no graph job: run voxport graph ingest first`,
    );
  }
  const job = JSON.parse(text) as GraphJob;
  if (job.version !== 1)
    throw new VoxportError("UNSUPPORTED", `${where}: graph job version ${job.version}`);
  return job;
}

/** The (layer, chunk) jobs of a build, bottom-up; --test keeps one column. */
export function plannedChunks(job: GraphJob): { layer: number; chunk: Vec3 }[] {
  const { layout } = job;
  const out: { layer: number; chunk: Vec3 }[] = [];
  if (job.testChunk) {
    for (const c of childChunks(layout, 3, job.testChunk)) out.push({ layer: 2, chunk: c });
    for (let layer = 3; layer <= layout.layerCount; layer++) {
      out.push({ layer, chunk: ancestorChunk(layout, job.testChunk, 3, layer) });
    }
    return out;
  }
  for (let layer = 2; layer <= layout.layerCount; layer++) {
    const g = layer >= layout.layerCount ? [1, 1, 1] : gridOf(layout, layer);
    for (let z = 0; z < g[2]; z++) {
      for (let y = 0; y < g[1]; y++)
        for (let x = 0; x < g[0]; x++) out.push({ layer, chunk: [x, y, z] });
    }
  }
  return out;
}

function gridOf(layout: GraphLayout, layer: number): Vec3 {
  const f = layout.fanout ** (layer - 2);
  return layout.l2Grid.map((n) => Math.ceil(n / f)) as Vec3;
}

/** How many planned children the parent of (layer, chunk) waits for. */
export function expectedChildren(job: GraphJob, parentLayer: number, parent: Vec3): number {
  if (job.testChunk && parentLayer > 3) return 1;
  return childChunks(job.layout, parentLayer, parent).length;
}

/** The L3 chunk nearest the centre of the grid (PyChunkedGraph's --test column). */
export function centreL3(layout: GraphLayout): Vec3 {
  return gridOf(layout, 3).map((n) => Math.floor(n / 2)) as Vec3;
}
