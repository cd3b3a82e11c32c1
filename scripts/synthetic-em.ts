import { existsSync } from "node:fs";
import { mkdir, readdir, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import sharp from "sharp";

/**
 * A synthetic stack that looks like EM: a smooth background, dark membrane-like curves, small
 * dark blobs (vesicles) and noise, so that gzip and PNG see realistic entropy (not zeros, not
 * white noise). Deterministic; generated once per folder and reused (a `.complete` marker).
 * Used by `npm run demo` and `npm run bench`.
 */
export async function ensureSyntheticStack(
  dir: string,
  width: number,
  height: number,
  depth: number,
): Promise<string[]> {
  const done = join(dir, ".complete");
  if (existsSync(done))
    return (await readdir(dir))
      .filter((f) => f.endsWith(".png"))
      .sort()
      .map((f) => join(dir, f));
  await mkdir(dir, { recursive: true });
  const files: string[] = [];
  const px = new Uint8Array(width * height);
  let seed = 12345;
  const rand = () => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return seed / 4294967296;
  };
  for (let z = 0; z < depth; z++) {
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const membrane = Math.abs(
          Math.sin(x * 0.013 + Math.sin(y * 0.011 + z * 0.05) * 3 + z * 0.02),
        );
        const base = 150 + 40 * Math.sin((x + 2 * z) * 0.004) * Math.cos(y * 0.003);
        let v = membrane < 0.06 ? 40 : base;
        v += (rand() - 0.5) * 24;
        px[x + y * width] = v < 0 ? 0 : v > 255 ? 255 : v;
      }
    }
    for (let b = 0; b < 200; b++) {
      const cx = Math.floor(rand() * width);
      const cy = Math.floor(rand() * height);
      for (let dy = -3; dy <= 3; dy++)
        for (let dx = -3; dx <= 3; dx++) {
          const x = cx + dx;
          const y = cy + dy;
          if (x >= 0 && y >= 0 && x < width && y < height && dx * dx + dy * dy <= 9)
            px[x + y * width] = 60;
        }
    }
    const file = join(dir, `section_${String(z).padStart(5, "0")}.png`);
    await sharp(px, { raw: { width, height, channels: 1 } })
      .toColourspace("b-w")
      .png({ compressionLevel: 6 })
      .toFile(`${file}.tmp`);
    await rename(`${file}.tmp`, file);
    files.push(file);
  }
  await writeFile(done, "ok");
  return files;
}
