/**
 * PyChunkedGraph's per-chunk input files (chunkedgraph.md §2.1, §2.2):
 *  - `edges_{x}_{y}_{z}.proto.zst`: zstd-compressed ChunkEdgesMsg (in_chunk, cross_chunk,
 *    between_chunk), each an EdgesMsg of little-endian byte arrays;
 *  - `components_{x}_{y}_{z}.proto`: ChunkComponentsMsg, a flat run-length list
 *    `[n1, sv…, n2, sv…]` of uint64.
 * A missing file means "no edges" / "no components". Read and written through any KvStore.
 */
import { Zstd } from "numcodecs";
import protobuf from "protobufjs";
import { VoxportError } from "../errors.js";
import type { Vec3 } from "../ops/array.js";
import { readBytes } from "../storage/io.js";
import type { KvStore } from "../storage/kvstore.js";
import type { ChunkEdges, EdgeList } from "./layer2.js";

const edgesMsg = new protobuf.Type("EdgesMsg")
  .add(new protobuf.Field("node_ids1", 1, "bytes"))
  .add(new protobuf.Field("node_ids2", 2, "bytes"))
  .add(new protobuf.Field("affinities", 3, "bytes"))
  .add(new protobuf.Field("areas", 4, "bytes"));
const chunkEdgesMsg = new protobuf.Type("ChunkEdgesMsg")
  .add(new protobuf.Field("in_chunk", 1, "EdgesMsg"))
  .add(new protobuf.Field("cross_chunk", 2, "EdgesMsg"))
  .add(new protobuf.Field("between_chunk", 3, "EdgesMsg"));
const componentsMsg = new protobuf.Type("ChunkComponentsMsg").add(
  new protobuf.Field("components", 1, "uint64", "repeated", undefined, { packed: true }),
);
new protobuf.Root().define("edges").add(edgesMsg).add(chunkEdgesMsg);
new protobuf.Root().define("components").add(componentsMsg);

// PyChunkedGraph writes level 17–22; 17 keeps generation fast and files nearly as small.
const zstd = new Zstd(17);

export function edgesKey(c: Vec3): string {
  return `edges_${c[0]}_${c[1]}_${c[2]}.proto.zst`;
}

export function componentsKey(c: Vec3): string {
  return `components_${c[0]}_${c[1]}_${c[2]}.proto`;
}

function u64s(bytes: Uint8Array | undefined, what: string): BigUint64Array {
  if (!bytes || bytes.length === 0) return new BigUint64Array(0);
  if (bytes.length % 8 !== 0)
    throw new VoxportError(
      "CODEC",
      `${what}: ${bytes.length} bytes is not a whole number of uint64`,
    );
  // Copy: protobuf hands out views at arbitrary offsets, and typed arrays need alignment.
  const copy = new Uint8Array(bytes);
  return new BigUint64Array(copy.buffer, 0, copy.length / 8);
}

function f32s(bytes: Uint8Array | undefined, n: number, what: string): Float32Array | undefined {
  if (!bytes || bytes.length === 0) return undefined;
  if (bytes.length !== n * 4)
    throw new VoxportError("CODEC", `${what}: ${bytes.length / 4} affinities for ${n} edges`);
  const copy = new Uint8Array(bytes);
  return new Float32Array(copy.buffer, 0, n);
}

function bytesOf(
  a: { buffer: ArrayBufferLike; byteOffset: number; byteLength: number } | undefined,
): Uint8Array {
  return a ? new Uint8Array(a.buffer, a.byteOffset, a.byteLength) : new Uint8Array(0);
}

interface EdgesObject {
  node_ids1?: Uint8Array;
  node_ids2?: Uint8Array;
  affinities?: Uint8Array;
  areas?: Uint8Array;
}

function decodeList(msg: EdgesObject | undefined, what: string): EdgeList {
  const ids1 = u64s(msg?.node_ids1, `${what}.node_ids1`);
  const ids2 = u64s(msg?.node_ids2, `${what}.node_ids2`);
  if (ids1.length !== ids2.length) {
    throw new VoxportError(
      "CODEC",
      `${what}: ${ids1.length} node_ids1 vs ${ids2.length} node_ids2`,
    );
  }
  const list: EdgeList = { ids1, ids2 };
  const affinities = f32s(msg?.affinities, ids1.length, `${what}.affinities`);
  if (affinities) list.affinities = affinities;
  const areas = u64s(msg?.areas, `${what}.areas`);
  if (areas.length > 0) {
    if (areas.length !== ids1.length)
      throw new VoxportError("CODEC", `${what}: ${areas.length} areas for ${ids1.length} edges`);
    list.areas = areas;
  }
  return list;
}

