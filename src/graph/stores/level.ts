/**
 * The embedded graph store: LevelDB (classic-level) in a folder. Keys are a one-byte column tag
 * and the node id big-endian, so LevelDB's byte order equals id order and "all nodes of a
 * chunk" is one range scan, as a Bigtable row range is for PyChunkedGraph.
 */
import { ClassicLevel } from "classic-level";
import { VoxportError } from "../../errors.js";
import type { GraphStore, NodeRow } from "../store.js";
import { bytesU64, decodeCrossEdges, encodeCrossEdges, u64Be, u64Bytes } from "./codec.js";

const PARENT = 0x70; // p
const CHILDREN = 0x63; // c
const CROSS = 0x78; // x
const META = 0x6d; // m

function key(tag: number, id: bigint): Uint8Array {
  const k = new Uint8Array(9);
  k[0] = tag;
  k.set(u64Be(id), 1);
  return k;
}

type Db = ClassicLevel<Uint8Array, Uint8Array>;

export class LevelGraphStore implements GraphStore {
  private constructor(
    private readonly db: Db,
    readonly path: string,
  ) {}

  static async open(path: string): Promise<LevelGraphStore> {
    const db: Db = new ClassicLevel<Uint8Array, Uint8Array>(path, {
      keyEncoding: "view",
      valueEncoding: "view",
    });
    try {
      await db.open();
    } catch (e) {
      const cause = (e as { cause?: Error }).cause?.message ?? (e as Error).message;
      throw new VoxportError("STORAGE", `graph store ${path}: cannot open: ${cause}`, { cause: e });
    }
    return new LevelGraphStore(db, path);
  }

  async writeNodes(rows: readonly NodeRow[]): Promise<void> {
    const batch = this.db.batch();
    for (const r of rows) {
      if (r.parent !== undefined) batch.put(key(PARENT, r.id), u64Be(r.parent));
      if (r.children !== undefined) batch.put(key(CHILDREN, r.id), u64Bytes(r.children));
      if (r.crossEdges !== undefined) batch.put(key(CROSS, r.id), encodeCrossEdges(r.crossEdges));
    }
    await batch.write();
  }

  private async many(tag: number, ids: readonly bigint[]): Promise<(Uint8Array | undefined)[]> {
    if (ids.length === 0) return [];
    return this.db.getMany(ids.map((id) => key(tag, id)));
  }

  async parents(ids: readonly bigint[]): Promise<(bigint | undefined)[]> {
    return (await this.many(PARENT, ids)).map((v) =>
      v ? new DataView(v.buffer, v.byteOffset, 8).getBigUint64(0, false) : undefined,
    );
  }

  async children(ids: readonly bigint[]): Promise<(BigUint64Array | undefined)[]> {
    return (await this.many(CHILDREN, ids)).map((v) => (v ? bytesU64(v) : undefined));
  }

  async crossEdges(ids: readonly bigint[]): Promise<(Map<number, BigUint64Array> | undefined)[]> {
    return (await this.many(CROSS, ids)).map((v) => (v ? decodeCrossEdges(v) : undefined));
  }

  async nodesInChunk(chunk: bigint, segmentBits: number): Promise<bigint[]> {
    const out: bigint[] = [];
    const end = chunk + (1n << BigInt(segmentBits));
    // The last chunk of the id space ends past 2^64 − 1: bound it by the next tag instead.
    const lt = end >> 64n ? Uint8Array.of(CHILDREN + 1) : key(CHILDREN, end);
    for await (const k of this.db.keys({ gte: key(CHILDREN, chunk), lt })) {
      out.push(new DataView(k.buffer, k.byteOffset + 1, 8).getBigUint64(0, false));
    }
    return out;
  }

  async getMeta(name: string): Promise<string | undefined> {
    const v = await this.db.get(metaKey(name));
    return v === undefined ? undefined : new TextDecoder().decode(v);
  }

  async setMeta(name: string, value: string): Promise<void> {
    await this.db.put(metaKey(name), new TextEncoder().encode(value));
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}

function metaKey(name: string): Uint8Array {
  const b = new TextEncoder().encode(name);
  const k = new Uint8Array(b.length + 1);
  k[0] = META;
  k.set(b, 1);
  return k;
}
