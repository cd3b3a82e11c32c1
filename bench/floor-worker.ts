import { parentPort, workerData } from "node:worker_threads";
import { gzipSync } from "node:zlib";
import sharp from "sharp";

// The codec floor: only decode the slices and gzip the same bytes, nothing else.
const { files, level } = workerData as { files: string[]; level: number };
let bytes = 0;
for (const f of files) {
  // b-w: without it sharp hands greyscale back as 3-channel sRGB (3× the bytes).
  const { data } = await sharp(f).toColourspace("b-w").raw().toBuffer({ resolveWithObject: true });
  bytes += gzipSync(data, { level }).length;
}
parentPort!.postMessage(bytes);
