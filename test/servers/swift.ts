import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { commandExists, freePort, ManagedProcess, waitFor } from "./common.js";

/**
 * A real OpenStack Swift (Debian's 2.30 packages, installed by test/setup/provision-swift.mjs)
 * as a single-node all-in-one under one temporary folder, following test-servers.md: account,
 * container and object servers with one-replica rings, a proxy with tempauth
 * (`test:tester` / `testing`, an admin of AUTH_test) and the slo middleware (static large
 * objects), and memcached for the tokens. Every port
 * is a free loopback port; `stop()` ends all five processes and removes the folder.
 */

export interface SwiftServer {
  /** tempauth v1 endpoint, e.g. http://127.0.0.1:PORT/auth/v1.0 */
  authUrl: string;
  proxyUrl: string;
  user: string;
  key: string;
  dir: string;
  /** Writes a SWIFT_SETTINGS JSON (HBP layout) with the given file mode; returns its path. */
  writeSettings(name: string, mode: number, overrides?: Record<string, string>): Promise<string>;
  stop(): Promise<void>;
}

const PROGRAMS = [
  "swift-proxy-server",
  "swift-object-server",
  "swift-container-server",
  "swift-account-server",
  "swift-ring-builder",
  "memcached",
];

/** The interpreter Debian's Swift scripts run with (from swift-ring-builder's #! line). */
function swiftPython(): string {
  const path = spawnSync("sh", ["-c", "command -v swift-ring-builder"], { encoding: "utf8" });
  const first = readFileSync(path.stdout.trim(), "utf8").split("\n")[0];
  return /^#!\s*(\S+)/.exec(first)?.[1] ?? "/usr/bin/python3";
}

export function swiftAvailable(): boolean {
  return PROGRAMS.every(commandExists);
}

/** Keystone v3 in front of Swift instead of tempauth (keystonemiddleware's authtoken). */
export interface SwiftKeystone {
  /** e.g. http://127.0.0.1:PORT/v3 */
  authUrl: string;
  /** A user with the admin role, used by authtoken as its service user. */
  username: string;
  password: string;
  project: string;
}

