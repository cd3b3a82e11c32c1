/**
 * What the graph build and the read API need from storage (chunkedgraph.md §5.5): per-node
 * records (parent, children, and for L2 nodes their atomic cross edges by layer) and "all nodes
 * of one chunk" as a range. Node ids sort like their 20-digit row keys, so a sorted key-value
 * store gives the chunk range for free; the in-memory store here keeps a chunk index instead.
 *
 * Writes are upserts of whole fields: builds allocate ids deterministically, so a retried job
 * writes the same rows with the same values and never duplicates nodes.
 */
export interface NodeRow {
  id: bigint;
  parent?: bigint;
  children?: BigUint64Array;
  /** L2 nodes: layer k → pairs [svInside, svOutside, …] of active edges resolved at layer k+1. */
  crossEdges?: Map<number, BigUint64Array>;
}

export interface GraphStore {
  writeNodes(rows: readonly NodeRow[]): Promise<void>;
  parents(ids: readonly bigint[]): Promise<(bigint | undefined)[]>;
  children(ids: readonly bigint[]): Promise<(BigUint64Array | undefined)[]>;
  crossEdges(ids: readonly bigint[]): Promise<(Map<number, BigUint64Array> | undefined)[]>;
  /** Ids of the nodes (layer ≥ 2) whose chunk id is `chunk`, ascending. */
  nodesInChunk(chunk: bigint, segmentBits: number): Promise<bigint[]>;
  getMeta(key: string): Promise<string | undefined>;
  setMeta(key: string, value: string): Promise<void>;
  close(): Promise<void>;
}

interface Row {
  parent?: bigint;
  children?: BigUint64Array;
  crossEdges?: Map<number, BigUint64Array>;
}

export class MemoryGraphStore implements GraphStore {
  private readonly rows = new Map<bigint, Row>();
  private readonly byChunk = new Map<bigint, Set<bigint>>();
  private readonly meta = new Map<string, string>();

  constructor(private readonly layerIdBits = 8) {}

  async writeNodes(rows: readonly NodeRow[]): Promise<void> {
    for (const r of rows) {
      let row = this.rows.get(r.id);
      if (!row) {
        row = {};
        this.rows.set(r.id, row);
      }
      if (r.parent !== undefined) row.parent = r.parent;
      if (r.children !== undefined) {
        row.children = r.children;
        this.index(r.id);
      }
      if (r.crossEdges !== undefined) row.crossEdges = r.crossEdges;
    }
  }

  private index(id: bigint): void {
    // Chunk ids need the layout; the top bits (layer) plus the key order are enough to find a
    // chunk by prefix, so index by the id with the low 16 bits cleared and filter on read.
    const bucket = id >> 16n;
    let set = this.byChunk.get(bucket);
    if (!set) {
      set = new Set();
      this.byChunk.set(bucket, set);
    }
    set.add(id);
  }

  async parents(ids: readonly bigint[]): Promise<(bigint | undefined)[]> {
    return ids.map((id) => this.rows.get(id)?.parent);
  }

  async children(ids: readonly bigint[]): Promise<(BigUint64Array | undefined)[]> {
    return ids.map((id) => this.rows.get(id)?.children);
  }

  async crossEdges(ids: readonly bigint[]): Promise<(Map<number, BigUint64Array> | undefined)[]> {
    return ids.map((id) => this.rows.get(id)?.crossEdges);
  }

  async nodesInChunk(chunk: bigint, segmentBits: number): Promise<bigint[]> {
    const out: bigint[] = [];
    const span = 1n << BigInt(segmentBits);
    if (segmentBits <= 16) {
      for (const id of this.byChunk.get(chunk >> 16n) ?? [])
        if (id - chunk < span && id >= chunk) out.push(id);
    } else {
      const first = chunk >> 16n;
      const last = (chunk + span - 1n) >> 16n;
      // Wide chunks (high layers) hold few nodes: walk the buckets that exist.
      for (const [bucket, set] of this.byChunk) {
        if (bucket < first || bucket > last) continue;
        for (const id of set) out.push(id);
      }
    }
    return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  async getMeta(key: string): Promise<string | undefined> {
    return this.meta.get(key);
  }

  async setMeta(key: string, value: string): Promise<void> {
    this.meta.set(key, value);
  }

  async close(): Promise<void> {}

  /** For tests: every node id with children (layer ≥ 2). */
  allNodes(): bigint[] {
    const out: bigint[] = [];
    for (const [id, row] of this.rows) if (row.children) out.push(id);
    return out;
  }

  get layerBits(): number {
    return this.layerIdBits;
  }
}
