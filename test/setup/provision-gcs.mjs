#!/usr/bin/env node
// Provision the GCS emulator the cloud-storage tests run against: `gcp-storage-emulator` from
// PyPI, in a venv of its own at <repo>/.venv-servers (git-ignored; kept apart from the .venv that
// provision-python.mjs builds for the Python peers, so neither install disturbs the other).
//
// Idempotent: when `.venv-servers/bin/gcp-storage-emulator` runs, nothing is installed.
//
//   node test/setup/provision-gcs.mjs [--force]
//   VOXPORT_PYTHON=/usr/bin/python3.11   interpreter to build the venv from (default python3)
//   VOXPORT_SKIP_GCS=1                   do nothing (the GCS tests then skip, except under CI=true)
import { spawnSync } from "node:child_process";
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const EMULATOR = "gcp-storage-emulator==2026.7.19";

const root = new URL("../..", import.meta.url).pathname;
const venv = join(root, ".venv-servers");
const venvPython = join(venv, "bin", "python");
const stampFile = join(venv, ".voxport-gcs");
const basePython = process.env.VOXPORT_PYTHON || "python3";
const force = process.argv.includes("--force");
const t0 = performance.now();
const secs = (t) => `${((performance.now() - t) / 1000).toFixed(1)} s`;
const log = (m) => console.log(`# gcs emulator: ${m}`);

function run(cmd, args, opts = {}) {
  return spawnSync(cmd, args, { encoding: "utf8", cwd: root, maxBuffer: 64 << 20, ...opts });
}

function fail(message, r) {
  console.error(`provision-gcs: ${message}`);
  if (r) {
    if (r.error) console.error(String(r.error));
    const out = `${r.stdout ?? ""}${r.stderr ?? ""}`.trim();
    if (out) console.error(out.split("\n").slice(-40).join("\n"));
  }
  process.exit(1);
}

if (process.env.VOXPORT_SKIP_GCS === "1") {
  log("skipped (VOXPORT_SKIP_GCS=1)");
  process.exit(0);
}

const works = () =>
  existsSync(venvPython) &&
  run(venvPython, ["-c", "import gcp_storage_emulator.server"]).status === 0;

if (!force && existsSync(stampFile) && works()) {
  log(`up to date (${secs(t0)})`);
  process.exit(0);
}

if (force || !existsSync(venvPython) || run(venvPython, ["-c", "pass"]).status !== 0) {
  rmSync(venv, { recursive: true, force: true });
  let r = run(basePython, ["-m", "venv", venv]);
  if (r.status !== 0 && /ensurepip|python3(\.\d+)?-venv/.test(`${r.stdout}${r.stderr}`)) {
    if (!existsSync("/etc/debian_version")) fail("python3 -m venv failed (no ensurepip)", r);
    log("python3-venv is missing; installing it with apt-get");
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    const sudo = process.getuid?.() === 0 ? [] : ["sudo", "-n"];
    const apt = (...a) => {
      const [cmd, ...rest] = [...sudo, "apt-get", ...a];
      return run(cmd, rest, { env });
    };
    let a = apt("install", "-y", "-q", "python3-venv");
    if (a.status !== 0) {
      apt("update", "-q");
      a = apt("install", "-y", "-q", "python3-venv");
    }
    if (a.status !== 0) fail("apt-get install python3-venv failed", a);
    rmSync(venv, { recursive: true, force: true });
    r = run(basePython, ["-m", "venv", venv]);
  }
  if (r.status !== 0) fail(`${basePython} -m venv ${venv} failed`, r);
}

rmSync(stampFile, { force: true });
const ti = performance.now();
const pip = run(venvPython, [
  "-m",
  "pip",
  "install",
  "--disable-pip-version-check",
  "--no-input",
  "--progress-bar",
  "off",
  EMULATOR,
]);
if (pip.status !== 0) fail(`pip install ${EMULATOR} failed`, pip);
if (!works()) fail("gcp_storage_emulator does not import after installing it");
writeFileSync(stampFile, `${EMULATOR}\n`);
log(`installed ${EMULATOR} into .venv-servers (pip ${secs(ti)}; total ${secs(t0)})`);
