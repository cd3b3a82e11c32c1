import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { bloscDecode, bloscEncode } from "../../src/boss/blosc.js";

/**
 * A BOSS API test server (node:http) with the endpoints an ingest uses, answering as the real
 * one (jhuapl-boss/boss: `bosscore` resource views, `bossspatialdb` cutout views, DRF token
 * auth) and storing decoded voxels by 512×512×16 cuboid:
 *
 *   GET|POST /v1/collection/{c}/                          collections
 *   GET|POST /v1/collection/{c}/experiment/{e}/            experiments (frame must exist)
 *   GET|POST /v1/collection/{c}/experiment/{e}/channel/{ch}/  channels (image uint8/uint16,
 *                                                          annotation uint64 with existing sources)
 *   GET|POST /v1/coord/{name}/                             coordinate frames
 *   GET|POST|PUT /v1/meta/{c}/{e}/?key=K[&value=V]         experiment metadata
 *   POST|GET /v1/cutout/{c}/{e}/{ch}/{res}/{x0:x1}/{y0:y1}/{z0:z1}/   blosc bodies
 *
 * What the real server checks, this one checks: `Authorization: Token <t>` on every call (401),
 * names `[\w-]+`, parents that exist, datatype per channel type, cutout ranges that are
 * non-empty and inside the coordinate frame ("Incorrect cutout arguments"), resolution below
 * the experiment's hierarchy levels, the decompressed size against the URL's span and the
 * channel's datatype ("Data dimensions in URL do not match POSTed data."), the 520 MiB cap
 * (uint64 at a quarter). Like the real BOSS, it does not require cuboid-aligned writes.
 *
 * Test hooks: `failPost(box)` answers 500 for chosen cutouts; `posts` keeps every cutout POST
 * (URL box and the raw blosc body) so tests can decode the bodies independently.
 */

export interface CutoutBox {
  min: [number, number, number];
  max: [number, number, number];
}

export interface PostRecord {
  channel: string;
  box: CutoutBox;
  body: Uint8Array;
  status: number;
}

interface Channel {
  json: Record<string, unknown>;
  bytes: number;
  /** Cuboid key "cx,cy,cz" → voxels (512·512·16, C order z, y, x). */
  cuboids: Map<string, Uint8Array>;
}

const CUBOID = [512, 512, 16];
const NAME = /^[A-Za-z0-9_-]+$/;
const CUTOUT_MAX = 520 * 1024 * 1024;

export interface BossServer {
  url: string;
  /** host:port, as an intern config names it. */
  host: string;
  token: string;
  posts: PostRecord[];
  requests: { method: string; path: string; status: number }[];
  failPost?: (channel: string, box: CutoutBox) => boolean;
  collections: Map<string, Record<string, unknown>>;
  experiments: Map<string, Record<string, unknown>>;
  coords: Map<string, Record<string, unknown>>;
  channels: Map<string, Channel>;
  metadata: Map<string, string>;
  /** Voxels of a box of a channel ("coll/exp/ch"), C order (z, y, x), zeros where unwritten. */
  read(channel: string, box: CutoutBox): Uint8Array;
  close(): Promise<void>;
}

