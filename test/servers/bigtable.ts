import { existsSync } from "node:fs";
import { createConnection } from "node:net";
import { fileURLToPath } from "node:url";
import { freePort, ManagedProcess, waitFor } from "./common.js";

/**
 * The Cloud Bigtable emulator (Go, `cloud.google.com/go/bigtable/cmd/emulator`, built into
 * <repo>/.cache/go-bin by test/setup/provision-bigtable.mjs), in memory, on a free port.
 * Clients reach it through BIGTABLE_EMULATOR_HOST.
 */
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const BIGTABLE_EMULATOR = `${ROOT}.cache/go-bin/emulator`;

export interface BigtableServer {
  /** Value for BIGTABLE_EMULATOR_HOST. */
  host: string;
  stop(): Promise<void>;
}

export function bigtableAvailable(): boolean {
  return existsSync(BIGTABLE_EMULATOR);
}

function tcpUp(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host: "127.0.0.1", port }, () => {
      s.end();
      resolve(true);
    });
    s.on("error", () => resolve(false));
  });
}

export async function startBigtable(): Promise<BigtableServer> {
  const port = await freePort();
  const proc = new ManagedProcess("bigtable emulator", BIGTABLE_EMULATOR, [
    "-host",
    "127.0.0.1",
    "-port",
    String(port),
  ]);
  await waitFor("bigtable emulator", () => tcpUp(port), { child: proc, timeoutMs: 30_000 });
  return { host: `127.0.0.1:${port}`, stop: () => proc.stop() };
}
