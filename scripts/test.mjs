#!/usr/bin/env node
// `npm test`: provision what the tests need (when missing), run every test file with Node's own
// test runner through tsx, and exit with its status. `npm run test:unit` runs only the fast unit
// tests that sit beside the code (src/**/*.test.ts) and provisions nothing.
//
// Services (moto, Redis, Swift, Chromium, the Python peer venv) are provisioned by the
// scripts in test/setup/, each idempotent; the tests themselves start servers on free loopback
// ports and stop them.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const args = process.argv.slice(2);
const unitOnly = args.includes("--unit");
const filters = args.filter((a) => !a.startsWith("--"));

function findTests(dir) {
  const out = [];
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    if (name === "node_modules" || name.startsWith(".")) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...findTests(p));
    else if (name.endsWith(".test.ts")) out.push(p);
  }
  return out;
}

let files = findTests(join(root, "src"));
if (!unitOnly) files.push(...findTests(join(root, "test")));
if (filters.length) files = files.filter((f) => filters.some((x) => f.includes(x)));
files.sort();

if (!unitOnly) {
  const setupDir = join(root, "test", "setup");
  if (existsSync(setupDir)) {
    for (const name of readdirSync(setupDir).sort()) {
      if (!/^provision-.*\.mjs$/.test(name)) continue;
      console.log(`# provisioning: ${name}`);
      const r = spawnSync(process.execPath, [join(setupDir, name)], {
        stdio: "inherit",
        cwd: root,
      });
      if (r.status !== 0) {
        console.error(`provisioning step ${name} failed (exit ${r.status})`);
        process.exit(r.status ?? 1);
      }
    }
  }
}

console.log(`# running ${files.length} test files`);
for (const f of files) console.log(`#   ${relative(root, f)}`);
const r = spawnSync(
  process.execPath,
  [
    "--import",
    "tsx",
    "--test",
    "--test-concurrency=2",
    "--test-timeout=900000",
    ...(process.env.CI ? ["--test-reporter=spec"] : []),
    ...files,
  ],
  { stdio: "inherit", cwd: root, env: { ...process.env, VOXPORT_TEST: "1" } },
);
process.exit(r.status ?? 1);
