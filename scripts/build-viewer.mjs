#!/usr/bin/env node
// Bundles the official Neuroglancer (npm `neuroglancer`, a devDependency) with esbuild into
// dist/viewer/, for `voxport view` (src/viewer/server.ts). Runs as part of `npm run build`, so
// `npm ci` (prepare) produces it; needs nothing but the npm registry.
//
// Output (beside tsc's compiled src/viewer/*.js, which this script never touches):
//   index.html, main.bundle.js, main.bundle.css, chunk_worker.bundle.js,
//   async_computation.bundle.js, the decoders' .wasm files, and viewer-bundle.json (the manifest:
//   which files belong to the bundle, and the inputs it was built from). The server serves only
//   the files the manifest lists.
//
// Idempotent: when the manifest's inputs (neuroglancer and esbuild versions, this script's hash)
// match and every file is present, it does nothing. `--force` rebuilds.
//
// How Neuroglancer is bundled (facts in shared/docs/neuroglancer-headless.md):
// - three entry points, ESM, no splitting; main.bundle.js starts the worker with
//   new URL("./chunk_worker.bundle.js", import.meta.url) and the async-computation worker with
//   new URL("../async_computation.bundle.js", import.meta.url), which resolves to the same
//   folder when the viewer is served at "/" (it is);
// - `ikonate/icons/*.svg?raw` imports load the svg as text; three icons are missing from
//   ikonate 1.1.1 (the package.json override for the unreachable GitHub dependency) and get a
//   placeholder;
// - PNG, JPEG-XL, compresso and draco decoders fetch new URL("./x.wasm", import.meta.url):
//   esbuild leaves those URLs alone, so the .wasm files are copied next to the bundles.
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { copyFile, mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const outDir = join(root, "dist", "viewer");
const MANIFEST = "viewer-bundle.json";
const force = process.argv.includes("--force");
const quiet = process.argv.includes("--quiet");
const log = (s) => {
  if (!quiet) console.log(`build-viewer: ${s}`);
};

const require = createRequire(join(root, "package.json"));

function packageDir(name) {
  // neuroglancer's "exports" hides package.json; find the folder through node_modules instead.
  for (let dir = root; ; dir = dirname(dir)) {
    const candidate = join(dir, "node_modules", name);
    if (existsSync(join(candidate, "package.json"))) return candidate;
    if (dirname(dir) === dir) return undefined;
  }
}

const ngDir = packageDir("neuroglancer");
if (ngDir === undefined) {
  console.error(
    "build-viewer: the devDependency `neuroglancer` is not installed; run `npm ci` (or `npm install`) first",
  );
  process.exit(1);
}
const ngVersion = JSON.parse(await readFile(join(ngDir, "package.json"), "utf8")).version;
let esbuild;
try {
  esbuild = require("esbuild");
} catch (e) {
  console.error(`build-viewer: the devDependency \`esbuild\` cannot be loaded: ${e.message}`);
  process.exit(1);
}

const selfHash = createHash("sha256")
  .update(await readFile(fileURLToPath(import.meta.url)))
  .digest("hex")
  .slice(0, 16);
const inputs = { neuroglancer: ngVersion, esbuild: esbuild.version, script: selfHash };

async function readManifest() {
  try {
    return JSON.parse(await readFile(join(outDir, MANIFEST), "utf8"));
  } catch {
    return undefined;
  }
}

const previous = await readManifest();
if (
  !force &&
  previous !== undefined &&
  JSON.stringify(previous.inputs) === JSON.stringify(inputs) &&
  Array.isArray(previous.files) &&
  previous.files.every((f) => existsSync(join(outDir, f)))
) {
  log(`dist/viewer is up to date (neuroglancer ${ngVersion}); nothing to do`);
  process.exit(0);
}

const started = performance.now();
const MISSING_ICON =
  '<svg xmlns="http://www.w3.org/2000/svg" width="24" height="24" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="1.5"><rect x="4" y="4" width="16" height="16" rx="2"/></svg>';
const missingIcons = new Set();

/** `import svg from "ikonate/icons/x.svg?raw"`: the file's text; a placeholder when absent. */
const rawImports = {
  name: "raw-imports",
  setup(build) {
    build.onResolve({ filter: /\?raw$/ }, async (args) => {
      const spec = args.path.slice(0, -"?raw".length);
      const r = await build.resolve(spec, {
        kind: args.kind,
        resolveDir: args.resolveDir,
        importer: args.importer,
      });
      if (r.errors.length > 0) {
        missingIcons.add(spec);
        return { path: spec, namespace: "raw-missing" };
      }
      return { path: r.path, namespace: "raw" };
    });
    build.onLoad({ filter: /.*/, namespace: "raw" }, async (args) => ({
      contents: await readFile(args.path, "utf8"),
      loader: "text",
    }));
    build.onLoad({ filter: /.*/, namespace: "raw-missing" }, () => ({
      contents: MISSING_ICON,
      loader: "text",
    }));
  },
};

const tmp = join(root, "dist", `.viewer-build-${process.pid}`);
await rm(tmp, { recursive: true, force: true });
await mkdir(tmp, { recursive: true });
try {
  const result = await esbuild.build({
    absWorkingDir: root,
    entryPoints: {
      "main.bundle": join(ngDir, "lib", "main.bundle.js"),
      "chunk_worker.bundle": join(ngDir, "lib", "chunk_worker.bundle.js"),
      "async_computation.bundle": join(ngDir, "lib", "async_computation.bundle.js"),
    },
    outdir: tmp,
    bundle: true,
    format: "esm",
    splitting: false,
    platform: "browser",
    target: ["chrome120", "firefox120", "safari17"],
    minify: true,
    keepNames: true,
    sourcemap: false,
    legalComments: "none",
    logLevel: "warning",
    loader: { ".svg": "text", ".wasm": "file", ".css": "css", ".html": "file" },
    define: {
      NEUROGLANCER_BUILD_INFO: JSON.stringify({
        tag: `neuroglancer ${ngVersion} (bundled by voxport)`,
        url: "https://github.com/google/neuroglancer",
      }),
    },
    plugins: [rawImports],
    metafile: true,
  });
  for (const w of result.warnings) log(`warning: ${w.text}`);

  // Decoders fetch their .wasm beside the bundle that runs them (see header).
  const wasm = [];
  async function findWasm(dir) {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await findWasm(p);
      else if (e.name.endsWith(".wasm")) wasm.push(p);
    }
  }
  await findWasm(join(ngDir, "lib"));
  for (const p of wasm) await copyFile(p, join(tmp, basename(p)));

  await writeFile(
    join(tmp, "index.html"),
    `<!doctype html>
<html>
  <head>
    <meta charset="utf-8">
    <title>voxport view — Neuroglancer ${ngVersion}</title>
    <link rel="stylesheet" href="main.bundle.css">
    <style>html, body { height: 100%; margin: 0; } #neuroglancer-container { position: absolute; inset: 0; }</style>
  </head>
  <body>
    <div id="neuroglancer-container"></div>
    <script type="module" src="main.bundle.js"></script>
  </body>
</html>
`,
  );

  const files = (await readdir(tmp)).sort();
  await mkdir(outDir, { recursive: true });
  // Remove the manifest first: a build interrupted below leaves no manifest, so it is redone.
  await rm(join(outDir, MANIFEST), { force: true });
  for (const f of previous?.files ?? []) {
    if (!files.includes(f)) await rm(join(outDir, f), { force: true });
  }
  for (const f of files) await rename(join(tmp, f), join(outDir, f));
  const manifest = { inputs, files, missingIcons: [...missingIcons].sort() };
  await writeFile(join(outDir, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
  const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
  log(
    `bundled neuroglancer ${ngVersion} into dist/viewer (${files.length} files, ` +
      `${(bytes / 1e6).toFixed(1)} MB of bundles; placeholder icons for ${missingIcons.size} ` +
      `missing: ${[...missingIcons].map((s) => basename(s)).join(", ") || "none"}) ` +
      `in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
} finally {
  await rm(tmp, { recursive: true, force: true });
}
