#!/usr/bin/env node
// Provision the Python peers (CloudVolume, TensorStore, numpy) that test/interop and
// `npm run bench` compare voxport against: a venv at <repo>/.venv (git-ignored) with the pinned
// versions of test/interop/requirements.txt (+ constraints.txt, the full lock).
//
// Idempotent: after a successful install it writes .venv/.voxport-requirements (a hash of the
// requirement files and the interpreter version); when that matches, nothing is installed.
// If `python3 -m venv` fails because Debian's python3-venv is missing, it apt-get installs it.
//
//   node test/setup/provision-python.mjs [--force]
//   VOXPORT_PYTHON=/usr/bin/python3.11   interpreter to build the venv from (default python3)
//   VOXPORT_SKIP_PYTHON=1                do nothing (the interop tests then skip)
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const root = new URL("../..", import.meta.url).pathname;
const venv = join(root, ".venv");
const venvPython = join(venv, "bin", "python");
const reqDir = join(root, "test", "interop");
const requirements = join(reqDir, "requirements.txt");
const constraints = join(reqDir, "constraints.txt");
const stampFile = join(venv, ".voxport-requirements");
const basePython = process.env.VOXPORT_PYTHON || "python3";
const force = process.argv.includes("--force");
const t0 = performance.now();

const secs = (t) => `${((performance.now() - t) / 1000).toFixed(1)} s`;
const log = (m) => console.log(`# python venv: ${m}`);

function run(cmd, args, opts = {}) {
  return spawnSync(cmd, args, { encoding: "utf8", cwd: root, ...opts });
}

function fail(message, r) {
  console.error(`provision-python: ${message}`);
  if (r) {
    if (r.error) console.error(String(r.error));
    const out = `${r.stdout ?? ""}${r.stderr ?? ""}`.trim();
    if (out) console.error(out.split("\n").slice(-40).join("\n"));
  }
  process.exit(1);
}

if (process.env.VOXPORT_SKIP_PYTHON === "1") {
  log("skipped (VOXPORT_SKIP_PYTHON=1); interop tests and peer benchmarks will skip");
  process.exit(0);
}

const version = run(basePython, ["-c", "import sys; print(sys.version.split()[0])"]);
if (version.status !== 0) fail(`cannot run ${basePython} (set VOXPORT_PYTHON)`, version);
const pyVersion = version.stdout.trim();
if (!pyVersion.startsWith("3.11.")) {
  log(`warning: pins were resolved on CPython 3.11; ${basePython} is ${pyVersion}`);
}

const stamp = createHash("sha256")
  .update(readFileSync(requirements))
  .update(readFileSync(constraints))
  .update(`python ${pyVersion}`)
  .digest("hex");

const venvWorks = () => existsSync(venvPython) && run(venvPython, ["-c", "pass"]).status === 0;

if (!force && existsSync(stampFile) && readFileSync(stampFile, "utf8").trim() === stamp) {
  if (venvWorks()) {
    log(`up to date (${secs(t0)})`);
    process.exit(0);
  }
  log("stamp matches but .venv/bin/python does not run; rebuilding");
}

// 1. The venv itself (rebuilt when missing or broken; reused otherwise, pip fixes the versions).
if (force || !venvWorks()) {
  const tv = performance.now();
  rmSync(venv, { recursive: true, force: true });
  let r = run(basePython, ["-m", "venv", venv]);
  if (r.status !== 0 && /ensurepip|python3(\.\d+)?-venv/.test(`${r.stdout}${r.stderr}`)) {
    // Debian/Ubuntu ship venv's ensurepip separately.
    if (!existsSync("/etc/debian_version")) fail("python3 -m venv failed (no ensurepip)", r);
    log("python3-venv is missing; installing it with apt-get");
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    const sudo = process.getuid?.() === 0 ? [] : ["sudo", "-n"];
    const apt = (...a) => {
      const [cmd, ...rest] = [...sudo, "apt-get", ...a];
      return run(cmd, rest, { env, stdio: ["ignore", "pipe", "pipe"] });
    };
    let a = apt("install", "-y", "-q", "python3-venv");
    if (a.status !== 0) {
      const u = apt("update", "-q");
      if (u.status !== 0) fail("apt-get update failed", u);
      a = apt("install", "-y", "-q", "python3-venv");
    }
    if (a.status !== 0) fail("apt-get install python3-venv failed", a);
    rmSync(venv, { recursive: true, force: true });
    r = run(basePython, ["-m", "venv", venv]);
  }
  if (r.status !== 0) fail(`${basePython} -m venv ${venv} failed`, r);
  log(`created with ${basePython} ${pyVersion} (${secs(tv)})`);
}

// 2. The pinned packages. The stamp goes last, so an interrupted install is redone next time.
rmSync(stampFile, { force: true });
const ti = performance.now();
const pip = run(
  venvPython,
  [
    "-m",
    "pip",
    "install",
    "--disable-pip-version-check",
    "--no-input",
    "--progress-bar",
    "off",
    "-r",
    requirements,
  ],
  { maxBuffer: 64 * 1024 * 1024 },
);
if (pip.status !== 0) fail("pip install -r test/interop/requirements.txt failed", pip);
const check = run(venvPython, [
  "-c",
  "import cloudvolume, tensorstore, numpy; from importlib.metadata import version as v; " +
    "print(v('cloud-volume'), v('tensorstore'), v('numpy'))",
]);
if (check.status !== 0) fail("the installed packages do not import", check);
const [cv, ts, np] = check.stdout.trim().split(/\s+/);
writeFileSync(stampFile, `${stamp}\n`);
log(
  `installed cloud-volume ${cv}, tensorstore ${ts}, numpy ${np} (pip ${secs(ti)}; total ${secs(t0)})`,
);
