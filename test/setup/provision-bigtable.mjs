#!/usr/bin/env node
// Provision the Cloud Bigtable emulator for the graph-store tests (test/graph/).
//
// Idempotent: when <repo>/.cache/go-bin/emulator exists nothing happens. Otherwise it builds
// the emulator with `go install` from the Go module proxy at a pinned version, installing Go
// from Debian's packages first when no `go` is on PATH (or in /usr/local/go/bin).
//
//   node test/setup/provision-bigtable.mjs
//   VOXPORT_SKIP_BIGTABLE=1   do nothing (the Bigtable tests then skip, except under CI=true)
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const VERSION = "v1.58.0";
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const BIN = `${ROOT}.cache/go-bin`;
const t0 = performance.now();
const log = (m) =>
  console.log(`# bigtable: ${m} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);

if (process.env.VOXPORT_SKIP_BIGTABLE === "1") {
  log("skipped (VOXPORT_SKIP_BIGTABLE=1)");
  process.exit(0);
}
if (existsSync(`${BIN}/emulator`)) {
  log("emulator present");
  process.exit(0);
}

function findGo() {
  for (const go of ["go", "/usr/local/go/bin/go", "/usr/lib/go/bin/go"]) {
    if (spawnSync(go, ["version"], { encoding: "utf8" }).status === 0) return go;
  }
  return undefined;
}

let go = findGo();
if (!go) {
  log("no Go toolchain; installing Debian's golang-go");
  const sudo = process.getuid?.() === 0 ? [] : ["sudo", "-n"];
  const apt = (...args) =>
    spawnSync(sudo[0] ?? "apt-get", sudo.length ? [...sudo.slice(1), "apt-get", ...args] : args, {
      encoding: "utf8",
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
    });
  let r = apt("install", "-y", "--no-install-recommends", "golang-go", "ca-certificates");
  if (r.status !== 0) {
    apt("update");
    r = apt("install", "-y", "--no-install-recommends", "golang-go", "ca-certificates");
  }
  go = findGo();
  if (!go) {
    console.error(`provision-bigtable: could not install Go:\n${r.stderr}`);
    process.exit(1);
  }
}
log(`building the emulator ${VERSION} with ${go}`);
const r = spawnSync(go, ["install", `cloud.google.com/go/bigtable/cmd/emulator@${VERSION}`], {
  encoding: "utf8",
  env: { ...process.env, GOBIN: BIN, GOFLAGS: "-mod=mod", GOTOOLCHAIN: "auto" },
});
if (r.status !== 0 || !existsSync(`${BIN}/emulator`)) {
  console.error(`provision-bigtable: go install failed:\n${r.stdout}\n${r.stderr}`);
  process.exit(1);
}
log("emulator built");
