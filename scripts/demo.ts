/**
 * `npm run demo`: generate a small synthetic EM-like stack, ingest it with voxport into a local
 * precomputed dataset (full pyramid, gzip), and show what was written. Rerunning reuses the stack
 * and finds the dataset complete.
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureSyntheticStack } from "./synthetic-em.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const sections = join(root, "demo", "sections");
const out = join(root, "demo", "out", "em");

process.stderr.write(`generating 512×512×64 EM-like sections in ${sections} …\n`);
const files = await ensureSyntheticStack(sections, 512, 512, 64);
process.stderr.write(`${files.length} PNG sections ready\n\n`);

const cli = join(root, "src", "cli", "main.ts");
const run = (args: string[]) => {
  process.stderr.write(`$ voxport ${args.join(" ")}\n`);
  const r = spawnSync(process.execPath, ["--import", "tsx", cli, ...args], { stdio: "inherit" });
  if (r.status !== 0) process.exit(r.status ?? 1);
};
run(["ingest", sections, `file://${out}`, "--resolution", "4,4,40"]);
process.stderr.write("\n");
run(["info", out]);
process.stderr.write(
  `\nThe dataset is in ${out}\n` +
    `Read a box back:  npx voxport cutout ${out} --box 0,0,0:256,256,8 -o /tmp/cutout.npy\n`,
);
