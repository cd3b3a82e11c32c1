import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { freePort, httpUp, ManagedProcess, waitFor } from "./common.js";

/**
 * moto's stand-alone server (S3 and SQS on one port), as in test-servers.md: the machine's
 * python3 has moto[server] (elsewhere `pip install "moto[server]"`, which
 * test/setup/provision-moto.mjs does). Any credentials, region us-east-1, path-style URLs.
 */

export interface MotoServer {
  endpoint: string;
  port: number;
  stop(): Promise<void>;
}

const VENV_PYTHON = fileURLToPath(new URL("../../.venv-servers/bin/python", import.meta.url));

const hasMoto = (python: string) =>
  spawnSync(python, ["-c", "import moto.server, flask"], { stdio: "ignore" }).status === 0;

let resolved: string | null | undefined;

/** python3 when it has moto, else the .venv-servers interpreter provision-moto.mjs fills. */
export function motoPython(): string | undefined {
  if (resolved === undefined) {
    const explicit = process.env.VOXPORT_MOTO_PYTHON;
    resolved =
      [explicit, "python3", existsSync(VENV_PYTHON) ? VENV_PYTHON : undefined]
        .filter((p): p is string => p !== undefined && p !== "")
        .find(hasMoto) ?? null;
  }
  return resolved ?? undefined;
}

export function motoAvailable(): boolean {
  return motoPython() !== undefined;
}

/**
 * Starts moto on a free port. `env` reaches the server process, e.g.
 * INITIAL_NO_AUTH_ACTION_COUNT to make it check credentials.
 */
export async function startMoto(opts: { env?: NodeJS.ProcessEnv } = {}): Promise<MotoServer> {
  const port = await freePort();
  const proc = new ManagedProcess(
    "moto",
    motoPython() ?? "python3",
    ["-m", "moto.server", "-H", "127.0.0.1", "-p", String(port)],
    { env: { PYTHONUNBUFFERED: "1", ...opts.env } },
  );
  const endpoint = `http://127.0.0.1:${port}`;
  await waitFor("moto server", () => httpUp(`${endpoint}/moto-api/`), {
    child: proc,
    timeoutMs: 60_000,
  });
  return { endpoint, port, stop: () => proc.stop() };
}

/** Environment for the AWS SDK to talk to moto (dummy credentials, no real AWS config read). */
export function motoEnv(endpoint: string): Record<string, string> {
  return {
    AWS_ACCESS_KEY_ID: "testing",
    AWS_SECRET_ACCESS_KEY: "testing-secret",
    AWS_REGION: "us-east-1",
    AWS_ENDPOINT_URL_S3: endpoint,
    AWS_EC2_METADATA_DISABLED: "true",
  };
}