export async function startSwift(
  /** slo: false leaves the static-large-object middleware out (a cluster without it). */
  opts: { proxyPort?: number; keystone?: SwiftKeystone; slo?: boolean } = {},
): Promise<SwiftServer> {
  const dir = await mkdtemp(join(tmpdir(), "voxport-swift-"));
  const conf = join(dir, "conf");
  await mkdir(conf);
  await mkdir(join(dir, "node", "sdb1"), { recursive: true });
  const [mem, account, container, object, proxy] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
    opts.proxyPort ?? (await freePort()),
  ];
  const ks = opts.keystone;
  const processes: ManagedProcess[] = [];
  const stop = async () => {
    if (process.env.VOXPORT_DEBUG_SWIFT)
      for (const p of processes) console.error(`--- ${p.name}\n${p.output()}`);
    await Promise.all(processes.map((p) => p.stop()));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const server = (kind: string, port: number, extra = "") => `[DEFAULT]
bind_ip = 127.0.0.1
bind_port = ${port}
user = root
devices = ${join(dir, "node")}
mount_check = false
workers = 1
swift_dir = ${conf}
log_level = WARNING

[pipeline:main]
pipeline = ${kind}-server

[app:${kind}-server]
use = egg:swift#${kind}
${extra}
[${kind}-replicator]
[${kind}-auditor]
[${kind}-updater]
`;
    await writeFile(join(conf, "account-server.conf"), server("account", account));
    await writeFile(join(conf, "container-server.conf"), server("container", container));
    await writeFile(join(conf, "object-server.conf"), server("object", object));
    await writeFile(
      join(conf, "proxy-server.conf"),
      `[DEFAULT]
bind_ip = 127.0.0.1
bind_port = ${proxy}
user = root
workers = 1
swift_dir = ${conf}
log_level = WARNING

[pipeline:main]
pipeline = catch_errors cache ${ks ? "authtoken keystoneauth" : "tempauth"}${opts.slo === false ? "" : " slo"} proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
allow_account_management = true

[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = testing .admin
token_life = 3600

${
  ks
    ? `[filter:authtoken]
paste.filter_factory = keystonemiddleware.auth_token:filter_factory
www_authenticate_uri = ${ks.authUrl}
auth_url = ${ks.authUrl}
auth_type = password
user_domain_name = Default
project_domain_name = Default
username = ${ks.username}
password = ${ks.password}
project_name = ${ks.project}
delay_auth_decision = True
memcached_servers = 127.0.0.1:${mem}

[filter:keystoneauth]
use = egg:swift#keystoneauth
operator_roles = admin, member
`
    : ""
}
[filter:slo]
use = egg:swift#slo

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:${mem}

[filter:catch_errors]
use = egg:swift#catch_errors
`,
    );
    // All three rings in one Python process (swift-ring-builder would import Swift nine times).
    const script = [
      "import sys",
      "from swift.common.ring import RingBuilder",
      "conf = sys.argv[1]",
      "for name, port in zip(('account', 'container', 'object'), sys.argv[2:]):",
      "    b = RingBuilder(10, 1, 1)",
      "    b.add_dev({'region': 1, 'zone': 1, 'ip': '127.0.0.1', 'port': int(port), 'device': 'sdb1', 'weight': 1})",
      "    b.rebalance()",
      "    b.save(f'{conf}/{name}.builder')",
      "    b.get_ring().save(f'{conf}/{name}.ring.gz')",
    ].join("\n");
    const rings = spawnSync(
      swiftPython(),
      ["-c", script, conf, String(account), String(container), String(object)],
      { encoding: "utf8" },
    );
    if (rings.status !== 0) throw new Error(`building the Swift rings failed: ${rings.stderr}`);
    processes.push(
      new ManagedProcess("memcached", "memcached", [
        "-u",
        "root",
        "-l",
        "127.0.0.1",
        "-p",
        String(mem),
        "-U",
        "0",
      ]),
    );
    for (const kind of ["account", "container", "object", "proxy"]) {
      processes.push(
        new ManagedProcess(`swift-${kind}-server`, `swift-${kind}-server`, [
          join(conf, `${kind}-server.conf`),
          "-v",
        ]),
      );
    }
    const proxyUrl = `http://127.0.0.1:${proxy}`;
    const authUrl = `${proxyUrl}/auth/v1.0`;
    await waitFor(
      "swift all-in-one",
      async () => {
        for (const p of processes) {
          if (p.exited) throw new Error(`${p.name} exited (${p.exitInfo()}): ${p.output()}`);
        }
        if (ks) {
          // No tempauth to try: the proxy answering /info is enough (writes retry on 503).
          const info = await fetch(`${proxyUrl}/info`, { signal: AbortSignal.timeout(3000) });
          await info.body?.cancel();
          return info.ok;
        }
        const r = await fetch(authUrl, {
          headers: { "X-Storage-User": "test:tester", "X-Storage-Pass": "testing" },
          signal: AbortSignal.timeout(3000),
        });
        await r.body?.cancel();
        if (!r.ok) return false;
        // The account must be writable too (account/container servers up).
        const token = r.headers.get("x-auth-token")!;
        const storage = r.headers.get("x-storage-url")!;
        const put = await fetch(`${storage}/voxport-probe`, {
          method: "PUT",
          headers: { "X-Auth-Token": token },
          signal: AbortSignal.timeout(3000),
        });
        await put.body?.cancel();
        return put.status === 201 || put.status === 202;
      },
      { timeoutMs: 60_000 },
    );
    return {
      authUrl,
      proxyUrl,
      user: "test:tester",
      key: "testing",
      dir,
      async writeSettings(name, mode, overrides = {}) {
        const path = join(dir, name);
        const settings = {
          auth_version: "1",
          os_username: "test:tester",
          os_password: "testing",
          os_auth_url: authUrl,
          ...overrides,
        };
        await writeFile(path, JSON.stringify(settings, null, 1), { mode });
        await chmod(path, mode);
        return path;
      },
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
