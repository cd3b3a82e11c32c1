/**
 * `voxport view` as a library: open and check every dataset (before any browser is involved),
 * sample a contrast window for non-uint8 images, start the viewer server for the local ones, and
 * build the Neuroglancer state and URL.
 *
 * Local datasets (paths, file://, mem://, and any other scheme openStore knows that is not
 * http(s)/gs/s3) are served by the local server at /data/<n>. Remote ones (http(s)://, gs://,
 * s3://) are read by the browser directly (see state.ts `remoteSource`); their `info` is checked
 * through its anonymous https URL, and when that cannot be reached (offline) the check is
 * reported as a warning and skipped.
 */
import { stat } from "node:fs/promises";
import { isVoxportError, VoxportError } from "../errors.js";
import type { Vec3 } from "../ops/array.js";
import type { PrecomputedInfo } from "../precomputed/types.js";
import { PrecomputedVolume } from "../precomputed/volume.js";
import { fileLocationToPath } from "../storage/drivers/file.js";
import { HttpKvStore } from "../storage/drivers/http.js";
import type { KvStore } from "../storage/kvstore.js";
import { openStore } from "../storage/registry.js";
import { startViewerServer, type ViewerServer, type ViewerServerOptions } from "./server.js";
import {
  buildViewerState,
  isRemote,
  type LayerInput,
  layerName,
  type NeuroglancerState,
  needsWindow,
  percentileWindow,
  remoteHttpUrl,
  remoteSource,
  stateUrl,
} from "./state.js";

export interface OpenedDataset {
  location: string;
  remote: boolean;
  /** Open store of a local dataset (remote ones are not served by us). */
  store?: KvStore;
  /** Undefined only for a remote dataset whose info could not be fetched (see `warnings`). */
  info?: PrecomputedInfo;
  window?: [number, number];
}

export interface OpenOptions {
  /** Sample voxels for a contrast window (default true). */
  sampleContrast?: boolean;
  /** Warnings (unreachable remote info, unreadable sample) go here; default: dropped. */
  warn?: (message: string) => void;
  signal?: AbortSignal;
}

/** Largest sample read for the contrast window, in voxels. */
const SAMPLE_VOXELS = 1 << 21;

/**
 * Opens and validates every dataset. Throws a VoxportError naming the dataset when one has no
 * `info` (NOT_FOUND) or a broken one (INVALID_INFO).
 */
export async function openDatasets(
  locations: string[],
  options: OpenOptions = {},
): Promise<OpenedDataset[]> {
  if (locations.length === 0) {
    throw new VoxportError("INVALID_ARGUMENT", "voxport view needs at least one dataset");
  }
  const out: OpenedDataset[] = [];
  for (const location of locations) {
    out.push(
      isRemote(location) ? await openRemote(location, options) : await openLocal(location, options),
    );
  }
  return out;
}

async function openLocal(location: string, options: OpenOptions): Promise<OpenedDataset> {
  const store = openStore(location);
  if (/^file:\/\//i.test(location) || !/^[a-z][a-z0-9+.-]*:\/\//i.test(location)) {
    const dir = fileLocationToPath(location);
    const st = await stat(dir).catch(() => undefined);
    if (st === undefined) {
      throw new VoxportError("NOT_FOUND", `${location}: no such folder (${dir})`);
    }
    if (!st.isDirectory()) {
      throw new VoxportError(
        "NOT_FOUND",
        `${location} is a file, not a precomputed dataset folder (the folder that holds \`info\`)`,
      );
    }
  }
  let vol: PrecomputedVolume;
  try {
    vol = await PrecomputedVolume.open(store, { signal: options.signal });
  } catch (e) {
    if (isVoxportError(e, "NOT_FOUND")) {
      throw new VoxportError(
        "NOT_FOUND",
        `${location} is not a precomputed dataset: ${e.message} ` +
          "(give the folder that holds `info`, e.g. the DESTINATION of `voxport ingest`)",
        { cause: e },
      );
    }
    throw e;
  }
  const window = options.sampleContrast === false ? undefined : await sampleWindow(vol, options);
  return { location, remote: false, store, info: vol.info, window };
}

async function openRemote(location: string, options: OpenOptions): Promise<OpenedDataset> {
  const url = remoteHttpUrl(location);
  const store = new HttpKvStore(url, { attempts: 2, timeoutMs: 15000, baseDelayMs: 200 });
  let vol: PrecomputedVolume;
  try {
    vol = await PrecomputedVolume.open(store, { signal: options.signal });
  } catch (e) {
    if (isVoxportError(e, "NOT_FOUND") || isVoxportError(e, "INVALID_INFO")) {
      throw new VoxportError(
        e.code,
        `${location} is not a usable precomputed dataset: ${e.message}` +
          (url === location ? "" : ` (read anonymously as ${url}, as Neuroglancer would)`),
        { cause: e },
      );
    }
    if (isVoxportError(e, "ABORTED")) throw e;
    options.warn?.(
      `could not check ${location} (${url}/info): ${e instanceof Error ? e.message : String(e)}; ` +
        "the viewer will try to load it anyway",
    );
    return { location, remote: true };
  }
  const window = options.sampleContrast === false ? undefined : await sampleWindow(vol, options);
  return { location, remote: true, info: vol.info, window };
}

