/**
 * End to end: datasets that `voxport ingest` just produced, served by `voxport view`'s server,
 * loaded by the real Neuroglancer (the bundle in dist/viewer) in Debian's Chromium.
 *
 * For each dataset:
 * 1. the state voxport builds (the URL the user gets) loads with no data-source error and every
 *    layer ready; screenshot saved;
 * 2. a test state at 8 screen pixels per canonical voxel, xy layout, black background, no
 *    overlays, and a shader that maps the value to the colour exactly (uint8: grey = value;
 *    uint16: red = high byte, green = low byte; segmentation: Neuroglancer's own colour of the
 *    label at alpha 1) is shown at three positions; at each, a 5×5 grid of voxels is read back
 *    from the WebGL canvas and compared with the voxel values the test wrote (JPEG: within a
 *    tolerance), and at 5 of them the real mouse is moved there and Neuroglancer's position and
 *    value under the mouse (the selected segment for segmentation) must equal the voxel and its
 *    value. Samples must cover several distinct values, so a blank or constant render fails.
 *
 * Screenshots go to .test-artifacts/viewer/. Subtests whose ingest option is not available yet
 * (checked in `voxport ingest --help`) are marked todo.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { gunzipSync, gzipSync } from "node:zlib";
import type { Browser } from "playwright-core";
import type { PrecomputedInfo } from "../../src/precomputed/types.js";
import { PrecomputedVolume } from "../../src/precomputed/volume.js";
import { openStore } from "../../src/storage/registry.js";
import type { NeuroglancerLayer, NeuroglancerState } from "../../src/viewer/state.js";
import { startView, type View } from "../../src/viewer/view.js";
import { type StackOptions, type WrittenStack, writeStack } from "../fixtures/stack.js";
import { ROOT, runCli } from "../helpers/cli.js";
import {
  canvasPixels,
  goTo,
  launchChromium,
  type NgPage,
  openNg,
  rgbAt,
  saveArtifacts,
  segmentColor,
  slicePanel,
  valueUnder,
  waitReady,
} from "./ng-page.js";

const ARTIFACTS = join(ROOT, ".test-artifacts", "viewer");
/** Screen pixels per canonical voxel in the test state. */
const ZOOM = 8;
/** Grid of voxel offsets read back around each position. */
const GRID = [-6, -3, 0, 3, 6];

type Kind = "uint8" | "uint16" | "jpeg" | "segmentation";

interface Case {
  name: string;
  kind: Kind;
  stack: Omit<StackOptions, "format"> & { format?: StackOptions["format"] };
  resolution: [number, number, number];
  offset?: [number, number, number];
  args: string[];
  /** Ingest help must mention this for the case to be enabled; otherwise the subtest is todo. */
  needs?: { pattern: RegExp; todo: string };
  /** Checks on the ingested info. */
  checkInfo?: (info: PrecomputedInfo) => void;
}

const W = 96;
const H = 80;
const D = 12;
const CHUNK = ["--chunk-size", "32,32,8"];

