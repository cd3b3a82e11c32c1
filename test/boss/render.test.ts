import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { isVoxportError } from "../../src/errors.js";
import { PrecomputedVolume } from "../../src/precomputed/volume.js";
import { openRender } from "../../src/sources/render.js";
import { openStore } from "../../src/storage/registry.js";
import { prepareIngest, runIngest } from "../../src/tasks/ingest.js";
import { type RenderServer, startRenderServer } from "../servers/render.js";

/**
 * render-ws input: a test server renders a known function through the box API; an ingest from
 * it must hold exactly that function (8-bit through an intensity window, and 16-bit).
 */

const bounds = { minX: 100, maxX: 400, minY: 50, maxY: 250, minZ: 3, maxZ: 9 };
const value = (x: number, y: number, z: number) => (x * 37 + y * 101 + z * 1009) % 4000;
const W = bounds.maxX - bounds.minX;
const H = bounds.maxY - bounds.minY;
const D = bounds.maxZ - bounds.minZ + 1;

let server: RenderServer;
const url = (q: string) => `render://${server.host}/lab/proj/aligned?protocol=http&tile=128${q}`;

before(async () => {
  server = await startRenderServer({
    owner: "lab",
    project: "proj",
    stack: "aligned",
    bounds,
    channels: ["DAPI", "GFP"],
    value,
  });
});
after(() => server.close());

async function ingest(source: string, name: string) {
  const p = await prepareIngest({
    source,
    destination: `mem://render-${name}`,
    resolution: [4, 4, 40],
    chunkSize: [64, 64, 4],
    workers: 0,
  });
  await runIngest(p);
  const vol = await PrecomputedVolume.open(openStore(`mem://render-${name}`));
  return vol.read(0, { min: [0, 0, 0], max: [W, H, D] });
}

describe("render-ws source", () => {
  test("8-bit through minIntensity/maxIntensity equals the rendered function", async () => {
    const got = await ingest(url("&channel=GFP&minIntensity=0&maxIntensity=4000"), "8");
    assert.equal(got.dtype, "uint8");
    let bad = 0;
    for (let z = 0; z < D; z++)
      for (let y = 0; y < H; y++)
        for (let x = 0; x < W; x++) {
          const v = value(x + bounds.minX, y + bounds.minY, z + bounds.minZ);
          const want = Math.max(0, Math.min(255, Math.round((255 * v) / 4000)));
          if (got.data[x + W * (y + H * z)] !== want) bad++;
        }
    assert.equal(bad, 0);
    // Tiles of at most 128×128 with the channel and window on every request.
    const tiles = server.requests.filter((r) => r.includes("/box/"));
    assert.ok(tiles.length >= D * Math.ceil(W / 128) * Math.ceil(H / 128));
    assert.ok(
      tiles.every((r) => /png-image\?channels=GFP&minIntensity=0&maxIntensity=4000$/.test(r)),
    );
    assert.ok(
      tiles.some((r) => r.includes("/z/9/")),
      "the last section (maxZ) is read",
    );
  });

  test("16-bit (png16-image) equals the function exactly", async () => {
    const got = await ingest(url("&bits=16"), "16");
    assert.equal(got.dtype, "uint16");
    let bad = 0;
    for (let z = 0; z < D; z++)
      for (let y = 0; y < H; y++)
        for (let x = 0; x < W; x++) {
          if (
            got.data[x + W * (y + H * z)] !==
            value(x + bounds.minX, y + bounds.minY, z + bounds.minZ)
          )
            bad++;
        }
    assert.equal(bad, 0);
  });

  test("retries tiles that fail, and names a missing channel", async () => {
    server.failFirst = true;
    try {
      const src = await openRender(url("&bits=16"), { backoffMs: 1 });
      const b = await src.read({ min: [10, 20, 1], max: [50, 60, 2] });
      assert.equal(b.data[0], value(110, 70, 4));
    } finally {
      server.failFirst = false;
    }
    await assert.rejects(
      openRender(url("&channel=RFP")),
      (e: unknown) => isVoxportError(e, "INVALID_SOURCE") && /RFP.*DAPI, GFP/.test(e.message),
    );
    await assert.rejects(
      openRender(`render://${server.host}/lab/proj?protocol=http`),
      (e: unknown) => isVoxportError(e, "INVALID_ARGUMENT"),
    );
  });
});
