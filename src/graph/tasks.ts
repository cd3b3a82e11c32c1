/**
 * Graph chunk jobs as queue tasks. One message per (layer, chunk):
 *
 *   {"v":1,"kind":"graph","store":"bigtable://lab/pcg/fly_v1","layer":2,"chunk":[3,1,0]}
 *
 * Task id `g{layer}_{x}_{y}_{z}`, stage = layer − 2, so `voxport status` shows per-layer
 * completed/total. Completing a chunk counts toward its parent chunk; the queue enqueues the
 * parent when the last child finishes (the tracker), exactly once.
 */
import { z } from "zod";
import type { Vec3 } from "../ops/array.js";
import type { ParentLink, QueueItem } from "../queue/queue.js";
import type { KvStore } from "../storage/kvstore.js";
import { openStore } from "../storage/registry.js";
import { buildL2Chunk, type GraphInput } from "./build.js";
import { readChunkComponents, readChunkEdges } from "./files.js";
import { ancestorChunk } from "./ids.js";
import { expectedChildren, type GraphJob, readJob } from "./job.js";
import { buildParentChunk } from "./parents.js";
import type { GraphStore } from "./store.js";
import { openGraphStore } from "./stores/open.js";

const vec3 = z.tuple([z.number().int().min(0), z.number().int().min(0), z.number().int().min(0)]);

export const graphMessage = z.object({
  v: z.literal(1),
  kind: z.literal("graph"),
  store: z.string().min(1),
  layer: z.number().int().min(2).max(64),
  chunk: vec3,
});

export type GraphMessageV1 = z.infer<typeof graphMessage>;

export function graphTaskId(layer: number, c: Vec3): string {
  return `g${layer}_${c[0]}_${c[1]}_${c[2]}`;
}

export function graphItem(storeUrl: string, layer: number, c: Vec3): QueueItem {
  const message: GraphMessageV1 = { v: 1, kind: "graph", store: storeUrl, layer, chunk: c };
  return { id: graphTaskId(layer, c), stage: layer - 2, body: JSON.stringify(message) };
}

export function graphParentLinks(
  job: GraphJob,
  storeUrl: string,
  layer: number,
  c: Vec3,
): ParentLink[] {
  if (layer >= job.layout.layerCount) return [];
  const parent = ancestorChunk(job.layout, c, layer, layer + 1);
  return [
    {
      item: graphItem(storeUrl, layer + 1, parent),
      expected: expectedChildren(job, layer + 1, parent),
    },
  ];
}

export interface GraphTaskResult {
  parents: ParentLink[];
  /** Nodes this chunk created (L2 nodes, or parents at this and higher layers). */
  nodes: number;
  supervoxels?: number;
  edges?: number;
}

interface Context {
  store: GraphStore;
  job: GraphJob;
  input: GraphInput;
  close(): Promise<void>;
}

function inputFrom(edges: KvStore, components: KvStore): GraphInput {
  return {
    edges: (c) => readChunkEdges(edges, c),
    components: (c) => readChunkComponents(components, c),
  };
}

/** Runs graph messages; opens each store (and its job and inputs) once and keeps it. */
export class GraphRunner {
  private readonly contexts = new Map<string, Promise<Context>>();

  private context(url: string): Promise<Context> {
    let ctx = this.contexts.get(url);
    if (!ctx) {
      ctx = (async () => {
        const opened = await openGraphStore(url);
        try {
          const job = await readJob(opened.store, url);
          const ds = job.config.data_source;
          return {
            store: opened.store,
            job,
            input: inputFrom(openStore(ds.EDGES), openStore(ds.COMPONENTS)),
            close: opened.close,
          };
        } catch (e) {
          await opened.close();
          throw e;
        }
      })();
      this.contexts.set(url, ctx);
      ctx.catch(() => this.contexts.delete(url));
    }
    return ctx;
  }

  async run(msg: GraphMessageV1): Promise<GraphTaskResult> {
    const { store, job, input } = await this.context(msg.store);
    const c = msg.chunk as Vec3;
    const parents = graphParentLinks(job, msg.store, msg.layer, c);
    if (msg.layer === 2) {
      const r = await buildL2Chunk(job.layout, store, input, c);
      return { parents, nodes: r.nodes, supervoxels: r.supervoxels, edges: r.edges };
    }
    const r = await buildParentChunk(job.layout, store, msg.layer, c);
    await store.writeNodes(r.rows);
    return { parents, nodes: r.created, edges: r.edges };
  }

  async close(): Promise<void> {
    const all = [...this.contexts.values()];
    this.contexts.clear();
    for (const ctx of all) await (await ctx.catch(() => undefined))?.close();
  }
}
