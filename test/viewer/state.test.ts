/**
 * The Neuroglancer state `voxport view` builds (pure parts), and how remote datasets are pointed
 * at: checked `info` over http, a missing one reported, an unreachable one only warned about.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import type { PrecomputedInfo } from "../../src/precomputed/types.js";
import {
  buildViewerState,
  isRemote,
  layerName,
  percentileWindow,
  remoteHttpUrl,
  remoteSource,
  stateUrl,
} from "../../src/viewer/state.js";
import { openDatasets, viewerState } from "../../src/viewer/view.js";

function info(over: Partial<PrecomputedInfo> = {}, scale: object = {}): PrecomputedInfo {
  return {
    type: "image",
    data_type: "uint8",
    num_channels: 1,
    scales: [
      {
        key: "s0",
        size: [100, 60, 20],
        resolution: [4, 4, 40],
        chunk_sizes: [[64, 64, 8]],
        encoding: "raw",
        ...scale,
      },
    ],
    ...over,
  };
}

describe("viewer state", () => {
  test("dimensions from scale 0 in metres, position at the centre, types by info.type", () => {
    const s = buildViewerState([
      {
        location: "/data/em/",
        source: "precomputed://http://127.0.0.1:1/data/0",
        info: info({}, { voxel_offset: [10, -20, 3], resolution: [6, 8, 30] }),
      },
      {
        location: "file:///data/seg",
        source: "precomputed://http://127.0.0.1:1/data/1",
        info: info({ type: "segmentation", data_type: "uint32" }),
      },
    ]);
    assert.deepEqual(s.dimensions, { x: [6e-9, "m"], y: [8e-9, "m"], z: [3e-8, "m"] });
    assert.deepEqual(s.position, [60, 10, 13]);
    assert.deepEqual(
      s.layers.map((l) => [l.type, l.name, l.source]),
      [
        ["image", "em", "precomputed://http://127.0.0.1:1/data/0"],
        ["segmentation", "seg", "precomputed://http://127.0.0.1:1/data/1"],
      ],
    );
    assert.equal(s.layers[0].shader, undefined, "uint8 keeps Neuroglancer's default shader");
    assert.equal(s.layout, "4panel");
    assert.ok((s.crossSectionScale ?? 0) > 0);
  });

  test("uint16 gets an invlerp window; RGB a colour shader; names made unique", () => {
    const s = buildViewerState([
      { location: "a/img", source: "x", info: info({ data_type: "uint16" }), window: [300, 9000] },
      { location: "b/img", source: "y", info: info({ num_channels: 3 }) },
    ]);
    assert.match(s.layers[0].shader ?? "", /#uicontrol invlerp normalized/);
    assert.deepEqual(s.layers[0].shaderControls, { normalized: { range: [300, 9000] } });
    assert.match(s.layers[1].shader ?? "", /emitRGB/);
    assert.deepEqual(
      s.layers.map((l) => l.name),
      ["img", "img-2"],
    );
  });

  test("URL: base + #! + encodeURIComponent(JSON)", () => {
    const s = buildViewerState([{ location: "v", source: "precomputed://x", info: info() }]);
    const url = stateUrl("http://127.0.0.1:5/", s);
    assert.ok(url.startsWith("http://127.0.0.1:5/#!%7B"));
    assert.deepEqual(JSON.parse(decodeURIComponent(url.slice(url.indexOf("#!") + 2))), s);
  });

  test("percentileWindow: 1st and 99th percentile of the non-zero values", () => {
    const values = new Uint16Array(10000);
    for (let i = 0; i < 9000; i++) values[i] = 1000 + i; // 1000..9999, 1000 zeros
    assert.deepEqual(percentileWindow(values), [1090, 9910]);
    assert.deepEqual(percentileWindow(new Uint16Array(50).fill(7)), [7, 8]);
    assert.deepEqual(percentileWindow(new Uint16Array(50)), [0, 1]);
    assert.equal(percentileWindow([]), undefined);
    assert.deepEqual(percentileWindow(new BigUint64Array([5n, 6n])), [5, 6]);
  });

  test("remote datasets: read by the browser directly; s3 through its https URL", () => {
    assert.equal(remoteSource("https://h.org/a/b/"), "precomputed://https://h.org/a/b");
    assert.equal(remoteSource("gs://bucket/em"), "precomputed://gs://bucket/em");
    assert.equal(
      remoteSource("s3://bucket/x/y"),
      "precomputed://https://bucket.s3.amazonaws.com/x/y",
    );
    assert.equal(
      remoteSource("s3://my.bucket/x"),
      "precomputed://https://s3.amazonaws.com/my.bucket/x",
    );
    assert.equal(remoteHttpUrl("gs://bucket/em"), "https://storage.googleapis.com/bucket/em");
    assert.ok(isRemote("s3://b/x") && isRemote("HTTP://h/x") && !isRemote("file:///x"));
    assert.ok(!isRemote("/data/em") && !isRemote("mem://x"));
    assert.equal(layerName("gs://bucket/em/"), "em");
    assert.equal(layerName("gs://bucket"), "bucket");
  });
});

describe("remote datasets over http", () => {
  let server: Server;
  let base: string;
  before(async () => {
    server = createServer((req, res) => {
      if (req.url === "/ok/info") {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify(info({ data_type: "uint16" })));
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  test("info checked, source points at the URL itself, nothing proxied", async () => {
    const ds = await openDatasets([`${base}/ok`], { sampleContrast: false });
    assert.equal(ds[0].remote, true);
    assert.equal(ds[0].store, undefined);
    assert.equal(ds[0].info?.data_type, "uint16");
    const s = viewerState(ds, () => assert.fail("no local data"));
    assert.equal(s.layers[0].source, `precomputed://${base}/ok`);
  });

  test("a remote URL without info is an error; an unreachable one a warning", async () => {
    await assert.rejects(openDatasets([`${base}/missing`]), /is not a usable precomputed dataset/);
    const warnings: string[] = [];
    // A port nothing listens on: connection refused.
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const ds = await openDatasets([`http://127.0.0.1:${port}/x/em`], {
      warn: (m) => warnings.push(m),
    });
    assert.equal(ds[0].info, undefined);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /could not check/);
    const s = viewerState(ds, () => "");
    assert.deepEqual(s.layers, [
      { type: "image", source: `precomputed://http://127.0.0.1:${port}/x/em`, name: "em" },
    ]);
  });
});
