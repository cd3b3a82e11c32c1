#!/usr/bin/env node
// Provision the OpenStack Swift all-in-one the cloud-storage tests start (test/servers/swift.ts):
// Debian's swift-proxy, swift-object, swift-container, swift-account and memcached packages,
// plus keystone and python3-keystonemiddleware for the Keystone v3 tests
// (test/servers/keystone.ts). Nothing is started here; the tests build a one-replica ring and a
// SQLite Keystone in temporary folders and run the servers on free loopback ports.
//
// Idempotent: when every program is on PATH, nothing is installed. Otherwise it runs
// `apt-get update` once, then `apt-get install -y …` (as root, or through `sudo -n`).
//
//   node test/setup/provision-swift.mjs
//   VOXPORT_SKIP_SWIFT=1     do nothing (the Swift tests then skip, except under CI=true)
//   VOXPORT_SKIP_KEYSTONE=1  Swift only, no Keystone (its tests then skip, CI too)
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

const withKeystone = process.env.VOXPORT_SKIP_KEYSTONE !== "1";
const PACKAGES = [
  "swift-proxy",
  "swift-object",
  "swift-container",
  "swift-account",
  "memcached",
  ...(withKeystone ? ["keystone", "python3-keystonemiddleware"] : []),
];
const PROGRAMS = [
  "swift-proxy-server",
  "swift-object-server",
  "swift-container-server",
  "swift-account-server",
  "swift-ring-builder",
  "memcached",
  ...(withKeystone ? ["keystone-manage", "keystone-wsgi-public"] : []),
];
const t0 = performance.now();
const secs = () => `${((performance.now() - t0) / 1000).toFixed(1)} s`;
const log = (m) => console.log(`# swift: ${m}`);

if (process.env.VOXPORT_SKIP_SWIFT === "1") {
  log("skipped (VOXPORT_SKIP_SWIFT=1)");
  process.exit(0);
}

const which = (p) => spawnSync("sh", ["-c", `command -v ${p}`], { encoding: "utf8" }).status === 0;
const middleware = () =>
  !withKeystone ||
  spawnSync("/usr/bin/python3", ["-c", "import keystonemiddleware.auth_token"], { stdio: "ignore" })
    .status === 0;
const missing = () => [
  ...PROGRAMS.filter((p) => !which(p)),
  ...(middleware() ? [] : ["python3-keystonemiddleware"]),
];

if (missing().length === 0) {
  log(`up to date (${secs()})`);
  process.exit(0);
}
if (!existsSync("/etc/debian_version")) {
  console.error(`provision-swift: missing ${missing().join(", ")} and this is not Debian/Ubuntu`);
  process.exit(1);
}
log(`missing ${missing().join(", ")}; installing ${PACKAGES.join(" ")} with apt-get`);
const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
const sudo = process.getuid?.() === 0 ? [] : ["sudo", "-n"];
function apt(...args) {
  const [cmd, ...rest] = [...sudo, "apt-get", ...args];
  const r = spawnSync(cmd, rest, { env, encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.status !== 0) {
    console.error(`provision-swift: apt-get ${args.join(" ")} failed (exit ${r.status})`);
    console.error(`${r.stdout ?? ""}${r.stderr ?? ""}`.trim().split("\n").slice(-30).join("\n"));
    process.exit(1);
  }
}
apt("update", "-q");
apt("install", "-y", "-q", "--no-install-recommends", ...PACKAGES);
// The packages start system services we do not use (the tests run their own servers).
for (const svc of [
  "memcached",
  "swift-proxy",
  "swift-object",
  "swift-container",
  "swift-account",
]) {
  spawnSync("sh", ["-c", `command -v service >/dev/null && service ${svc} stop`], {
    stdio: "ignore",
  });
}
const still = missing();
if (still.length > 0) {
  console.error(`provision-swift: still missing after install: ${still.join(", ")}`);
  process.exit(1);
}
log(`installed (${secs()})`);
