import { mkdtemp, readdir, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { Writable } from "node:stream";
import sharp from "sharp";
import { buildServer, type ServeOptions, type Server } from "../../src/server/app.js";

export const TOKEN = "t0k3n-for-the-server-tests-0123456789abcdef";

export interface Running {
  server: Server;
  url: string;
  /** Every log line the server wrote. */
  logs: string[];
  post(path: string, body: unknown, headers?: Record<string, string>): Promise<Response>;
  close(): Promise<void>;
}

/** A real server on a free loopback port, logging into `logs`. */
export async function startServer(
  o: Partial<ServeOptions> & { allow: string[] },
): Promise<Running> {
  const logs: string[] = [];
  const logStream = new Writable({
    write(chunk, _enc, cb) {
      logs.push(...String(chunk).split("\n").filter(Boolean));
      cb();
    },
  });
  const server = await buildServer({
    auth: { tokens: [TOKEN] },
    ...o,
    logStream,
    logLevel: "debug",
  });
  const url = await server.app.listen({ port: 0, host: "127.0.0.1" });
  return {
    server,
    url,
    logs,
    post: (path, body, headers = {}) =>
      fetch(`${url}${path}`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          accept: "application/json",
          authorization: `Bearer ${TOKEN}`,
          ...headers,
        },
        body: typeof body === "string" ? body : JSON.stringify(body),
      }),
    close: () => server.close(),
  };
}

export function tempDir(name: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `voxport-${name}-`));
}

/** All files under `dir`, relative, sorted. */
export async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(d: string) {
    let entries: import("node:fs").Dirent[];
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else out.push(relative(dir, p));
    }
  }
  await walk(dir);
  return out.sort();
}

export async function readAll(dir: string): Promise<Map<string, Buffer>> {
  const m = new Map<string, Buffer>();
  for (const f of await listFiles(dir)) m.set(f, await readFile(join(dir, f)));
  return m;
}

/** A greyscale EM-like section: smooth blobs and stripes, deterministic from `seed`. */
export async function writeSection(
  path: string,
  w: number,
  h: number,
  seed: number,
): Promise<void> {
  const px = Buffer.alloc(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const v =
        128 +
        60 * Math.sin((x + seed * 7) / 9) * Math.cos((y - seed * 3) / 13) +
        40 * Math.sin((x * y + seed) / 500) +
        ((x * 31 + y * 17 + seed * 101) % 23);
      px[y * w + x] = Math.max(1, Math.min(255, Math.round(v)));
    }
  }
  await sharp(px, { raw: { width: w, height: h, channels: 1 } })
    .toColourspace("b-w")
    .png()
    .toFile(path);
}
