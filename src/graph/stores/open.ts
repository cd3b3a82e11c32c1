/**
 * Graph store URLs → stores. `level:///abs/path` (embedded LevelDB), `bigtable://project/
 * instance/table`, `mem://name` (tests). Opened stores are shared per URL within the process:
 * LevelDB allows one handle per folder, and concurrent tasks of one worker use the same store.
 */
import { mkdir } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { VoxportError } from "../../errors.js";
import type { GraphConfig } from "../config.js";
import { type GraphStore, MemoryGraphStore } from "../store.js";

interface Shared {
  store: Promise<GraphStore>;
  users: number;
}

const open = new Map<string, Shared>();
const memories = new Map<string, MemoryGraphStore>();

/** The store URL a config names for graph `name` (table id = ID_PREFIX + name). */
export function storeUrlFor(config: GraphConfig, name: string): string {
  const table = `${config.graph_config.ID_PREFIX}${name}`;
  const b = config.backend_client;
  if (b.TYPE === "bigtable") return `bigtable://${b.CONFIG.PROJECT}/${b.CONFIG.INSTANCE}/${table}`;
  const base = b.CONFIG.PATH ?? "graphs";
  if (base.startsWith("mem://")) return `${base.replace(/\/+$/, "")}/${table}`;
  const path = base.startsWith("file://") ? new URL(base).pathname : base;
  return `level://${resolve(path, table)}`;
}

async function openNew(url: string, create: boolean): Promise<GraphStore> {
  const m = /^([a-z]+):\/\/(.*)$/.exec(url);
  if (!m)
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `graph store ${url}: expected level://, bigtable:// or mem://`,
    );
  const [, scheme, rest] = m;
  if (scheme === "level") {
    const { LevelGraphStore } = await import("./level.js");
    if (create) await mkdir(dirname(rest), { recursive: true });
    return LevelGraphStore.open(rest);
  }
  if (scheme === "bigtable") {
    const parts = rest.split("/");
    if (parts.length !== 3 || parts.some((p) => p === "")) {
      throw new VoxportError(
        "INVALID_ARGUMENT",
        `graph store ${url}: expected bigtable://PROJECT/INSTANCE/TABLE`,
      );
    }
    const { BigtableGraphStore } = await import("./bigtable.js");
    return BigtableGraphStore.open({
      project: parts[0],
      instance: parts[1],
      table: parts[2],
      create,
    });
  }
  if (scheme === "mem") {
    let s = memories.get(rest);
    if (!s) {
      s = new MemoryGraphStore();
      memories.set(rest, s);
    }
    return s;
  }
  throw new VoxportError("UNSUPPORTED", `graph store ${url}: unknown scheme ${scheme}://`);
}

/** Opens (or shares) the store at `url`; release it with the returned `close`. */
export async function openGraphStore(
  url: string,
  opts: { create?: boolean } = {},
): Promise<{ store: GraphStore; close(): Promise<void> }> {
  let shared = open.get(url);
  if (!shared) {
    shared = { store: openNew(url, opts.create ?? false), users: 0 };
    open.set(url, shared);
    shared.store.catch(() => open.delete(url));
  }
  shared.users++;
  const store = await shared.store;
  const entry = shared;
  let closed = false;
  return {
    store,
    close: async () => {
      if (closed) return;
      closed = true;
      if (--entry.users > 0) return;
      open.delete(url);
      await store.close();
    },
  };
}
