/**
 * Driving the real Neuroglancer (the bundle `voxport view` serves) in Debian's Chromium through
 * playwright-core, and reading back what it shows:
 *
 * - `waitReady`: every data source loaded without error, every layer ready, and
 *   `viewer.isReady()` (all visible chunks drawn) on several consecutive polls; a data-source
 *   error, a failed chunk (logged by the chunk worker) or a page error fails at once.
 * - `canvasPixels`: `viewer.display.draw()` then the WebGL canvas as PNG (what Neuroglancer's own
 *   Python screenshot tool does), decoded to RGBA.
 * - `valueUnder`: the real mouse moved to a canvas pixel, then `viewer.mouseState.position` (the
 *   voxel under it) and `viewer.layerSelectedValues` (each layer's value there, as shown in the
 *   layer bar).
 *
 * window.viewer internals are untyped here (`Ng`).
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import sharp from "sharp";

export const CHROMIUM = process.env.VOXPORT_CHROMIUM ?? "/usr/bin/chromium";

export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--use-gl=swiftshader",
  "--enable-unsafe-swiftshader",
  "--ignore-gpu-blocklist",
];

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}

export interface NgPage {
  page: Page;
  /** Console errors, page errors and chunk failures seen so far. */
  problems: string[];
  close(): Promise<void>;
}

export async function openNg(browser: Browser, url: string): Promise<NgPage> {
  const context = await browser.newContext({
    viewport: { width: 800, height: 600 },
    deviceScaleFactor: 1,
  });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    const text = m.text();
    // Chunk failures are logged by the chunk worker: "Error retrieving chunk ...".
    if (/error retrieving chunk/i.test(text) || (m.type() === "error" && !/favicon/.test(text))) {
      problems.push(`console ${m.type()}: ${text}`);
    }
  });
  await page.goto(url);
  return { page, problems, close: () => context.close() };
}

interface Status {
  viewer: boolean;
  ready: boolean;
  layers: { name: string; ready: boolean; sources: number; loaded: number; errors: string[] }[];
}

async function status(page: Page): Promise<Status> {
  return page.evaluate(() => {
    // biome-ignore lint/suspicious/noExplicitAny: Neuroglancer internals are untyped here
    const viewer = (globalThis as any).viewer;
    if (!viewer) return { viewer: false, ready: false, layers: [] };
    // biome-ignore lint/suspicious/noExplicitAny: as above
    const layers = viewer.layerManager.managedLayers.map((ml: any) => {
      const sources = ml.layer?.dataSources ?? [];
      const errors: string[] = [];
      let loaded = 0;
      for (const s of sources) {
        const st = s.loadState;
        if (st?.error !== undefined) errors.push(String(st.error?.message ?? st.error));
        else if (st !== undefined) loaded++;
      }
      // A shader that does not compile (image layers) is reported here, not as a data error.
      const shaderError = ml.layer?.shaderError?.value;
      if (shaderError) {
        errors.push(`shader: ${JSON.stringify(shaderError).slice(0, 500)}`);
      }
      return {
        name: ml.name,
        ready: ml.isReady(),
        sources: sources.length,
        loaded,
        errors,
      };
    });
    return { viewer: true, ready: viewer.isReady(), layers };
  });
}

/** Waits until everything is loaded and drawn (see header); throws on any error. */
export async function waitReady(ng: NgPage, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let streak = 0;
  let last: Status | undefined;
  while (Date.now() < deadline) {
    last = await status(ng.page);
    const errors = last.layers.flatMap((l) => l.errors.map((e) => `layer ${l.name}: ${e}`));
    if (errors.length > 0) throw new Error(`data source error in the viewer: ${errors.join("; ")}`);
    if (ng.problems.length > 0) throw new Error(`viewer problems: ${ng.problems.join("; ")}`);
    const ok =
      last.viewer &&
      last.ready &&
      last.layers.length > 0 &&
      last.layers.every((l) => l.ready && l.sources > 0 && l.loaded === l.sources);
    streak = ok ? streak + 1 : 0;
    if (streak >= 3) return;
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`viewer not ready after ${timeoutMs} ms: ${JSON.stringify(last)}`);
}

export interface Panel {
  /** Canvas-relative rectangle of the (single, xy) slice panel, in canvas pixels. */
  left: number;
  top: number;
  width: number;
  height: number;
  /** Page coordinates of the canvas' top-left corner. */
  canvasX: number;
  canvasY: number;
}

export async function slicePanel(page: Page): Promise<Panel> {
  return page.evaluate(() => {
    // biome-ignore lint/suspicious/noExplicitAny: Neuroglancer internals are untyped here
    const viewer = (globalThis as any).viewer;
    // biome-ignore lint/suspicious/noExplicitAny: as above
    const panels = [...viewer.display.panels].filter((p: any) => p.visible && p.sliceView);
    if (panels.length !== 1) throw new Error(`expected one slice panel, found ${panels.length}`);
    const p = panels[0];
    const rect = viewer.display.canvas.getBoundingClientRect();
    return {
      left: p.canvasRelativeLogicalLeft,
      top: p.canvasRelativeLogicalTop,
      width: p.renderViewport.logicalWidth,
      height: p.renderViewport.logicalHeight,
      canvasX: rect.left,
      canvasY: rect.top,
    };
  });
}

