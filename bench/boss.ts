import { bloscEncode } from "../src/boss/blosc.js";
import { BossClient } from "../src/boss/client.js";
import type { Box } from "../src/ops/bbox.js";
import { startBossServer } from "../test/servers/boss.js";

/**
 * BOSS sink figures: blosc encode speed of one 1024×1024×16 block (numcodecs' WASM c-blosc,
 * lz4 + shuffle) on EM-like uint8 and uint16 data, and cutout POST throughput to the test server
 * on loopback (the server decodes and stores every block, so this is a floor for the client's
 * own cost, not a network figure).
 */

export interface BossBench {
  encode: { dtype: string; mbPerSecond: number; ratio: number }[];
  post: { blocks: number; mbPerSecond: number; blocksPerSecond: number };
  peakRssBytes: number;
}

function emLike(n: number, bytes: 1 | 2): Uint8Array {
  const out = new Uint8Array(n * bytes);
  let s = 12345;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    const v = 96 + ((i % 1024) >> 4) + ((s >>> 24) & 31);
    if (bytes === 1) out[i] = v;
    else {
      out[2 * i] = (v * 37) & 255;
      out[2 * i + 1] = v >> 3;
    }
  }
  return out;
}

export async function benchBoss(): Promise<BossBench> {
  const n = 1024 * 1024 * 16;
  const encode: BossBench["encode"] = [];
  for (const [dtype, bytes] of [
    ["uint8", 1],
    ["uint16", 2],
  ] as const) {
    const data = emLike(n, bytes);
    await bloscEncode(data); // load the WASM module
    let best = Number.POSITIVE_INFINITY;
    let size = 0;
    for (let i = 0; i < 3; i++) {
      const t = performance.now();
      size = (await bloscEncode(data)).byteLength;
      best = Math.min(best, performance.now() - t);
    }
    encode.push({
      dtype,
      mbPerSecond: data.byteLength / 1e6 / (best / 1000),
      ratio: data.byteLength / size,
    });
  }

  const server = await startBossServer();
  try {
    const client = new BossClient({ protocol: "http", host: server.host, token: server.token });
    await client.createResource("/collection/b/", { name: "b" });
    await client.createResource("/coord/f/", {
      name: "f",
      x_start: 0,
      x_stop: 4096,
      y_start: 0,
      y_stop: 1024,
      z_start: 0,
      z_stop: 32,
      x_voxel_size: 4,
      y_voxel_size: 4,
      z_voxel_size: 40,
    });
    await client.createResource("/collection/b/experiment/e/", {
      name: "e",
      coord_frame: "f",
      num_hierarchy_levels: 1,
    });
    await client.createResource("/collection/b/experiment/e/channel/c/", {
      name: "c",
      datatype: "uint8",
      type: "image",
    });
    const data = emLike(n, 1);
    const frame = await bloscEncode(data);
    const boxes: Box[] = [];
    for (let z = 0; z < 32; z += 16)
      for (let x = 0; x < 4096; x += 1024)
        boxes.push({ min: [x, 0, z], max: [x + 1024, 1024, z + 16] });
    const t = performance.now();
    await Promise.all(
      [0, 1, 2, 3].map(async (lane) => {
        for (let i = lane; i < boxes.length; i += 4) {
          await client.postCutout(
            { collection: "b", experiment: "e", channel: "c" },
            0,
            boxes[i],
            frame,
          );
        }
      }),
    );
    const s = (performance.now() - t) / 1000;
    return {
      encode,
      post: {
        blocks: boxes.length,
        mbPerSecond: (boxes.length * n) / 1e6 / s,
        blocksPerSecond: boxes.length / s,
      },
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
    };
  } finally {
    await server.close();
  }
}