export async function decodeEdgesFile(data: Uint8Array, where: string): Promise<ChunkEdges> {
  let raw: Uint8Array;
  try {
    raw = await zstd.decode(data);
  } catch (e) {
    throw new VoxportError("CODEC", `${where}: not zstd data (${(e as Error).message})`);
  }
  let msg: Record<string, EdgesObject | undefined>;
  try {
    msg = chunkEdgesMsg.toObject(chunkEdgesMsg.decode(raw), { bytes: Uint8Array }) as typeof msg;
  } catch (e) {
    throw new VoxportError("CODEC", `${where}: not a ChunkEdgesMsg (${(e as Error).message})`);
  }
  return {
    inChunk: decodeList(msg.in_chunk, `${where} in_chunk`),
    crossChunk: decodeList(msg.cross_chunk, `${where} cross_chunk`),
    betweenChunk: decodeList(msg.between_chunk, `${where} between_chunk`),
  };
}

export async function encodeEdgesFile(edges: ChunkEdges): Promise<Uint8Array> {
  const list = (l: EdgeList) => ({
    node_ids1: bytesOf(l.ids1),
    node_ids2: bytesOf(l.ids2),
    affinities: bytesOf(l.affinities),
    areas: bytesOf(l.areas),
  });
  const msg = chunkEdgesMsg.fromObject({
    in_chunk: list(edges.inChunk),
    cross_chunk: list(edges.crossChunk),
    between_chunk: list(edges.betweenChunk),
  });
  const raw = chunkEdgesMsg.encode(msg).finish();
  return zstd.encode(new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength));
}

type LongLike = { low: number; high: number } | number | string;

function toBig(v: LongLike): bigint {
  if (typeof v === "number" || typeof v === "string") return BigInt(v);
  return (BigInt(v.high >>> 0) << 32n) | BigInt(v.low >>> 0);
}

/** sv → component index (0, 1, … in file order). */
export function decodeComponentsFile(data: Uint8Array, where: string): Map<bigint, number> {
  let values: LongLike[];
  try {
    values = (componentsMsg.decode(data) as unknown as { components: LongLike[] }).components ?? [];
  } catch (e) {
    throw new VoxportError("CODEC", `${where}: not a ChunkComponentsMsg (${(e as Error).message})`);
  }
  const map = new Map<bigint, number>();
  let i = 0;
  let component = 0;
  while (i < values.length) {
    const n = Number(toBig(values[i]));
    if (i + 1 + n > values.length) {
      throw new VoxportError(
        "CODEC",
        `${where}: component ${component} claims ${n} members, the file ends first`,
      );
    }
    for (let k = 0; k < n; k++) map.set(toBig(values[i + 1 + k]), component);
    i += 1 + n;
    component++;
  }
  return map;
}

export function encodeComponentsFile(components: ReadonlyMap<bigint, number>): Uint8Array {
  const groups: bigint[][] = [];
  for (const [sv, c] of components) {
    groups[c] ??= [];
    groups[c].push(sv);
  }
  const flat: string[] = [];
  for (const g of groups) {
    if (!g) continue;
    flat.push(String(g.length), ...g.map(String));
  }
  // fromObject turns decimal strings into unsigned 64-bit values without losing precision.
  const bytes = componentsMsg.encode(componentsMsg.fromObject({ components: flat })).finish();
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export async function readChunkEdges(store: KvStore, c: Vec3): Promise<ChunkEdges> {
  const key = edgesKey(c);
  const data = await readBytes(store, key);
  const empty = (): EdgeList => ({ ids1: new BigUint64Array(0), ids2: new BigUint64Array(0) });
  if (!data) return { inChunk: empty(), crossChunk: empty(), betweenChunk: empty() };
  return decodeEdgesFile(data, key);
}

export async function readChunkComponents(store: KvStore, c: Vec3): Promise<Map<bigint, number>> {
  const key = componentsKey(c);
  const data = await readBytes(store, key);
  return data ? decodeComponentsFile(data, key) : new Map();
}