/**
 * Contrast window of an image that is not uint8: percentiles 1/99 of the non-zero voxels of up to
 * 2×2×2 chunks (at most 2 Mi voxels) at the centre of the coarsest scale. Unreadable samples
 * (an encoding this build cannot decode, a failing store) give no window and a warning.
 */
async function sampleWindow(
  vol: PrecomputedVolume,
  options: OpenOptions,
): Promise<[number, number] | undefined> {
  const { info } = vol;
  if (!needsWindow(info)) return undefined;
  const index = info.scales.length - 1;
  const scale = info.scales[index];
  const chunk = scale.chunk_sizes[0];
  const offset = scale.voxel_offset ?? [0, 0, 0];
  const ext = [0, 1, 2].map((d) => Math.min(scale.size[d], 2 * chunk[d]));
  while (ext[0] * ext[1] * ext[2] > SAMPLE_VOXELS) {
    const d = ext.indexOf(Math.max(...ext));
    ext[d] = Math.max(1, Math.floor(ext[d] / 2));
  }
  const min = [0, 1, 2].map((d) => offset[d] + Math.floor((scale.size[d] - ext[d]) / 2)) as Vec3;
  const max = [0, 1, 2].map((d) => min[d] + ext[d]) as Vec3;
  try {
    const block = await vol.read(index, { min, max }, { signal: options.signal });
    // Channel 0 only: one window is shared by all channels.
    const n = ext[0] * ext[1] * ext[2];
    return percentileWindow(block.data.subarray(0, n) as ArrayLike<number | bigint>);
  } catch (e) {
    if (isVoxportError(e, "ABORTED")) throw e;
    options.warn?.(
      `could not sample ${vol.store.url} for a contrast window (${e instanceof Error ? e.message : String(e)}); using Neuroglancer's default range`,
    );
    return undefined;
  }
}

export interface ViewOptions extends OpenOptions {
  port?: number;
  layout?: string;
  bundleDir?: string;
  onRequest?: ViewerServerOptions["onRequest"];
}

export interface View {
  server: ViewerServer;
  datasets: OpenedDataset[];
  state: NeuroglancerState;
  /** The viewer URL with the state in its fragment. */
  url: string;
  close(): Promise<void>;
}

/** Opens the datasets, starts the server and returns the viewer URL. */
export async function startView(locations: string[], options: ViewOptions = {}): Promise<View> {
  const datasets = await openDatasets(locations, options);
  const localStores = datasets.flatMap((d) => (d.store ? [d.store] : []));
  const server = await startViewerServer({
    stores: localStores,
    port: options.port,
    bundleDir: options.bundleDir,
    onRequest: options.onRequest,
  });
  const state = viewerState(datasets, (i) => server.dataUrl(i), options.layout);
  return {
    server,
    datasets,
    state,
    url: stateUrl(server.baseUrl, state),
    close: async () => {
      await server.close();
      await Promise.all(localStores.map((s) => s.close?.()));
    },
  };
}

/**
 * The state for opened datasets; local dataset number i (in order) is read from `dataUrl(i)`.
 * A remote dataset whose info could not be read is kept as an image layer: Neuroglancer reports
 * its error itself.
 */
export function viewerState(
  datasets: OpenedDataset[],
  dataUrl: (localIndex: number) => string,
  layout?: string,
): NeuroglancerState {
  let local = 0;
  const layers: LayerInput[] = [];
  const unknown: { index: number; source: string; location: string }[] = [];
  datasets.forEach((d) => {
    const source = d.remote ? remoteSource(d.location) : `precomputed://${dataUrl(local++)}`;
    if (d.info === undefined) unknown.push({ index: layers.length, source, location: d.location });
    else layers.push({ location: d.location, source, info: d.info, window: d.window });
  });
  if (layers.length === 0) {
    // Nothing known about any dataset: an unpositioned state Neuroglancer fills in itself.
    return {
      layers: unknown.map((u) => ({
        type: "image" as const,
        source: u.source,
        name: layerName(u.location),
      })),
      layout: layout ?? "4panel",
    };
  }
  const state = buildViewerState(layers, { layout });
  for (const u of unknown) {
    state.layers.splice(u.index, 0, {
      type: "image",
      source: u.source,
      name: layerName(u.location),
    });
  }
  return state;
}
