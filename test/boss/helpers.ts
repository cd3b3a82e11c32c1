import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import sharp from "sharp";
import type { BossServer } from "../servers/boss.js";

/** A small stack of greyscale PNG slices from a voxel function, and its voxels in C order. */
export async function writeSlices(
  dir: string,
  size: [number, number, number],
  bits: 8 | 16,
  f: (x: number, y: number, z: number) => number,
): Promise<Uint8Array | Uint16Array> {
  await mkdir(dir, { recursive: true });
  const [w, h, d] = size;
  const all = bits === 8 ? new Uint8Array(w * h * d) : new Uint16Array(w * h * d);
  for (let z = 0; z < d; z++) {
    const plane = all.subarray(z * w * h, (z + 1) * w * h);
    for (let y = 0, i = 0; y < h; y++) for (let x = 0; x < w; x++) plane[i++] = f(x, y, z);
    // A typed array (not a Buffer) tells sharp the sample size: Uint16Array → 16-bit.
    const png = await sharp(plane.slice(), { raw: { width: w, height: h, channels: 1 } })
      .toColourspace(bits === 16 ? "grey16" : "b-w")
      .png({ compressionLevel: 1 })
      .toBuffer();
    await writeFile(join(dir, `s${String(z).padStart(3, "0")}.png`), png);
  }
  return all;
}

/** An intern config for the test server, private to its owner. */
export async function writeBossConfig(dir: string, server: BossServer, token = server.token) {
  const path = join(dir, "intern.cfg");
  await writeFile(path, `[Default]\nprotocol = http\nhost = ${server.host}\ntoken = ${token}\n`);
  await chmod(path, 0o600);
  return path;
}

/** Environment without BOSS/intern variables and with no home config. */
export function cleanEnv(home: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home };
  for (const k of Object.keys(env)) if (/^(BOSS|INTERN)_/.test(k)) delete env[k];
  return env;
}
