#!/usr/bin/env node
// Provision moto's stand-alone server (S3 + SQS) for the tests that start it
// (test/servers/moto.ts; the cloud-storage and SQS queue tests). test-servers.md: moto 5.2 with
// Flask is preinstalled in this machine's python3. Elsewhere `moto[server]` is pip-installed
// into <repo>/.venv-servers (git-ignored, shared with the GCS emulator of provision-gcs.mjs),
// and the tests use that interpreter.
//
// Idempotent: nothing is installed when python3 (or .venv-servers) already imports moto.server.
//
//   node test/setup/provision-moto.mjs
//   VOXPORT_PYTHON=/usr/bin/python3.11   interpreter to build the venv from (default python3)
//   VOXPORT_SKIP_MOTO=1                  do nothing
import { spawnSync } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";

const MOTO = "moto[server]==5.2.1";
const root = new URL("../..", import.meta.url).pathname;
const venv = join(root, ".venv-servers");
const venvPython = join(venv, "bin", "python");
const basePython = process.env.VOXPORT_PYTHON || "python3";
const t0 = performance.now();
const secs = () => `${((performance.now() - t0) / 1000).toFixed(1)} s`;
const log = (m) => console.log(`# moto: ${m}`);
const run = (cmd, args) =>
  spawnSync(cmd, args, { encoding: "utf8", cwd: root, maxBuffer: 64 << 20 });
const imports = (python) =>
  existsSync(python) || python === basePython
    ? run(python, ["-c", "import moto.server, flask"]).status === 0
    : false;

if (process.env.VOXPORT_SKIP_MOTO === "1") {
  log("skipped (VOXPORT_SKIP_MOTO=1)");
  process.exit(0);
}
if (imports(basePython)) {
  log(`up to date (${basePython} has moto; ${secs()})`);
  process.exit(0);
}
if (imports(venvPython)) {
  log(`up to date (.venv-servers has moto; ${secs()})`);
  process.exit(0);
}
if (!existsSync(venvPython) || run(venvPython, ["-c", "pass"]).status !== 0) {
  rmSync(venv, { recursive: true, force: true });
  const r = run(basePython, ["-m", "venv", venv]);
  if (r.status !== 0) {
    console.error(`provision-moto: ${basePython} -m venv failed:\n${r.stderr}`);
    console.error(
      "(on Debian/Ubuntu: apt-get install -y python3-venv, or run provision-gcs.mjs first)",
    );
    process.exit(1);
  }
}
const pip = run(venvPython, [
  "-m",
  "pip",
  "install",
  "--disable-pip-version-check",
  "--no-input",
  "--progress-bar",
  "off",
  MOTO,
]);
if (pip.status !== 0 || !imports(venvPython)) {
  console.error(`provision-moto: pip install ${MOTO} failed:\n${pip.stdout}${pip.stderr}`.trim());
  process.exit(1);
}
log(`installed ${MOTO} into .venv-servers (${secs()})`);
