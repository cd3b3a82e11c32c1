import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { freePort, httpUp, ManagedProcess, waitFor } from "./common.js";

/**
 * The GCS emulator from PyPI (`gcp-storage-emulator`, installed into <repo>/.venv-servers by
 * test/setup/provision-gcs.mjs), in memory, on a free port. Clients reach it through
 * STORAGE_EMULATOR_HOST. It speaks the JSON API the official client uses (media and multipart
 * uploads, resumable uploads, ranged downloads with `bytes=a-b`), but it does not paginate
 * listings, does not honour suffix ranges, and never sends Content-Encoding on downloads.
 */

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const GCS_EMULATOR = `${ROOT}.venv-servers/bin/gcp-storage-emulator`;

export interface GcsServer {
  /** Value for STORAGE_EMULATOR_HOST. */
  host: string;
  stop(): Promise<void>;
}

export function gcsAvailable(): boolean {
  return existsSync(GCS_EMULATOR);
}

export async function startGcs(): Promise<GcsServer> {
  const port = await freePort();
  const proc = new ManagedProcess("gcs emulator", GCS_EMULATOR, [
    "start",
    "--host",
    "127.0.0.1",
    "--port",
    String(port),
    "--in-memory",
    "--quiet",
  ]);
  const host = `http://127.0.0.1:${port}`;
  await waitFor("gcs emulator", () => httpUp(`${host}/storage/v1/b`), {
    child: proc,
    timeoutMs: 60_000,
  });
  return { host, stop: () => proc.stop() };
}

/** Creates a bucket through the emulator's JSON API. */
export async function createGcsBucket(host: string, bucket: string): Promise<void> {
  const r = await fetch(`${host}/storage/v1/b?project=test`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ name: bucket }),
  });
  if (!r.ok && r.status !== 409)
    throw new Error(`create bucket ${bucket}: HTTP ${r.status} ${await r.text()}`);
  await r.body?.cancel();
}
