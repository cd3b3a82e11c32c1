import { execFile, spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { commandExists, freePort, httpUp, ManagedProcess, waitFor } from "./common.js";

/**
 * A real OpenStack Keystone (Debian's package, installed by test/setup/provision-swift.mjs) for
 * the Swift Keystone v3 tests: SQLite database and Fernet keys in a temporary folder,
 * `keystone-manage bootstrap` for an admin user/project, an `object-store` service whose public
 * endpoint is `objectStoreUrl` (so clients find Swift in the token's catalog), and
 * keystone-wsgi-public's own test server on a free loopback port.
 */

const execFileAsync = promisify(execFile);

export interface KeystoneServer {
  /** http://127.0.0.1:PORT/v3 */
  authUrl: string;
  username: string;
  password: string;
  project: string;
  stop(): Promise<void>;
}

export function keystoneAvailable(): boolean {
  return (
    commandExists("keystone-manage") &&
    commandExists("keystone-wsgi-public") &&
    spawnSync("/usr/bin/python3", ["-c", "import keystonemiddleware.auth_token"], {
      stdio: "ignore",
    }).status === 0
  );
}

export async function startKeystone(opts: {
  port?: number;
  /** Public object-store endpoint, may use $(project_id)s. */
  objectStoreUrl?: string;
}): Promise<KeystoneServer> {
  const dir = await mkdtemp(join(tmpdir(), "voxport-keystone-"));
  const port = opts.port ?? (await freePort());
  const authUrl = `http://127.0.0.1:${port}/v3`;
  const password = "keystone-admin-Pw-4417";
  const conf = join(dir, "keystone.conf");
  await writeFile(
    conf,
    `[DEFAULT]
log_dir = ${dir}
[database]
connection = sqlite:///${dir}/keystone.db
[token]
provider = fernet
[fernet_tokens]
key_repository = ${dir}/fernet-keys
[credential]
key_repository = ${dir}/credential-keys
`,
  );
  let proc: ManagedProcess | undefined;
  const stop = async () => {
    await proc?.stop();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    // Asynchronous: db_sync takes tens of seconds, and Swift starts meanwhile.
    const manage = async (...args: string[]) => {
      try {
        await execFileAsync("keystone-manage", ["--config-file", conf, ...args], {
          maxBuffer: 16 << 20,
        });
      } catch (e) {
        const stderr = String((e as { stderr?: unknown }).stderr ?? e);
        throw new Error(`keystone-manage ${args[0]} failed: ${stderr.slice(-2000)}`);
      }
    };
    await manage("db_sync");
    await manage("fernet_setup", "--keystone-user", "root", "--keystone-group", "root");
    await manage("credential_setup", "--keystone-user", "root", "--keystone-group", "root");
    await manage(
      "bootstrap",
      "--bootstrap-password",
      password,
      "--bootstrap-admin-url",
      `${authUrl}/`,
      "--bootstrap-public-url",
      `${authUrl}/`,
      "--bootstrap-internal-url",
      `${authUrl}/`,
      "--bootstrap-region-id",
      "RegionOne",
    );
    proc = new ManagedProcess(
      "keystone",
      "keystone-wsgi-public",
      ["--host", "127.0.0.1", "--port", String(port)],
      { env: { OS_KEYSTONE_CONFIG_FILES: conf } },
    );
    await waitFor("keystone", () => httpUp(`${authUrl}/`), { child: proc, timeoutMs: 60_000 });
    if (opts.objectStoreUrl) {
      const token = await adminToken(authUrl, password);
      const call = async (path: string, body: unknown) => {
        const r = await fetch(`${authUrl}${path}`, {
          method: "POST",
          headers: { "X-Auth-Token": token, "Content-Type": "application/json" },
          body: JSON.stringify(body),
        });
        if (!r.ok) throw new Error(`keystone POST ${path}: HTTP ${r.status} ${await r.text()}`);
        return (await r.json()) as Record<string, { id: string }>;
      };
      const service = await call("/services", { service: { type: "object-store", name: "swift" } });
      await call("/endpoints", {
        endpoint: {
          service_id: service.service.id,
          interface: "public",
          region_id: "RegionOne",
          url: opts.objectStoreUrl,
        },
      });
    }
    return { authUrl, username: "admin", password, project: "admin", stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

async function adminToken(authUrl: string, password: string): Promise<string> {
  const r = await fetch(`${authUrl}/auth/tokens`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({
      auth: {
        identity: {
          methods: ["password"],
          password: { user: { name: "admin", domain: { name: "Default" }, password } },
        },
        scope: { project: { name: "admin", domain: { name: "Default" } } },
      },
    }),
  });
  await r.body?.cancel();
  const token = r.headers.get("x-subject-token");
  if (!token) throw new Error(`keystone admin token: HTTP ${r.status}`);
  return token;
}
