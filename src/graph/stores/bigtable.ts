/**
 * Google Cloud Bigtable graph store, in PyChunkedGraph's table layout (chunkedgraph.md §5):
 * row key = node id as 20-digit decimal; family 0 holds `parents` (uint64 LE) and `children`
 * (uint64 LE array, zstd), family 3 holds `atomic_cross_edges_{k}` (pairs, zstd) on L2 nodes.
 * Our own metadata lives in row `meta` under `voxport.*` qualifiers, next to (never over)
 * PyChunkedGraph's pickle. Credentials: the Google chain (GOOGLE_APPLICATION_CREDENTIALS or
 * ADC); BIGTABLE_EMULATOR_HOST points the client at an emulator.
 */
import { Bigtable, type Table } from "@google-cloud/bigtable";
import { Zstd } from "numcodecs";
import { VoxportError } from "../../errors.js";
import { rowKey } from "../ids.js";
import type { GraphStore, NodeRow } from "../store.js";
import { bytesU64, u64Bytes } from "./codec.js";

const zstd = new Zstd(3);
const CROSS_PREFIX = "atomic_cross_edges_";
/** Bigtable accepts up to 100k mutations per MutateRows call; stay well under. */
const BATCH = 2000;
/** Keys per read request (PyChunkedGraph settled on 1000 after measuring latency). */
const READ_BATCH = 1000;

export interface BigtableOptions {
  project: string;
  instance: string;
  table: string;
  /** Create the table with its column families when it does not exist. */
  create?: boolean;
}

type Cell = { value: Buffer | string };
type RowData = Record<string, Record<string, Cell[]>>;

function bytesOf(v: Buffer | string): Uint8Array {
  return typeof v === "string" ? Buffer.from(v, "binary") : v;
}