const CASES: Case[] = [
  {
    name: "uint8 image, raw + gzip",
    kind: "uint8",
    stack: { width: W, height: H, depth: D, dtype: "uint8" },
    resolution: [4, 4, 40],
    args: [...CHUNK, "--compress", "gzip"],
    checkInfo: (info) => assert.equal(info.scales[0].encoding, "raw"),
  },
  {
    name: "uint16 image",
    kind: "uint16",
    stack: { width: W, height: H, depth: D, dtype: "uint16", seed: 2 },
    resolution: [4, 4, 40],
    args: [...CHUNK],
    checkInfo: (info) => assert.equal(info.data_type, "uint16"),
  },
  {
    name: "jpeg image",
    kind: "jpeg",
    stack: { width: W, height: H, depth: D, dtype: "uint8", seed: 3 },
    resolution: [4, 4, 40],
    args: [...CHUNK, "--encoding", "jpeg"],
    needs: { pattern: /jpeg/, todo: "needs --encoding jpeg" },
    checkInfo: (info) => assert.equal(info.scales[0].encoding, "jpeg"),
  },
  {
    name: "segmentation, compressed_segmentation",
    kind: "segmentation",
    stack: { width: W, height: H, depth: D, dtype: "uint32-labels", format: "tif", seed: 4 },
    resolution: [4, 4, 40],
    args: [...CHUNK, "--type", "segmentation", "--encoding", "compressed_segmentation"],
    needs: {
      pattern: /compressed_segmentation/,
      todo: "needs --encoding compressed_segmentation",
    },
    checkInfo: (info) => assert.equal(info.scales[0].encoding, "compressed_segmentation"),
  },
  {
    name: "segmentation, raw",
    kind: "segmentation",
    stack: { width: W, height: H, depth: D, dtype: "uint32-labels", format: "tif", seed: 5 },
    resolution: [4, 4, 40],
    args: [...CHUNK, "--type", "segmentation", "--encoding", "raw"],
    checkInfo: (info) => assert.equal(info.scales[0].encoding, "raw"),
  },
  {
    name: "sharded uint8 image",
    kind: "uint8",
    stack: { width: W, height: H, depth: D, dtype: "uint8", seed: 6 },
    resolution: [4, 4, 40],
    args: [...CHUNK, "--sharded"],
    needs: { pattern: /--sharded/, todo: "needs --sharded" },
    checkInfo: (info) => assert.ok(info.scales[0].sharding, "scale 0 is sharded"),
  },
  {
    name: "non-zero voxel_offset, anisotropic resolution, plain files",
    kind: "uint8",
    stack: { width: W, height: H, depth: D, dtype: "uint8", seed: 7 },
    resolution: [6, 8, 30],
    offset: [1000, -37, 5],
    args: [...CHUNK, "--compress", "none"],
    checkInfo: (info) => {
      assert.deepEqual(info.scales[0].voxel_offset, [1000, -37, 5]);
      assert.deepEqual(info.scales[0].resolution, [6, 8, 30]);
    },
  },
];

/** View centres, in stack voxel coordinates (the grid around each stays inside the volume). */
const POSITIONS: [number, number, number][] = [
  [20, 18, 2],
  [70, 55, 7],
  [48, 40, 11],
];

let tmp: string;
let browser: Browser;
let ingestHelp = "";

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), "voxport-viewer-"));
  // Idempotent and fast when dist/viewer is current (npm ci / npm run build made it).
  const built = spawnSync(process.execPath, [join(ROOT, "scripts", "build-viewer.mjs")], {
    cwd: ROOT,
    encoding: "utf8",
  });
  assert.equal(built.status, 0, `build-viewer failed:\n${built.stdout}\n${built.stderr}`);
  const help = await runCli(["ingest", "--help"]);
  assert.equal(help.code, 0, help.stderr);
  ingestHelp = help.stdout;
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await rm(tmp, { recursive: true, force: true });
});

interface Prepared {
  dir: string;
  stack: WrittenStack;
  info: PrecomputedInfo;
}

const prepared = new Map<string, Promise<Prepared>>();

/** Writes the case's stack and ingests it with the CLI (once per case). */
function prepare(c: Case): Promise<Prepared> {
  let p = prepared.get(c.name);
  if (p === undefined) {
    p = (async () => {
      const slug = slugOf(c.name);
      const src = join(tmp, `${slug}-src`);
      const dir = join(tmp, slug);
      const stack = await writeStack(src, { format: "png", ...c.stack });
      const args = ["ingest", src, dir, "--resolution", c.resolution.join(","), ...c.args];
      if (c.offset) args.push("--offset", c.offset.join(","));
      const r = await runCli(args);
      assert.equal(r.code, 0, `voxport ${args.join(" ")} failed:\n${r.stderr}`);
      const { info } = await PrecomputedVolume.open(openStore(dir));
      c.checkInfo?.(info);
      return { dir, stack, info };
    })();
    prepared.set(c.name, p);
  }
  return p;
}

function slugOf(name: string): string {
  return name.replace(/[^a-z0-9]+/gi, "-").replace(/^-|-$/g, "");
}

const EXACT_SHADERS: Record<Exclude<Kind, "segmentation">, string> = {
  uint8: "void main() {\n  emitGrayscale(float(getDataValue().value) / 255.0);\n}\n",
  jpeg: "void main() {\n  emitGrayscale(float(getDataValue().value) / 255.0);\n}\n",
  uint16:
    "void main() {\n  uint v = getDataValue().value;\n" +
    "  emitRGB(vec3(float(v >> 8u), float(v & 255u), 0.0) / 255.0);\n}\n",
};

