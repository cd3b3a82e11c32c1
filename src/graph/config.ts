/**
 * The ChunkedGraph ingest config, in PyChunkedGraph's YAML shape (data_source, graph_config,
 * backend_client, ingest_config) so existing dataset files work unchanged. Validated with zod;
 * every error names the file and the field path.
 */
import { readFile } from "node:fs/promises";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { VoxportError } from "../errors.js";
import type { Vec3 } from "../ops/array.js";
import { formatPath } from "../precomputed/info.js";

const positiveInt = z.number().int().positive();
const vec3 = z.tuple([positiveInt, positiveInt, positiveInt]);

const dataSource = z.strictObject({
  /** Folder/URL of per-chunk edge files `edges_x_y_z.proto.zst`. */
  EDGES: z.string().min(1),
  /** Folder/URL of per-chunk component files `components_x_y_z.proto`. */
  COMPONENTS: z.string().min(1),
  /** Precomputed supervoxel segmentation (graphene-encoded labels). */
  WATERSHED: z.string().min(1),
  /** Record layout of raw agglomeration edges (2, 3 or 4); only read with raw inputs. */
  DATA_VERSION: z.union([z.literal(2), z.literal(3), z.literal(4)]).optional(),
  /** Scale of the watershed the graph uses (default 0). */
  CV_MIP: z.number().int().min(0).default(0),
});

const graphConfig = z.strictObject({
  CHUNK_SIZE: vec3,
  // PyChunkedGraph's grid and touching-chunk maths assume 2; anything else would build a
  // graph its readers mis-decode, so refuse it rather than pretend.
  FANOUT: z.literal(2).default(2),
  LAYER_ID_BITS: z.number().int().min(1).max(16).default(8),
  SPATIAL_BITS: z.number().int().min(1).max(18).default(10),
  ID_PREFIX: z.string().default(""),
});

const backendClient = z.strictObject({
  /** `embedded` (a folder on disk, the default) or `bigtable`. */
  TYPE: z.enum(["embedded", "bigtable"]).default("embedded"),
  CONFIG: z
    .strictObject({
      /** embedded: the folder (or file:// URL) that holds the graph tables. */
      PATH: z.string().optional(),
      PROJECT: z.string().optional(),
      INSTANCE: z.string().optional(),
      ADMIN: z.boolean().optional(),
      READ_ONLY: z.boolean().optional(),
      MAX_ROW_KEY_COUNT: positiveInt.optional(),
    })
    .default({}),
});

const ingestConfig = z.strictObject({
  AGGLOMERATION: z.string().optional(),
});

export const graphConfigSchema = z.strictObject({
  data_source: dataSource,
  graph_config: graphConfig,
  backend_client: backendClient.default({ TYPE: "embedded", CONFIG: {} }),
  ingest_config: ingestConfig.default({}),
});

export type GraphConfig = z.infer<typeof graphConfigSchema>;

export function parseGraphConfig(value: unknown, where: string): GraphConfig {
  const result = graphConfigSchema.safeParse(value);
  if (!result.success) {
    const shown = result.error.issues.slice(0, 5).map((i) => `${formatPath(i.path)}: ${i.message}`);
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `invalid graph config ${where}: ${shown.join("; ")}`,
    );
  }
  const cfg = result.data;
  if (cfg.backend_client.TYPE === "bigtable") {
    for (const key of ["PROJECT", "INSTANCE"] as const) {
      if (!cfg.backend_client.CONFIG[key]) {
        throw new VoxportError(
          "INVALID_ARGUMENT",
          `invalid graph config ${where}: backend_client.CONFIG.${key}: required for TYPE bigtable`,
        );
      }
    }
  }
  return cfg;
}

export async function readGraphConfig(path: string): Promise<GraphConfig> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    throw new VoxportError("NOT_FOUND", `graph config ${path}: ${(e as Error).message}`);
  }
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch (e) {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `graph config ${path}: not valid YAML: ${(e as Error).message}`,
    );
  }
  return parseGraphConfig(value, path);
}

export function chunkSizeOf(cfg: GraphConfig): Vec3 {
  return cfg.graph_config.CHUNK_SIZE as Vec3;
}
