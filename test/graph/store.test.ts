import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe } from "node:test";
import { MemoryGraphStore } from "../../src/graph/store.js";
import { LevelGraphStore } from "../../src/graph/stores/level.js";
import { graphStoreConformance } from "../conformance/graph-store.js";

describe("graph store: memory", () => graphStoreConformance(async () => new MemoryGraphStore()));

describe("graph store: LevelDB", () =>
  graphStoreConformance(async () =>
    LevelGraphStore.open(join(await mkdtemp(join(tmpdir(), "vx-graph-level-")), "db")),
  ));