export interface Pixels {
  width: number;
  height: number;
  data: Uint8Array;
  png: Buffer;
}

/** The WebGL canvas as drawn now (RGBA). */
export async function canvasPixels(page: Page): Promise<Pixels> {
  const url: string = await page.evaluate(() => {
    // biome-ignore lint/suspicious/noExplicitAny: Neuroglancer internals are untyped here
    const viewer = (globalThis as any).viewer;
    viewer.display.draw();
    return viewer.display.canvas.toDataURL("image/png");
  });
  const png = Buffer.from(url.slice(url.indexOf(",") + 1), "base64");
  const { data, info } = await sharp(png).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data), png };
}

export function rgbAt(px: Pixels, x: number, y: number): [number, number, number] {
  const i = (y * px.width + x) * 4;
  return [px.data[i], px.data[i + 1], px.data[i + 2]];
}

export interface Under {
  /** Global position under the mouse (x, y, z), in voxels of the first layer's scale 0. */
  position: number[];
  /** Layer name → value under the mouse (numbers; uint64 as decimal strings). */
  values: Record<string, unknown>;
  /** Layer name → selected segment id (decimal string) for segmentation layers. */
  selectedSegments: Record<string, string | undefined>;
}

/** Moves the mouse to canvas pixel (x, y) and reads what Neuroglancer reports there. */
export async function valueUnder(page: Page, panel: Panel, x: number, y: number): Promise<Under> {
  await page.mouse.move(panel.canvasX + x + 0.5, panel.canvasY + y + 0.5);
  // Let the mousemove handler and the next frame run.
  await page.evaluate(
    () =>
      new Promise((r) =>
        // biome-ignore lint/suspicious/noExplicitAny: no DOM types in this project
        (globalThis as any).requestAnimationFrame(() => r(undefined)),
      ),
  );
  return page.evaluate(() => {
    // biome-ignore lint/suspicious/noExplicitAny: Neuroglancer internals are untyped here
    const viewer = (globalThis as any).viewer;
    viewer.mouseState.updateUnconditionally();
    const position = Array.from(viewer.mouseState.position as Float32Array);
    const json = JSON.stringify(viewer.layerSelectedValues.toJSON(), (_k, v) =>
      typeof v === "bigint" ? v.toString() : v,
    );
    const raw = JSON.parse(json) as Record<string, { value?: unknown }>;
    const values: Record<string, unknown> = {};
    for (const [name, v] of Object.entries(raw)) values[name] = v?.value;
    const selectedSegments: Record<string, string | undefined> = {};
    for (const ml of viewer.layerManager.managedLayers) {
      const sel = ml.layer?.displayState?.segmentSelectionState;
      if (sel === undefined) continue;
      selectedSegments[ml.name] = sel.hasSelectedSegment ? String(sel.selectedSegment) : undefined;
    }
    return { position, values, selectedSegments };
  });
}

/** Neuroglancer's colour for `id` in segmentation layer `layer` (RGB 0–255, before alpha). */
export async function segmentColor(page: Page, layer: string, id: bigint): Promise<number[]> {
  return page.evaluate(
    ({ layer, id }) => {
      // biome-ignore lint/suspicious/noExplicitAny: Neuroglancer internals are untyped here
      const viewer = (globalThis as any).viewer;
      // biome-ignore lint/suspicious/noExplicitAny: as above
      const ml = viewer.layerManager.managedLayers.find((m: any) => m.name === layer);
      const hash = ml.layer.displayState.segmentationColorGroupState.value.segmentColorHash;
      const out = new Float32Array(3);
      hash.compute(out, BigInt(id));
      return Array.from(out, (c) => Math.round(c * 255));
    },
    { layer, id: id.toString() },
  );
}

/** Moves Neuroglancer to `position` (global voxel coordinates) and waits until it is drawn. */
export async function goTo(ng: NgPage, position: number[]): Promise<void> {
  await ng.page.mouse.move(0, 0);
  await ng.page.evaluate((p) => {
    // biome-ignore lint/suspicious/noExplicitAny: Neuroglancer internals are untyped here
    const viewer = (globalThis as any).viewer;
    viewer.position.value = Float32Array.from(p);
  }, position);
  await waitReady(ng);
}

export async function saveArtifacts(ng: NgPage, dir: string, name: string, px?: Pixels) {
  await mkdir(dir, { recursive: true });
  await ng.page.screenshot({ path: join(dir, `${name}.png`) });
  if (px) await writeFile(join(dir, `${name}.canvas.png`), px.png);
}
