/**
 * `voxport graph serve`: the read endpoints of PyChunkedGraph's segmentation API that
 * Neuroglancer's `graphene://` source and CAVEclient use (chunkedgraph.md §7.2–7.4):
 *
 *   GET  /segmentation/table/{t}/info                     graphene info
 *   GET  /segmentation/api/v1/table/{t}/node/{id}/root    {"root_id"}
 *   POST /segmentation/api/v1/table/{t}/roots             {"node_ids"} → {"root_ids"}
 *   POST /segmentation/api/v1/table/{t}/roots_binary      uint64 LE → uint64 LE
 *   GET  /segmentation/api/v1/table/{t}/node/{id}/children {"children_ids"}
 *   GET  /segmentation/api/v1/table/{t}/node/{id}/leaves  {"leaf_ids"} (bounds=x0-x1_y0-y1_z0-z1)
 *   POST /segmentation/api/v1/table/{t}/node/leaves_many  {"node_ids"} → {id: [leaves]}
 *
 * Ids are uint64: JSON carries them as exact decimal numbers, or as strings with
 * `int64_as_str=1` (what Neuroglancer asks for).
 */
import Fastify, { type FastifyInstance, type FastifyReply } from "fastify";
import { VoxportError } from "../errors.js";
import { PrecomputedVolume } from "../precomputed/volume.js";
import { openStore } from "../storage/registry.js";
import type { GraphJob } from "./job.js";
import { leavesOf, rootsOf } from "./read.js";
import type { GraphStore } from "./store.js";

const ID = /^\d{1,20}$/;
const BOUNDS = /^(\d+)-(\d+)_(\d+)-(\d+)_(\d+)-(\d+)$/;

function parseId(text: string): bigint {
  if (!ID.test(text) || BigInt(text) >= 1n << 64n) {
    throw new VoxportError("INVALID_ARGUMENT", `node id ${JSON.stringify(text)} is not a uint64`);
  }
  return BigInt(text);
}

/** Ids as JSON numbers (exact digits) or strings. */
function idsJson(ids: readonly bigint[], asString: boolean): string {
  return `[${ids.map((i) => (asString ? `"${i}"` : String(i))).join(",")}]`;
}

export interface GraphServerOptions {
  store: GraphStore;
  job: GraphJob;
  /** Largest request body, bytes (default 16 MiB: 2M ids for roots_binary). */
  bodyLimit?: number;
}

