import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import sharp from "sharp";

/**
 * A render-ws test server (saalfeldlab/render's `render-ws/v1` API, the parts ndpush uses):
 * stack metadata with `stats.stackBounds` and `channelNames`, and the box API
 * `…/z/{z}/box/{x},{y},{w},{h},{scale}/png-image|png16-image` rendering a known voxel
 * function. 8-bit answers are RGB PNGs (render returns colour images; readers take channel 0),
 * with `minIntensity`/`maxIntensity` applied as render does (linear window to 0–255); 16-bit
 * answers are grey16 PNGs. `failFirst` makes the first request of every tile fail with 503.
 */

export interface RenderStack {
  owner: string;
  project: string;
  stack: string;
  bounds: { minX: number; maxX: number; minY: number; maxY: number; minZ: number; maxZ: number };
  channels: string[];
  /** Intensity (16-bit range) of world pixel (x, y) on section z. */
  value(x: number, y: number, z: number): number;
}

export interface RenderServer {
  url: string;
  host: string;
  requests: string[];
  failFirst: boolean;
  close(): Promise<void>;
}

export async function startRenderServer(stack: RenderStack): Promise<RenderServer> {
  const seen = new Set<string>();
  const state: RenderServer = {
    url: "",
    host: "",
    requests: [],
    failFirst: false,
    close: async () => {},
  };
  const base = `/render-ws/v1/owner/${stack.owner}/project/${stack.project}/stack/${stack.stack}`;
  const http: Server = createServer((req, res) => {
    const u = new URL(req.url ?? "/", "http://x");
    state.requests.push(`${u.pathname}${u.search}`);
    const fail = (status: number, msg: string) => {
      res.writeHead(status, { "Content-Type": "text/plain" });
      res.end(msg);
    };
    if (u.pathname === base) {
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end(
        JSON.stringify({
          stackId: { owner: stack.owner, project: stack.project, stack: stack.stack },
          state: "COMPLETE",
          stats: {
            stackBounds: stack.bounds,
            maxTileWidth: 2048,
            maxTileHeight: 2048,
            channelNames: stack.channels,
          },
        }),
      );
      return;
    }
    const m = new RegExp(
      `^${base}/z/(-?\\d+)/box/(-?\\d+),(-?\\d+),(\\d+),(\\d+),([0-9.]+)/(png|png16)-image$`,
    ).exec(u.pathname);
    if (!m) return fail(404, "no such resource");
    const [z, x, y, w, h] = m.slice(1, 6).map(Number);
    const scale = Number(m[6]);
    const bits16 = m[7] === "png16";
    const ch = u.searchParams.get("channels");
    if (ch !== null && !stack.channels.includes(ch)) return fail(400, `unknown channel ${ch}`);
    if (state.failFirst && !seen.has(u.pathname)) {
      seen.add(u.pathname);
      return fail(503, "try again");
    }
    const ow = Math.round(w * scale);
    const oh = Math.round(h * scale);
    const lo = Number(u.searchParams.get("minIntensity") ?? 0);
    const hi = Number(u.searchParams.get("maxIntensity") ?? 65535);
    const px = bits16 ? new Uint16Array(ow * oh) : new Uint8Array(ow * oh * 3);
    for (let j = 0; j < oh; j++) {
      for (let i = 0; i < ow; i++) {
        const wx = x + Math.floor(i / scale);
        const wy = y + Math.floor(j / scale);
        const inside =
          wx >= stack.bounds.minX &&
          wx < stack.bounds.maxX &&
          wy >= stack.bounds.minY &&
          wy < stack.bounds.maxY;
        const v = inside ? stack.value(wx, wy, z) : 0;
        if (bits16) px[j * ow + i] = v;
        else {
          const g = Math.max(0, Math.min(255, Math.round((255 * (v - lo)) / (hi - lo))));
          // Channel 0 carries the value; the others differ so a reader must pick channel 0.
          px.set([g, 255 - g, 7], (j * ow + i) * 3);
        }
      }
    }
    sharp(px, { raw: { width: ow, height: oh, channels: bits16 ? 1 : 3 } })
      .toColourspace(bits16 ? "grey16" : "srgb")
      .png({ compressionLevel: 1 })
      .toBuffer()
      .then((png) => {
        res.writeHead(200, { "Content-Type": "image/png" });
        res.end(png);
      })
      .catch((e: Error) => fail(500, e.message));
  });
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  const port = (http.address() as AddressInfo).port;
  state.url = `http://127.0.0.1:${port}`;
  state.host = `127.0.0.1:${port}`;
  state.close = () =>
    new Promise<void>((r) => {
      http.closeAllConnections();
      http.close(() => r());
    });
  return state;
}
