/**
 * `voxport graph ingest`: validate the config against the watershed, write the job into the
 * graph store, and enqueue the layer-2 chunks. Parent chunks are enqueued by the queue's
 * tracker as their children finish, so nothing polls and a parent is never built twice at once.
 */
import { VoxportError } from "../errors.js";
import type { Vec3 } from "../ops/array.js";
import { PrecomputedVolume } from "../precomputed/volume.js";
import type { Queue } from "../queue/queue.js";
import { openStore } from "../storage/registry.js";
import type { GraphConfig } from "./config.js";
import { centreL3, type GraphJob, JOB_META, layoutFor, plannedChunks, readJob } from "./job.js";
import { openGraphStore, storeUrlFor } from "./stores/open.js";
import { graphItem } from "./tasks.js";

export interface PreparedGraph {
  job: GraphJob;
  storeUrl: string;
  /** Planned chunk jobs per layer (index = layer). */
  totals: number[];
}

const NAME = /^[A-Za-z0-9_.-]{1,100}$/;

export async function prepareGraphIngest(
  name: string,
  config: GraphConfig,
  opts: { test?: boolean } = {},
): Promise<PreparedGraph> {
  if (!NAME.test(name)) {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `graph name ${JSON.stringify(name)}: use letters, digits, _ . - (at most 100)`,
    );
  }
  const url = config.data_source.WATERSHED;
  const ws = await PrecomputedVolume.open(openStore(url));
  const mip = config.data_source.CV_MIP;
  const scale = ws.info.scales[mip];
  if (!scale) {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `data_source.CV_MIP: ${mip}, but the watershed ${url} has ${ws.info.scales.length} scale(s)`,
    );
  }
  if (ws.info.type !== "segmentation" || !["uint32", "uint64"].includes(ws.info.data_type)) {
    throw new VoxportError(
      "INVALID_SOURCE",
      `data_source.WATERSHED: ${url} is ${ws.info.type} ${ws.info.data_type}; a supervoxel segmentation (uint64) is needed`,
    );
  }
  const size = scale.size as Vec3;
  const layout = layoutFor(config, size);
  if (opts.test && layout.layerCount < 3) {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      "--test builds one L3 column, and this graph has a single chunk (2 layers)",
    );
  }
  const job: GraphJob = {
    version: 1,
    name,
    config,
    layout,
    watershed: {
      url,
      size,
      offset: (scale.voxel_offset ?? [0, 0, 0]) as Vec3,
      resolution: scale.resolution as Vec3,
    },
  };
  if (opts.test) job.testChunk = centreL3(layout);
  const totals = new Array(layout.layerCount + 1).fill(0);
  for (const p of plannedChunks(job)) totals[p.layer]++;
  return { job, storeUrl: storeUrlFor(config, name), totals };
}

function sameBuild(a: GraphJob, b: GraphJob): boolean {
  const strip = (j: GraphJob) => JSON.stringify({ ...j, name: undefined });
  return strip(a) === strip(b);
}

/**
 * Writes the job into the store (or checks that the one there is the same build: a rerun
 * resumes) and enqueues the layer-2 chunks. Returns how many tasks were new on the queue.
 */
export async function enqueueGraph(prepared: PreparedGraph, queue: Queue): Promise<number> {
  const { store, close } = await openGraphStore(prepared.storeUrl, { create: true });
  try {
    const existing = await store.getMeta(JOB_META);
    if (existing !== undefined) {
      const old = await readJob(store, prepared.storeUrl);
      if (!sameBuild(old, prepared.job)) {
        throw new VoxportError(
          "CONFLICT",
          `${prepared.storeUrl} already holds graph ${old.name} built from another config or watershed; choose another name (or ID_PREFIX)`,
        );
      }
    } else {
      await store.setMeta(JOB_META, JSON.stringify(prepared.job));
    }
  } finally {
    await close();
  }
  const items = plannedChunks(prepared.job)
    .filter((p) => p.layer === 2)
    .map((p) => graphItem(prepared.storeUrl, 2, p.chunk));
  let added = 0;
  for (let i = 0; i < items.length; i += 1000)
    added += await queue.enqueue(items.slice(i, i + 1000));
  await queue.setMeta(
    `graph:${prepared.job.name}`,
    JSON.stringify({
      store: prepared.storeUrl,
      totals: prepared.totals,
      test: Boolean(prepared.job.testChunk),
    }),
  );
  return added;
}
