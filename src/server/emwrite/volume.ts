import { VoxportError } from "../../errors.js";
import type { Block, Vec3 } from "../../ops/array.js";
import type { Box } from "../../ops/bbox.js";
import { serializeInfo } from "../../precomputed/info.js";
import type { PrecomputedInfo } from "../../precomputed/types.js";
import { PrecomputedVolume } from "../../precomputed/volume.js";
import type { VolumeSource } from "../../sources/source.js";
import { readBytes } from "../../storage/io.js";
import type { KvStore } from "../../storage/kvstore.js";
import { markerKey, runIngestTask, type TaskResult } from "../../tasks/ingest-task.js";
import type { IngestJob, SourceSpec } from "../../tasks/job.js";
import { blockBox, blockTask, type EmwriteGeometry, jpegInfo, rawInfo } from "./layout.js";
import { StagedSource } from "./staged.js";

/**
 * `/ngmeta` and `/ngshard` on voxport's writer. `/ngmeta` writes the `info` files (built by
 * layout.ts through precomputed/pyramid + sharding); `/ngshard` runs the block as one voxport
 * ingest task (tasks/ingest-task.ts `runIngestTask`: read → write every chunk/shard of scale 0
 * → downsample (ops/downsample.ts, mean rounded half up) → next scale …), with the staged tiles
 * as its source. Same code path as `voxport ingest`, hence the same bytes.
 */

export const JPEG_PATH = "neuroglancer/jpeg";
export const RAW_PATH = "neuroglancer/raw";

/** Writes `info` unless the same one is there; a different one is a CONFLICT (never clobbered). */
async function putInfo(store: KvStore, info: PrecomputedInfo): Promise<"written" | "unchanged"> {
  const existing = await readBytes(store, "info");
  const planned = serializeInfo(info);
  if (existing !== undefined) {
    if (new TextDecoder().decode(existing) === planned) return "unchanged";
    throw new VoxportError(
      "CONFLICT",
      `${store.url}/info holds a different volume (other bbox, z range, resolution or quality); ` +
        "use a new destination or delete the old one",
    );
  }
  await PrecomputedVolume.create(store, info).writeInfo();
  return "written";
}

export async function ngMeta(
  g: EmwriteGeometry,
  jpeg: KvStore,
  raw: KvStore | undefined,
): Promise<{ jpeg: string; raw?: string; scales: number }> {
  const info = jpegInfo(g);
  const out: { jpeg: string; raw?: string; scales: number } = {
    jpeg: await putInfo(jpeg, info),
    scales: info.scales.length,
  };
  if (raw) out.raw = await putInfo(raw, rawInfo(g));
  return out;
}

async function openChecked(store: KvStore, planned: PrecomputedInfo): Promise<PrecomputedVolume> {
  const existing = await readBytes(store, "info");
  if (existing === undefined) {
    throw new VoxportError("NOT_FOUND", `${store.url}/info does not exist: call /ngmeta first`);
  }
  if (new TextDecoder().decode(existing) !== serializeInfo(planned)) {
    throw new VoxportError(
      "CONFLICT",
      `${store.url}/info does not match this request (bbox, minz/maxz, resolution, jpeg-quality): ` +
        "send /ngshard the same volume fields as /ngmeta",
    );
  }
  return PrecomputedVolume.create(store, planned);
}

/** Remembers the last block read, so the raw copy reuses the voxels the pyramid was built from. */
class Keep implements VolumeSource {
  last?: { box: Box; block: Block };
  constructor(private readonly inner: VolumeSource) {}
  get description() {
    return this.inner.description;
  }
  get size() {
    return this.inner.size;
  }
  get dtype() {
    return this.inner.dtype;
  }
  get channels() {
    return this.inner.channels;
  }
  async read(box: Box, options?: { signal?: AbortSignal }): Promise<Block> {
    const block = await this.inner.read(box, options);
    this.last = { box, block };
    return block;
  }
}

export interface NgShardResult {
  block?: Box;
  task?: TaskResult;
  rawChunks?: number;
}

export async function ngShard(
  g: EmwriteGeometry,
  start: Vec3,
  stores: { jpeg: KvStore; raw?: KvStore; tmp: KvStore },
  signal?: AbortSignal,
): Promise<NgShardResult> {
  const info = jpegInfo(g);
  const volume = await openChecked(stores.jpeg, info);
  const rawVolume = stores.raw ? await openChecked(stores.raw, rawInfo(g)) : undefined;
  const block = blockBox(g, start);
  // emwrite's DAG sends every block of the z range; one past the volume is nothing to do.
  if (!block) return {};
  const source = new Keep(new StagedSource(stores.tmp, g.width, g.height, g.minz, g.maxz));
  const { stage, task } = blockTask(info, block);
  const job: IngestJob = {
    version: 1,
    // Names the input in provenance only: the context below already holds the opened source.
    source: { kind: "emwrite-staged", input: stores.tmp.url } as unknown as SourceSpec,
    destination: stores.jpeg.url,
    info,
    offset: [0, 0, 0],
    compress: "gzip",
    gzipLevel: 6,
    skipEmptyRatio: 0,
    downsample: "average",
    stages: [stage],
  };
  const result = await runIngestTask({ job, store: stores.jpeg, volume, source }, task, signal);
  // The done marker is for resumable CLI/queue runs; an emwrite dataset is published already.
  await stores.jpeg.delete(markerKey(task));
  const out: NgShardResult = { block, task: result };
  if (rawVolume && source.last) {
    const w = await rawVolume.writeChunks(0, source.last.box, source.last.block, {
      compress: "gzip",
      // emwrite skips all-zero 512³ cubes; a missing chunk reads as zeros.
      skipEmptyRatio: Number.MIN_VALUE,
      signal,
    });
    out.rawChunks = w.written;
  }
  return out;
}
