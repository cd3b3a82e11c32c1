#!/usr/bin/env node
// Provisions Debian's Chromium for the viewer end-to-end tests (test/viewer/), driven by npm
// playwright-core (which downloads no browser of its own). Idempotent: when /usr/bin/chromium
// (or $VOXPORT_CHROMIUM) exists it only says so. Otherwise, as root (CI, the dev machines):
// `apt-get update` then `apt-get install -y chromium`, printing what it does.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

const CHROMIUM = process.env.VOXPORT_CHROMIUM ?? "/usr/bin/chromium";

function version() {
  const r = spawnSync(CHROMIUM, ["--version"], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : "version unknown";
}

if (existsSync(CHROMIUM)) {
  console.log(`provision-chromium: ${CHROMIUM} present (${version()})`);
  process.exit(0);
}

if (process.env.VOXPORT_CHROMIUM) {
  console.error(`provision-chromium: VOXPORT_CHROMIUM=${CHROMIUM} does not exist`);
  process.exit(1);
}

const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
const prefix = isRoot ? [] : ["sudo", "-n"];
if (!isRoot && spawnSync("sudo", ["-n", "true"]).status !== 0) {
  console.error(
    "provision-chromium: /usr/bin/chromium is missing and this is not root (and sudo needs a " +
      "password); install it with `sudo apt-get install -y chromium`",
  );
  process.exit(1);
}

function run(args) {
  const [cmd, ...rest] = [...prefix, ...args];
  console.log(`provision-chromium: $ ${[cmd, ...rest].join(" ")}`);
  const started = Date.now();
  const r = spawnSync(cmd, rest, {
    stdio: ["ignore", "inherit", "inherit"],
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
  });
  if (r.error) {
    console.error(`provision-chromium: cannot run ${cmd}: ${r.error.message}`);
    process.exit(1);
  }
  if (r.status !== 0) {
    console.error(`provision-chromium: ${args.join(" ")} failed (exit ${r.status})`);
    process.exit(r.status ?? 1);
  }
  console.log(`provision-chromium: done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

console.log(`provision-chromium: ${CHROMIUM} is missing; installing Debian's chromium`);
run(["apt-get", "update", "-q"]);
run(["apt-get", "install", "-y", "-q", "chromium"]);
if (!existsSync(CHROMIUM)) {
  console.error(`provision-chromium: apt-get installed chromium but ${CHROMIUM} is still missing`);
  process.exit(1);
}
console.log(`provision-chromium: installed ${version()}`);