export async function graphServer(opts: GraphServerOptions): Promise<FastifyInstance> {
  const { store, job } = opts;
  const { layout } = job;
  const table = `${job.config.graph_config.ID_PREFIX}${job.name}`;
  const ws = await PrecomputedVolume.open(openStore(job.watershed.url));
  const g = job.config.graph_config;
  const info = {
    ...ws.info,
    chunks_start_at_voxel_offset: true,
    data_dir: job.watershed.url,
    graph: {
      chunk_size: g.CHUNK_SIZE,
      bounding_box: job.watershed.size,
      n_bits_for_layer_id: g.LAYER_ID_BITS,
      cv_mip: job.config.data_source.CV_MIP,
      n_layers: layout.layerCount,
      spatial_bit_masks: Object.fromEntries(
        layout.bitsPerAxis.map((b, l) => [String(l), b]).slice(1),
      ),
    },
    app: { supported_api_versions: [0, 1] },
  };

  const app = Fastify({ bodyLimit: opts.bodyLimit ?? 16 * 1024 * 1024 });
  app.addContentTypeParser("application/octet-stream", { parseAs: "buffer" }, (_req, body, done) =>
    done(null, body),
  );
  app.setErrorHandler((err: Error & { statusCode?: number }, _req, reply) => {
    const status =
      err instanceof VoxportError
        ? err.code === "NOT_FOUND"
          ? 404
          : 400
        : (err.statusCode ?? 500);
    reply.code(status).send({ error: status >= 500 ? "internal error" : err.message });
  });

  const base = "/segmentation/api/v1/table/:table";
  const checkTable = (t: string) => {
    if (t !== table)
      throw new VoxportError("NOT_FOUND", `no table ${t} here (this server serves ${table})`);
  };
  const asStr = (q: unknown) => {
    const v = (q as Record<string, string | undefined>).int64_as_str;
    return v === "1" || v === "true" || v === "True";
  };
  const sendJson = (reply: FastifyReply, text: string) => reply.type("application/json").send(text);

  app.get("/segmentation/api/versions", async () => [0, 1]);
  app.get<{ Params: { table: string } }>("/segmentation/table/:table/info", async (req) => {
    checkTable(req.params.table);
    return info;
  });
  app.get<{ Params: { table: string; id: string } }>(
    `${base}/node/:id/root`,
    async (req, reply) => {
      checkTable(req.params.table);
      const [root] = await rootsOf(store, [parseId(req.params.id)]);
      const s = asStr(req.query);
      return sendJson(reply, `{"root_id":${s ? `"${root}"` : String(root)}}`);
    },
  );
  app.post<{ Params: { table: string }; Body: { node_ids?: unknown } }>(
    `${base}/roots`,
    async (req, reply) => {
      checkTable(req.params.table);
      const list = req.body?.node_ids;
      if (!Array.isArray(list))
        throw new VoxportError("INVALID_ARGUMENT", "node_ids: expected an array of ids");
      const roots = await rootsOf(
        store,
        list.map((v) => parseId(String(v))),
      );
      return sendJson(reply, `{"root_ids":${idsJson(roots, asStr(req.query))}}`);
    },
  );
  app.post<{ Params: { table: string }; Body: Buffer }>(
    `${base}/roots_binary`,
    async (req, reply) => {
      checkTable(req.params.table);
      const body = req.body;
      if (!Buffer.isBuffer(body) || body.length % 8 !== 0) {
        throw new VoxportError(
          "INVALID_ARGUMENT",
          "roots_binary: the body must be uint64 little-endian ids (application/octet-stream)",
        );
      }
      const ids: bigint[] = [];
      for (let i = 0; i < body.length; i += 8) ids.push(body.readBigUInt64LE(i));
      const roots = await rootsOf(store, ids);
      const out = Buffer.alloc(roots.length * 8);
      roots.forEach((r, i) => {
        out.writeBigUInt64LE(r, i * 8);
      });
      return reply.type("application/octet-stream").send(out);
    },
  );
  app.get<{ Params: { table: string; id: string } }>(
    `${base}/node/:id/children`,
    async (req, reply) => {
      checkTable(req.params.table);
      const [kids] = await store.children([parseId(req.params.id)]);
      return sendJson(reply, `{"children_ids":${idsJson([...(kids ?? [])], asStr(req.query))}}`);
    },
  );
  const boundsOf = (q: unknown) => {
    const text = (q as Record<string, string | undefined>).bounds;
    if (text === undefined) return undefined;
    const m = BOUNDS.exec(text);
    if (!m)
      throw new VoxportError(
        "INVALID_ARGUMENT",
        `bounds ${JSON.stringify(text)}: expected x0-x1_y0-y1_z0-z1`,
      );
    const v = m.slice(1).map(Number);
    const cs = g.CHUNK_SIZE;
    const off = job.watershed.offset;
    const lo = [0, 1, 2].map((a) => Math.floor((v[2 * a] - off[a]) / cs[a])) as [
      number,
      number,
      number,
    ];
    const hi = [0, 1, 2].map((a) => Math.ceil((v[2 * a + 1] - off[a]) / cs[a])) as [
      number,
      number,
      number,
    ];
    return { lo, hi };
  };
  app.get<{ Params: { table: string; id: string } }>(
    `${base}/node/:id/leaves`,
    async (req, reply) => {
      checkTable(req.params.table);
      const leaves = await leavesOf(layout, store, parseId(req.params.id), boundsOf(req.query));
      return sendJson(reply, `{"leaf_ids":${idsJson(leaves, asStr(req.query))}}`);
    },
  );
  app.post<{ Params: { table: string }; Body: { node_ids?: unknown } }>(
    `${base}/node/leaves_many`,
    async (req, reply) => {
      checkTable(req.params.table);
      const list = req.body?.node_ids;
      if (!Array.isArray(list))
        throw new VoxportError("INVALID_ARGUMENT", "node_ids: expected an array of ids");
      const bounds = boundsOf(req.query);
      const parts: string[] = [];
      for (const v of list) {
        const id = parseId(String(v));
        parts.push(
          `"${id}":${idsJson(await leavesOf(layout, store, id, bounds), asStr(req.query))}`,
        );
      }
      return sendJson(reply, `{${parts.join(",")}}`);
    },
  );
  return app;
}