/** The test state: voxport's state, zoomed in on `centre`, with exact colours and no overlays. */
function testState(base: NeuroglancerState, kind: Kind, centre: number[]): NeuroglancerState {
  const s: NeuroglancerState = structuredClone(base);
  s.layout = "xy";
  s.crossSectionScale = 1 / ZOOM;
  s.position = centre;
  s.showAxisLines = false;
  s.showScaleBar = false;
  s.showDefaultAnnotations = false;
  s.crossSectionBackgroundColor = "#000000";
  s.layers = s.layers.map((l): NeuroglancerLayer => {
    if (kind === "segmentation") {
      return { ...l, selectedAlpha: 1, notSelectedAlpha: 0, hoverHighlight: false };
    }
    const { shaderControls: _drop, ...rest } = l;
    return { ...rest, shader: EXACT_SHADERS[kind], opacity: 1, blend: "default" };
  });
  return s;
}

function stateUrlFor(view: View, state: NeuroglancerState): string {
  return `${view.server.baseUrl}#!${encodeURIComponent(JSON.stringify(state))}`;
}

/** The rendered value at a canvas pixel, as the test shader encodes it. */
function decodePixel(kind: Kind, rgb: [number, number, number]): number {
  return kind === "uint16" ? rgb[0] * 256 + rgb[1] : rgb[0];
}

