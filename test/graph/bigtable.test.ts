import { after, before, describe } from "node:test";
import { BigtableGraphStore } from "../../src/graph/stores/bigtable.js";
import { graphStoreConformance } from "../conformance/graph-store.js";
import { type BigtableServer, bigtableAvailable, startBigtable } from "../servers/bigtable.js";
import { skipUnless } from "../servers/common.js";

const skip = skipUnless(
  bigtableAvailable(),
  "the Bigtable emulator",
  "test/setup/provision-bigtable.mjs",
);

describe("graph store: Bigtable (emulator)", { skip }, () => {
  let server: BigtableServer;
  let n = 0;
  before(async () => {
    server = await startBigtable();
    process.env.BIGTABLE_EMULATOR_HOST = server.host;
    // No GCE metadata server here: do not let the auth library probe for one.
    process.env.METADATA_SERVER_DETECTION = "none";
  });
  after(async () => {
    delete process.env.BIGTABLE_EMULATOR_HOST;
    await server?.stop();
  });
  graphStoreConformance(() =>
    BigtableGraphStore.open({
      project: "test",
      instance: "test",
      table: `graph${++n}`,
      create: true,
    }),
  );
});
