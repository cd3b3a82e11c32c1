#!/usr/bin/env node
// Provision redis-server for the queue tests (test/queue/) and `npm run bench`.
//
// Idempotent: when `redis-server` is on PATH nothing happens. Otherwise it runs
// `apt-get install -y redis-server` (Debian/Ubuntu), with `apt-get update` first when the
// package lists are missing or the first install attempt cannot find the package. Nothing is
// started here: each test starts its own server on a free loopback port and stops it.
//
//   node test/setup/provision-redis.mjs
//   VOXPORT_SKIP_REDIS=1   do nothing (the Redis tests then skip, except under CI=true)
import { spawnSync } from "node:child_process";

const t0 = performance.now();
const log = (m) => console.log(`# redis: ${m} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);

function has(cmd) {
  return spawnSync(cmd, ["--version"], { encoding: "utf8" }).status === 0;
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, {
    encoding: "utf8",
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
  });
  return r;
}

if (process.env.VOXPORT_SKIP_REDIS === "1") {
  log("skipped (VOXPORT_SKIP_REDIS=1)");
  process.exit(0);
}
if (has("redis-server")) {
  log("redis-server present");
  process.exit(0);
}
if (!has("apt-get")) {
  console.error(
    "provision-redis: redis-server is missing and apt-get is not available; install Redis ≥ 6 " +
      "so that `redis-server` is on PATH",
  );
  process.exit(1);
}
const sudo = process.getuid?.() === 0 ? [] : ["sudo", "-n"];
const apt = (...args) =>
  run(sudo[0] ?? "apt-get", sudo.length ? [...sudo.slice(1), "apt-get", ...args] : args);

let r = apt("install", "-y", "--no-install-recommends", "redis-server");
if (r.status !== 0) {
  log("apt-get install failed; running apt-get update and retrying");
  const u = apt("update");
  if (u.status !== 0) {
    console.error(`provision-redis: apt-get update failed:\n${u.stderr}`);
    process.exit(1);
  }
  r = apt("install", "-y", "--no-install-recommends", "redis-server");
}
if (r.status !== 0 || !has("redis-server")) {
  console.error(`provision-redis: apt-get install redis-server failed:\n${r.stdout}\n${r.stderr}`);
  process.exit(1);
}
// Debian's package may start a system service on port 6379; the tests never use it.
log("installed redis-server");