function bytesOf(datatype: string): number {
  return datatype === "uint8" ? 1 : datatype === "uint16" ? 2 : datatype === "uint64" ? 8 : 0;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function body(req: IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of req) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

export async function startBossServer(opts: { token?: string } = {}): Promise<BossServer> {
  const token = opts.token ?? "test-token-0123456789";
  const state = {
    collections: new Map<string, Record<string, unknown>>(),
    experiments: new Map<string, Record<string, unknown>>(),
    coords: new Map<string, Record<string, unknown>>(),
    channels: new Map<string, Channel>(),
    metadata: new Map<string, string>(),
  };
  const posts: PostRecord[] = [];
  const requests: BossServer["requests"] = [];

  const copy = (
    ch: Channel,
    box: CutoutBox,
    data: Uint8Array | undefined,
    out: Uint8Array | undefined,
  ) => {
    // Walk the cuboids the box meets; copy rows in (write) or out (read).
    const b = ch.bytes;
    const span = [0, 1, 2].map((d) => box.max[d] - box.min[d]);
    for (let cz = Math.floor(box.min[2] / CUBOID[2]); cz * CUBOID[2] < box.max[2]; cz++) {
      for (let cy = Math.floor(box.min[1] / CUBOID[1]); cy * CUBOID[1] < box.max[1]; cy++) {
        for (let cx = Math.floor(box.min[0] / CUBOID[0]); cx * CUBOID[0] < box.max[0]; cx++) {
          const key = `${cx},${cy},${cz}`;
          let cub = ch.cuboids.get(key);
          if (!cub && data) {
            cub = new Uint8Array(CUBOID[0] * CUBOID[1] * CUBOID[2] * b);
            ch.cuboids.set(key, cub);
          }
          if (!cub) continue;
          const o = [cx * CUBOID[0], cy * CUBOID[1], cz * CUBOID[2]];
          const lo = [0, 1, 2].map((d) => Math.max(box.min[d], o[d]));
          const hi = [0, 1, 2].map((d) => Math.min(box.max[d], o[d] + CUBOID[d]));
          const w = (hi[0] - lo[0]) * b;
          for (let z = lo[2]; z < hi[2]; z++) {
            for (let y = lo[1]; y < hi[1]; y++) {
              const ci =
                ((z - o[2]) * CUBOID[1] * CUBOID[0] + (y - o[1]) * CUBOID[0] + (lo[0] - o[0])) * b;
              const vi =
                ((z - box.min[2]) * span[1] * span[0] +
                  (y - box.min[1]) * span[0] +
                  (lo[0] - box.min[0])) *
                b;
              if (data) cub.set(data.subarray(vi, vi + w), ci);
              else out?.set(cub.subarray(ci, ci + w), vi);
            }
          }
        }
      }
    }
  };

  const read = (channel: string, box: CutoutBox): Uint8Array => {
    const ch = state.channels.get(channel);
    if (!ch) throw new Error(`no channel ${channel}`);
    const n = (box.max[0] - box.min[0]) * (box.max[1] - box.min[1]) * (box.max[2] - box.min[2]);
    const out = new Uint8Array(n * ch.bytes);
    copy(ch, box, undefined, out);
    return out;
  };

  const server: BossServer = {
    url: "",
    host: "",
    token,
    posts,
    requests,
    ...state,
    read,
    close: async () => {},
  };

  const json = (res: ServerResponse, status: number, value: unknown) => {
    res.writeHead(status, { "Content-Type": "application/json" });
    res.end(JSON.stringify(value));
  };

  const resource = async (
    req: IncomingMessage,
    res: ServerResponse,
    map: Map<string, Record<string, unknown>>,
    key: string,
    create: (b: Record<string, unknown>) => Record<string, unknown>,
  ) => {
    if (req.method === "GET") {
      const got = map.get(key);
      if (!got) throw new HttpError(404, `${key} not found`);
      return json(res, 200, got);
    }
    if (req.method !== "POST") throw new HttpError(405, `${req.method} not allowed`);
    if (map.has(key)) throw new HttpError(400, `${key} already exists`);
    let b: Record<string, unknown>;
    try {
      b = JSON.parse((await body(req)).toString("utf8")) as Record<string, unknown>;
    } catch {
      throw new HttpError(400, "body is not JSON");
    }
    const made = { ...create(b), creator: "voxport-test" };
    map.set(key, made);
    json(res, 201, made);
  };

  const cutout = async (req: IncomingMessage, res: ServerResponse, parts: string[]) => {
    const [c, e, chName, resStr, xs, ys, zs] = parts;
    const exp = state.experiments.get(`${c}/${e}`);
    const chan = state.channels.get(`${c}/${e}/${chName}`);
    if (!state.collections.has(c)) throw new HttpError(404, `Collection ${c} not found`);
    if (!exp) throw new HttpError(404, `Experiment ${e} not found`);
    if (!chan) throw new HttpError(404, `Channel ${chName} not found`);
    const rng = [xs, ys, zs].map((s) => {
      const m = /^(\d+):(\d+)$/.exec(s ?? "");
      if (!m) throw new HttpError(400, `Type error in cutout argument ${s}`);
      return [Number(m[1]), Number(m[2])];
    });
    const box: CutoutBox = {
      min: [rng[0][0], rng[1][0], rng[2][0]],
      max: [rng[0][1], rng[1][1], rng[2][1]],
    };
    const frame = state.coords.get(String(exp.coord_frame));
    if (!frame) throw new HttpError(500, "experiment without a coordinate frame");
    const res0 = Number(resStr);
    if (!/^\d$/.test(resStr ?? "") || res0 >= Number(exp.num_hierarchy_levels)) {
      throw new HttpError(400, `Invalid resolution ${resStr}`);
    }
    const f = ["x", "y", "z"].map((a) => [Number(frame[`${a}_start`]), Number(frame[`${a}_stop`])]);
    for (let d = 0; d < 3; d++) {
      if (box.min[d] >= box.max[d] || box.min[d] < f[d][0] || box.max[d] > f[d][1]) {
        throw new HttpError(400, `Incorrect cutout arguments ${resStr}/${xs}/${ys}/${zs}`);
      }
    }
    const voxels =
      (box.max[0] - box.min[0]) * (box.max[1] - box.min[1]) * (box.max[2] - box.min[2]);
    const cost = voxels * (chan.bytes === 8 ? 2 : chan.bytes);
    if (cost > CUTOUT_MAX) {
      throw new HttpError(
        413,
        "Cutout request is over 500MB when uncompressed. Reduce cutout dimensions.",
      );
    }
    const chKey = `${c}/${e}/${chName}`;
    if (req.method === "GET") {
      const accept = req.headers.accept ?? "";
      if (!accept.includes("application/blosc"))
        throw new HttpError(406, `unsupported Accept ${accept}`);
      const frame = await bloscEncode(read(chKey, box));
      res.writeHead(200, { "Content-Type": "application/blosc" });
      res.end(frame);
      return;
    }
    if (req.method !== "POST") throw new HttpError(405, `${req.method} not allowed`);
    if (req.headers["content-type"] !== "application/blosc") {
      throw new HttpError(415, `unsupported Content-Type ${req.headers["content-type"]}`);
    }
    const raw = new Uint8Array(await body(req));
    const record: PostRecord = { channel: chKey, box, body: raw, status: 0 };
    posts.push(record);
    if (server.failPost?.(chKey, box)) {
      record.status = 500;
      throw new HttpError(500, "Error during write_cuboid: injected failure");
    }
    let data: Uint8Array;
    try {
      data = await bloscDecode(raw);
    } catch (err) {
      record.status = 400;
      throw new HttpError(400, `cannot decompress the body: ${(err as Error).message}`);
    }
    if (data.byteLength % chan.bytes !== 0) {
      record.status = 400;
      throw new HttpError(400, "Datatype does not match channel");
    }
    if (data.byteLength !== voxels * chan.bytes) {
      record.status = 400;
      throw new HttpError(400, "Data dimensions in URL do not match POSTed data.");
    }
    copy(chan, box, data, undefined);
    chan.json.downsample_status = "NOT_DOWNSAMPLED";
    record.status = 201;
    res.writeHead(201);
    res.end();
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const u = new URL(req.url ?? "/", "http://x");
    const auth = req.headers.authorization;
    if (auth !== `Token ${token}`) {
      throw new HttpError(
        401,
        auth ? "Invalid token." : "Authentication credentials were not provided.",
      );
    }
    const parts = u.pathname.split("/").filter(Boolean);
    if (parts[0] !== "v1") throw new HttpError(404, "unsupported API version");
    const [, service, ...rest] = parts;
    for (const p of rest.slice(0, service === "cutout" ? 3 : rest.length)) {
      if (!NAME.test(p)) throw new HttpError(400, `invalid name ${p}`);
    }
    if (service === "collection") {
      const [c, k1, e, k2, ch] = rest;
      if (rest.length === 1) {
        return resource(req, res, state.collections, c, (b) => ({
          name: c,
          description: String(b.description ?? ""),
          experiments: [],
        }));
      }
      if (k1 === "experiment" && rest.length === 3) {
        return resource(req, res, state.experiments, `${c}/${e}`, (b) => {
          if (!state.collections.has(c)) throw new HttpError(404, `Collection ${c} not found`);
          if (!state.coords.has(String(b.coord_frame))) {
            throw new HttpError(400, `Coordinate frame ${String(b.coord_frame)} not found`);
          }
          return {
            name: e,
            description: String(b.description ?? ""),
            collection: c,
            coord_frame: b.coord_frame,
            num_hierarchy_levels: Number(b.num_hierarchy_levels ?? 1),
            hierarchy_method: b.hierarchy_method ?? "anisotropic",
            num_time_samples: Number(b.num_time_samples ?? 1),
            time_step: b.time_step ?? 0,
            time_step_unit: b.time_step_unit ?? "seconds",
            channels: [],
          };
        });
      }
      if (k1 === "experiment" && k2 === "channel" && rest.length === 5) {
        const key = `${c}/${e}/${ch}`;
        if (req.method === "GET") {
          const got = state.channels.get(key);
          if (!got) throw new HttpError(404, `Channel ${ch} not found`);
          return json(res, 200, got.json);
        }
        const m = new Map<string, Record<string, unknown>>();
        return resource(req, res, m, key, (b) => {
          if (!state.experiments.has(`${c}/${e}`))
            throw new HttpError(404, `Experiment ${e} not found`);
          if (state.channels.has(key)) throw new HttpError(400, `${key} already exists`);
          const type = String(b.type ?? "image");
          const datatype = String(b.datatype);
          const ok =
            type === "image"
              ? ["uint8", "uint16"].includes(datatype)
              : type === "annotation" && datatype === "uint64";
          if (!ok)
            throw new HttpError(400, `datatype ${datatype} is not valid for a ${type} channel`);
          const sources = Array.isArray(b.sources) ? (b.sources as string[]) : [];
          if (type === "annotation" && sources.length === 0) {
            throw new HttpError(400, "annotation channels require a source channel");
          }
          for (const s of sources) {
            if (!state.channels.has(`${c}/${e}/${s}`))
              throw new HttpError(400, `source channel ${s} not found`);
          }
          const j = {
            name: ch,
            description: String(b.description ?? ""),
            experiment: e,
            default_time_sample: 0,
            datatype,
            base_resolution: Number(b.base_resolution ?? 0),
            type,
            sources,
            related: [],
            downsample_status: "NOT_DOWNSAMPLED",
          };
          state.channels.set(key, {
            json: { ...j, creator: "voxport-test" },
            bytes: bytesOf(datatype),
            cuboids: new Map(),
          });
          return j;
        });
      }
    }
    if (service === "coord" && rest.length === 1) {
      const name = rest[0];
      return resource(req, res, state.coords, name, (b) => {
        const n = (k: string) => Number(b[k]);
        for (const a of ["x", "y", "z"]) {
          if (!(n(`${a}_start`) >= 0 && n(`${a}_stop`) > n(`${a}_start`))) {
            throw new HttpError(400, `invalid ${a} extent`);
          }
        }
        return {
          name,
          description: String(b.description ?? ""),
          ...Object.fromEntries(
            [
              "x_start",
              "x_stop",
              "y_start",
              "y_stop",
              "z_start",
              "z_stop",
              "x_voxel_size",
              "y_voxel_size",
              "z_voxel_size",
            ].map((k) => [k, n(k)]),
          ),
          voxel_unit: b.voxel_unit ?? "nanometers",
        };
      });
    }
    if (service === "meta" && rest.length === 2) {
      const key = u.searchParams.get("key");
      const mk = `${rest[0]}/${rest[1]}/${key}`;
      if (!state.experiments.has(`${rest[0]}/${rest[1]}`))
        throw new HttpError(404, "Experiment not found");
      if (!key) throw new HttpError(400, "missing key");
      if (req.method === "GET") {
        if (!state.metadata.has(mk)) throw new HttpError(404, `key ${key} not found`);
        return json(res, 200, { key, value: state.metadata.get(mk) });
      }
      const value = u.searchParams.get("value");
      if (value === null) throw new HttpError(400, "missing value");
      if (req.method === "POST") {
        if (state.metadata.has(mk)) throw new HttpError(400, `key ${key} exists; use PUT`);
        state.metadata.set(mk, value);
        res.writeHead(201);
        return res.end();
      }
      if (req.method === "PUT") {
        if (!state.metadata.has(mk)) throw new HttpError(404, `key ${key} not found`);
        state.metadata.set(mk, value);
        res.writeHead(200);
        return res.end();
      }
    }
    if (service === "cutout" && rest.length >= 7) return cutout(req, res, rest);
    throw new HttpError(404, `no route for ${req.method} ${u.pathname}`);
  };

  const http: Server = createServer((req, res) => {
    handle(req, res)
      .then(() =>
        requests.push({ method: req.method ?? "", path: req.url ?? "", status: res.statusCode }),
      )
      .catch((err) => {
        const status = err instanceof HttpError ? err.status : 500;
        requests.push({ method: req.method ?? "", path: req.url ?? "", status });
        if (!res.headersSent)
          json(res, status, { status, code: status * 10, message: (err as Error).message });
        else res.end();
        // Drain what the client still sends, so it sees the answer.
        req.resume();
      });
  });
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  const port = (http.address() as AddressInfo).port;
  server.url = `http://127.0.0.1:${port}`;
  server.host = `127.0.0.1:${port}`;
  server.close = () =>
    new Promise<void>((r) => {
      http.closeAllConnections();
      http.close(() => r());
    });
  return server;
}
