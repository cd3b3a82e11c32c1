/**
 * Writes a synthetic graph dataset as the files a real ingest reads: per-chunk edge and
 * component files, the watershed as a precomputed uint64 segmentation (compressed_segmentation,
 * one chunk per graph chunk, written chunk by chunk so memory stays at one chunk), and a
 * dataset.yml in PyChunkedGraph's shape pointing at them.
 */
import { stringify } from "yaml";
import type { Vec3 } from "../ops/array.js";
import { PrecomputedVolume } from "../precomputed/volume.js";
import { openStore } from "../storage/registry.js";
import { componentsKey, edgesKey, encodeComponentsFile, encodeEdgesFile } from "./files.js";
import { chunksOfLayer } from "./parents.js";
import type { SyntheticGraph } from "./synthetic.js";

export interface WrittenDataset {
  edges: string;
  components: string;
  watershed: string;
  /** The dataset.yml text (also written to `<root>/dataset.yml`). */
  config: string;
}

function join(root: string, part: string): string {
  return `${root.replace(/\/+$/, "")}/${part}`;
}

export async function writeSyntheticDataset(
  g: SyntheticGraph,
  root: string,
  opts: { resolution?: Vec3; backend?: object } = {},
): Promise<WrittenDataset> {
  const edgesUrl = join(root, "edges");
  const componentsUrl = join(root, "components");
  const watershedUrl = join(root, "watershed");
  const edges = openStore(edgesUrl);
  const components = openStore(componentsUrl);
  for (const c of chunksOfLayer(g.layout, 2)) {
    const key = c.join("_");
    const e = g.edges.get(key);
    if (e) await edges.put(edgesKey(c), await encodeEdgesFile(e));
    const m = g.components.get(key);
    if (m) await components.put(componentsKey(c), encodeComponentsFile(m));
  }

  const ws = PrecomputedVolume.create(openStore(watershedUrl), {
    "@type": "neuroglancer_multiscale_volume",
    type: "segmentation",
    data_type: "uint64",
    num_channels: 1,
    scales: [
      {
        key: "s0",
        size: g.size,
        voxel_offset: [0, 0, 0],
        resolution: opts.resolution ?? [8, 8, 40],
        chunk_sizes: [g.chunkSize],
        encoding: "compressed_segmentation",
        compressed_segmentation_block_size: [8, 8, 8],
      },
    ],
  });
  const s = g.svSize;
  for (const c of chunksOfLayer(g.layout, 2)) {
    const min = c.map((v, a) => v * g.chunkSize[a]) as Vec3;
    const max = min.map((v, a) => Math.min(v + g.chunkSize[a], g.size[a])) as Vec3;
    const shape = max.map((v, a) => v - min[a]) as Vec3;
    const data = new BigUint64Array(shape[0] * shape[1] * shape[2]);
    let i = 0;
    for (let z = min[2]; z < max[2]; z++) {
      for (let y = min[1]; y < max[1]; y++) {
        for (let x = min[0]; x < max[0]; x++) {
          data[i++] = g.svAt(Math.floor(x / s), Math.floor(y / s), Math.floor(z / s));
        }
      }
    }
    await ws.writeChunks(
      0,
      { min, max },
      { dtype: "uint64", shape: [...shape, 1], data },
      { compress: "gzip" },
    );
  }
  await ws.writeInfo();

  const config = stringify({
    data_source: { EDGES: edgesUrl, COMPONENTS: componentsUrl, WATERSHED: watershedUrl },
    graph_config: {
      CHUNK_SIZE: g.chunkSize,
      FANOUT: 2,
      SPATIAL_BITS: g.layout.bitsPerAxis[2],
      LAYER_ID_BITS: 8,
    },
    backend_client: opts.backend ?? { TYPE: "embedded" },
  });
  await openStore(root).put("dataset.yml", new TextEncoder().encode(config), {
    contentType: "application/yaml",
  });
  return { edges: edgesUrl, components: componentsUrl, watershed: watershedUrl, config };
}