async function checkCase(
  c: Case,
  t: { diagnostic: (m: string) => void },
  dataset?: Prepared,
  artifactName?: string,
): Promise<void> {
  const started = performance.now();
  const marks: string[] = [];
  const mark = (what: string) =>
    marks.push(`${what} ${((performance.now() - started) / 1000).toFixed(1)}s`);
  const { dir, stack, info } = dataset ?? (await prepare(c));
  mark("ingest");
  const slug = artifactName ?? slugOf(c.name);
  const offset = info.scales[0].voxel_offset ?? [0, 0, 0];
  const res = info.scales[0].resolution;
  const statuses: number[] = [];
  const view = await startView([dir], { onRequest: (r) => statuses.push(r.status) });
  let ng: NgPage | undefined;
  try {
    const layerName = view.state.layers[0].name;
    assert.equal(view.state.layers[0].type, c.kind === "segmentation" ? "segmentation" : "image");
    assert.deepEqual(view.state.dimensions, {
      x: [res[0] / 1e9, "m"],
      y: [res[1] / 1e9, "m"],
      z: [res[2] / 1e9, "m"],
    });
    assert.deepEqual(
      view.state.position,
      [0, 1, 2].map((d) => offset[d] + info.scales[0].size[d] / 2),
    );
    if (c.kind === "uint16") checkWindow(view, stack);

    // 1. The state the user gets.
    ng = await openNg(browser, view.url);
    await waitReady(ng);
    await saveArtifacts(ng, ARTIFACTS, `${slug}-default`);
    await ng.close();
    mark("default state");

    // 2. Exact read-back at known positions.
    const centre0 = POSITIONS[0].map((v, d) => offset[d] + v + 0.5);
    ng = await openNg(browser, stateUrlFor(view, testState(view.state, c.kind, centre0)));
    await waitReady(ng);
    mark("test state");
    const panel = await slicePanel(ng.page);
    const canonical = Math.min(...res);
    const ppv = [0, 1].map((d) => (res[d] / canonical) * ZOOM);
    const cx = panel.left + panel.width / 2;
    const cy = panel.top + panel.height / 2;
    const seen = new Set<number>();
    const jpegErrors: number[] = [];
    const colours = new Map<number, number[]>();
    for (const [pi, pos] of POSITIONS.entries()) {
      if (pi > 0)
        await goTo(
          ng,
          pos.map((v, d) => offset[d] + v + 0.5),
        );
      mark(`pos${pi} ready`);
      const px = await canvasPixels(ng.page);
      await saveArtifacts(ng, ARTIFACTS, `${slug}-pos${pi}`, px);
      mark(`pos${pi} pixels`);
      const samples: { sx: number; sy: number; x: number; y: number; z: number; want: number }[] =
        [];
      for (const dy of GRID) {
        for (const dx of GRID) {
          const [x, y, z] = [pos[0] + dx, pos[1] + dy, pos[2]];
          const sx = Math.floor(cx + dx * ppv[0]);
          const sy = Math.floor(cy + dy * ppv[1]);
          samples.push({ sx, sy, x, y, z, want: stack.expected(x, y, z, 0) });
        }
      }
      for (const s of samples) {
        const rgb = rgbAt(px, s.sx, s.sy);
        const where = `${c.name}: voxel (${s.x},${s.y},${s.z}) of the stack at canvas pixel (${s.sx},${s.sy})`;
        seen.add(s.want);
        if (c.kind === "segmentation") {
          let want = [0, 0, 0];
          if (s.want !== 0) {
            let col = colours.get(s.want);
            if (col === undefined) {
              col = await segmentColor(ng.page, layerName, BigInt(s.want));
              colours.set(s.want, col);
            }
            want = col;
          }
          const off = Math.max(...want.map((v, i) => Math.abs(v - rgb[i])));
          assert.ok(
            off <= 2,
            `${where}: colour ${rgb} is not the colour ${want} of label ${s.want}`,
          );
        } else if (c.kind === "jpeg") {
          const got = decodePixel(c.kind, rgb);
          jpegErrors.push(Math.abs(got - s.want));
          assert.ok(
            Math.abs(got - s.want) <= 24,
            `${where}: rendered ${got}, wrote ${s.want} (JPEG tolerance 24)`,
          );
        } else {
          const got = decodePixel(c.kind, rgb);
          assert.ok(Math.abs(got - s.want) <= 1, `${where}: rendered ${got}, wrote ${s.want}`);
          assert.equal(rgb[2], c.kind === "uint16" ? 0 : rgb[0], `${where}: colour ${rgb}`);
        }
      }
      // The mouse: position and value under it, at the grid's centre and corners.
      for (const i of [12, 0, 4, 20, 24]) {
        const s = samples[i];
        const under = await valueUnder(ng.page, panel, s.sx, s.sy);
        const where = `${c.name}: mouse at canvas pixel (${s.sx},${s.sy})`;
        assert.deepEqual(
          under.position.map((v) => Math.floor(v)),
          [s.x + offset[0], s.y + offset[1], s.z + offset[2]],
          `${where}: position ${under.position}`,
        );
        const value = under.values[layerName];
        if (c.kind === "segmentation") {
          assert.equal(String(value), String(s.want), `${where}: value ${value}`);
          assert.equal(
            under.selectedSegments[layerName],
            s.want === 0 ? undefined : String(s.want),
            `${where}: selected segment`,
          );
        } else if (c.kind === "jpeg") {
          assert.equal(typeof value, "number", `${where}: value ${value}`);
          assert.ok(Math.abs((value as number) - s.want) <= 24, `${where}: value ${value}`);
          // Same decoded chunk as the render: equal to the pixel.
          assert.equal(value, decodePixel(c.kind, rgbAt(px, s.sx, s.sy)), `${where}: pixel`);
        } else {
          assert.equal(value, s.want, `${where}: value under the mouse`);
        }
      }
    }
    assert.ok(seen.size >= 5, `${c.name}: samples cover only ${seen.size} distinct values`);
    if (c.kind === "segmentation") {
      const nonzero = [...colours.keys()];
      assert.ok(nonzero.length >= 3, `${c.name}: only ${nonzero.length} labels sampled`);
      // Different labels are shown in different colours.
      const keys = new Set(nonzero.map((l) => colours.get(l)!.join(",")));
      assert.equal(keys.size, nonzero.length, `${c.name}: two labels share a colour`);
    }
    if (c.kind === "jpeg") {
      const mean = jpegErrors.reduce((a, b) => a + b, 0) / jpegErrors.length;
      assert.ok(mean <= 6, `${c.name}: mean JPEG error ${mean.toFixed(2)} > 6`);
      t.diagnostic(`jpeg mean abs error ${mean.toFixed(2)}`);
    }
    assert.deepEqual(ng.problems, []);
    const failed = statuses.filter((st) => st >= 400 && st !== 404);
    assert.deepEqual(failed, [], `${c.name}: server answered errors`);
    if (info.scales[0].sharding) {
      assert.ok(statuses.includes(206), `${c.name}: shards were not read with Range requests`);
    }
    mark("done");
    t.diagnostic(`${c.name}: ${marks.join(", ")}`);
  } finally {
    await ng?.close();
    await view.close();
  }
}