function toBuffer(u: Uint8Array): Buffer {
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

export class BigtableGraphStore implements GraphStore {
  private constructor(
    private readonly client: Bigtable,
    private readonly table: Table,
    readonly where: string,
  ) {}

  static async open(opts: BigtableOptions): Promise<BigtableGraphStore> {
    const client = new Bigtable({ projectId: opts.project });
    const instance = client.instance(opts.instance);
    const table = instance.table(opts.table);
    const where = `bigtable ${opts.project}/${opts.instance}/${opts.table}`;
    try {
      const [exists] = await table.exists();
      if (!exists) {
        if (!opts.create) throw new VoxportError("NOT_FOUND", `${where} does not exist`);
        await instance.createTable(opts.table, {
          families: [{ name: "0" }, { name: "1", rule: { versions: 1 } }, { name: "3" }],
        });
      }
    } catch (e) {
      await client.close().catch(() => {});
      if (e instanceof VoxportError) throw e;
      throw new VoxportError("STORAGE", `${where}: ${(e as Error).message}`, { cause: e });
    }
    return new BigtableGraphStore(client, table, where);
  }

  async writeNodes(rows: readonly NodeRow[]): Promise<void> {
    const entries: { key: string; data: Record<string, Record<string, Buffer>> }[] = [];
    for (const r of rows) {
      const f0: Record<string, Buffer> = {};
      const f3: Record<string, Buffer> = {};
      if (r.parent !== undefined) {
        const b = Buffer.alloc(8);
        b.writeBigUInt64LE(r.parent);
        f0.parents = b;
      }
      if (r.children !== undefined) f0.children = toBuffer(await zstd.encode(u64Bytes(r.children)));
      for (const [k, pairs] of r.crossEdges ?? []) {
        f3[`${CROSS_PREFIX}${k}`] = toBuffer(await zstd.encode(u64Bytes(pairs)));
      }
      const data: Record<string, Record<string, Buffer>> = {};
      if (Object.keys(f0).length) data["0"] = f0;
      if (Object.keys(f3).length) data["3"] = f3;
      if (Object.keys(data).length) entries.push({ key: rowKey(r.id), data });
    }
    for (let i = 0; i < entries.length; i += BATCH) {
      await this.call("write", () => this.table.insert(entries.slice(i, i + BATCH)));
    }
  }

  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw new VoxportError("STORAGE", `${this.where}: ${what}: ${(e as Error).message}`, {
        cause: e,
      });
    }
  }

  /** Newest cell of family:qualifier for each id (undefined where absent). */
  private async cells(
    ids: readonly bigint[],
    family: string,
    qualifier?: RegExp,
  ): Promise<(RowData[string] | undefined)[]> {
    const out: (RowData[string] | undefined)[] = new Array(ids.length).fill(undefined);
    const index = new Map<string, number[]>();
    ids.forEach((id, i) => {
      const k = rowKey(id);
      const list = index.get(k);
      if (list) list.push(i);
      else index.set(k, [i]);
    });
    const keys = [...index.keys()];
    for (let i = 0; i < keys.length; i += READ_BATCH) {
      const filter: object[] = [{ family: new RegExp(`^${family}$`) }];
      if (qualifier) filter.push({ column: qualifier });
      filter.push({ column: { cellLimit: 1 } });
      const [rows] = await this.call("read", () =>
        this.table.getRows({ keys: keys.slice(i, i + READ_BATCH), filter, decode: false }),
      );
      for (const row of rows) {
        const fam = (row.data as RowData)[family];
        for (const at of index.get(String(row.id)) ?? []) out[at] = fam;
      }
    }
    return out;
  }

  async parents(ids: readonly bigint[]): Promise<(bigint | undefined)[]> {
    if (ids.length === 0) return [];
    return (await this.cells(ids, "0", /^parents$/)).map((f) => {
      const v = f?.parents?.[0]?.value;
      return v === undefined ? undefined : Buffer.from(bytesOf(v)).readBigUInt64LE(0);
    });
  }

  async children(ids: readonly bigint[]): Promise<(BigUint64Array | undefined)[]> {
    if (ids.length === 0) return [];
    const fams = await this.cells(ids, "0", /^children$/);
    return Promise.all(
      fams.map(async (f) => {
        const v = f?.children?.[0]?.value;
        return v === undefined ? undefined : bytesU64(await zstd.decode(bytesOf(v)));
      }),
    );
  }

  async crossEdges(ids: readonly bigint[]): Promise<(Map<number, BigUint64Array> | undefined)[]> {
    if (ids.length === 0) return [];
    const fams = await this.cells(ids, "3", new RegExp(`^${CROSS_PREFIX}\\d+$`));
    return Promise.all(
      fams.map(async (f) => {
        if (!f) return undefined;
        const map = new Map<number, BigUint64Array>();
        for (const [q, cells] of Object.entries(f)) {
          if (!q.startsWith(CROSS_PREFIX) || !cells[0]) continue;
          map.set(
            Number(q.slice(CROSS_PREFIX.length)),
            bytesU64(await zstd.decode(bytesOf(cells[0].value))),
          );
        }
        return map;
      }),
    );
  }

  async nodesInChunk(chunk: bigint, segmentBits: number): Promise<bigint[]> {
    const end = chunk + (1n << BigInt(segmentBits));
    const [rows] = await this.call("scan", () =>
      this.table.getRows({
        ranges: [{ start: rowKey(chunk), end: { value: rowKey(end), inclusive: false } }],
        filter: [
          { family: /^0$/ },
          { column: /^children$/ },
          { column: { cellLimit: 1 } },
          { value: { strip: true } },
        ],
        decode: false,
      }),
    );
    return rows.map((r) => BigInt(String(r.id)));
  }

  async getMeta(key: string): Promise<string | undefined> {
    const [rows] = await this.call("read meta", () =>
      this.table.getRows({
        keys: ["meta"],
        filter: [
          { family: /^0$/ },
          { column: new RegExp(`^voxport\\.${escapeRegExp(key)}$`) },
          { column: { cellLimit: 1 } },
        ],
        decode: false,
      }),
    );
    const v = (rows[0]?.data as RowData | undefined)?.["0"]?.[`voxport.${key}`]?.[0]?.value;
    return v === undefined ? undefined : Buffer.from(bytesOf(v)).toString("utf8");
  }

  async setMeta(key: string, value: string): Promise<void> {
    await this.call("write meta", () =>
      this.table.insert([
        { key: "meta", data: { "0": { [`voxport.${key}`]: Buffer.from(value, "utf8") } } },
      ]),
    );
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