/** The uint16 contrast window lies inside the data's range and spans most of it. */
function checkWindow(view: View, stack: WrittenStack): void {
  const win = view.datasets[0].window;
  assert.ok(win, "uint16 image has a contrast window");
  let min = Number.POSITIVE_INFINITY;
  let max = 0;
  for (let z = 0; z < D; z++)
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++) {
        const v = stack.expected(x, y, z, 0);
        min = Math.min(min, v);
        max = Math.max(max, v);
      }
  assert.ok(win[0] >= min && win[1] <= max && win[0] < win[1], `window ${win} in [${min}, ${max}]`);
  assert.ok(win[1] - win[0] >= (max - min) / 4, `window ${win} is too narrow for [${min}, ${max}]`);
  const layer = view.state.layers[0];
  assert.deepEqual(layer.shaderControls, { normalized: { range: win } });
  assert.match(layer.shader ?? "", /#uicontrol invlerp normalized/);
}

describe("voxport view: the real Neuroglancer shows what voxport ingest wrote", () => {
  for (const c of CASES) {
    // Decided when the test runs (after `before` read the ingest help), so register lazily.
    test(c.name, async (t) => {
      if (c.needs && !c.needs.pattern.test(ingestHelp)) {
        t.todo(c.needs.todo);
        return;
      }
      await checkCase(c, t);
    });
  }

  test("controls: the same checks fail on a wrong chunk and on a broken chunk", async (t) => {
    const c = CASES[0];
    const good = await prepare(c);
    const scaleKey = good.info.scales[0].key;
    // POSITIONS[0] lies in the first chunk of scale 0.
    const chunk = `${scaleKey}/0-32_0-32_0-8.gz`;

    const wrongDir = join(tmp, "control-wrong");
    await cp(good.dir, wrongDir, { recursive: true });
    const bytes = gunzipSync(await readFile(join(good.dir, chunk)));
    for (let i = 0; i < bytes.length; i++) bytes[i] = 255 - bytes[i];
    await writeFile(join(wrongDir, chunk), gzipSync(bytes));
    await assert.rejects(
      checkCase(c, t, { ...good, dir: wrongDir }, "control-wrong-values"),
      /rendered \d+, wrote \d+/,
    );

    const brokenDir = join(tmp, "control-broken");
    await cp(good.dir, brokenDir, { recursive: true });
    await writeFile(join(brokenDir, chunk), gzipSync(bytes.subarray(0, 100)));
    await assert.rejects(
      checkCase(c, t, { ...good, dir: brokenDir }, "control-broken-chunk"),
      /Error retrieving chunk/,
    );
  });

  test("two layers at once: image and segmentation, both ready, values under the mouse", async (t) => {
    const img = CASES[0];
    const seg = CASES[4];
    const a = await prepare(img);
    const b = await prepare(seg);
    const view = await startView([a.dir, b.dir]);
    let ng: NgPage | undefined;
    try {
      assert.deepEqual(
        view.state.layers.map((l) => l.type),
        ["image", "segmentation"],
      );
      const [imgName, segName] = view.state.layers.map((l) => l.name);
      assert.notEqual(imgName, segName);
      ng = await openNg(browser, view.url);
      await waitReady(ng);
      await saveArtifacts(ng, ARTIFACTS, "two-layers-default");
      await ng.close();
      const pos = POSITIONS[1];
      const s = testState(
        view.state,
        "uint8",
        pos.map((v) => v + 0.5),
      );
      s.layers[1] = { ...view.state.layers[1], hoverHighlight: false };
      ng = await openNg(browser, stateUrlFor(view, s));
      await waitReady(ng);
      const panel = await slicePanel(ng.page);
      await saveArtifacts(ng, ARTIFACTS, "two-layers");
      for (const [dx, dy] of [
        [0, 0],
        [-5, 4],
        [6, -6],
      ]) {
        const under = await valueUnder(
          ng.page,
          panel,
          Math.floor(panel.left + panel.width / 2 + dx * ZOOM),
          Math.floor(panel.top + panel.height / 2 + dy * ZOOM),
        );
        const [x, y, z] = [pos[0] + dx, pos[1] + dy, pos[2]];
        assert.deepEqual(
          under.position.map((v) => Math.floor(v)),
          [x, y, z],
        );
        assert.equal(under.values[imgName], a.stack.expected(x, y, z, 0), "image value");
        assert.equal(String(under.values[segName]), String(b.stack.expected(x, y, z, 0)), "label");
      }
      assert.deepEqual(ng.problems, []);
      t.diagnostic("two layers ok");
    } finally {
      await ng?.close();
      await view.close();
    }
  });
});
