import { writeFile } from "node:fs/promises";
import { extname } from "node:path";
import type { Command } from "commander";
import sharp from "sharp";
import { VoxportError } from "../errors.js";
import { asBytes, type Block } from "../ops/array.js";
import { encodeNpy } from "../ops/npy.js";
import { PrecomputedVolume } from "../precomputed/volume.js";
import { openStore } from "../storage/registry.js";
import { parseBoxArg, parseIntIn } from "./parse.js";

export function registerCutout(program: Command): void {
  program
    .command("cutout")
    .description(
      "Read a box of a dataset back into a file.\n\n" +
        "  .npy   NumPy array, shape (x, y, z, channels) — numpy.load(path) reads it\n" +
        "  .raw   the bare little-endian voxels, x fastest (shape printed)\n" +
        "  .png/.tif  one image per z-slice (OUT_z0000.png, …), or a single file for one slice",
    )
    .argument("<dataset>", "path or URL of the dataset")
    .requiredOption(
      "-b, --box <x0,y0,z0:x1,y1,z1>",
      "half-open box in voxels of the chosen scale",
      parseBoxArg,
    )
    .option("-s, --scale <n>", "scale index (0 = full resolution)", parseIntIn("--scale", 0, 63), 0)
    .requiredOption("-o, --output <file>", "output file: .npy, .raw, .png or .tif")
    .action(
      async (
        dataset: string,
        flags: {
          box: { min: [number, number, number]; max: [number, number, number] };
          scale: number;
          output: string;
        },
      ) => {
        const vol = await PrecomputedVolume.open(openStore(dataset));
        if (flags.scale >= vol.info.scales.length) {
          throw new VoxportError(
            "INVALID_ARGUMENT",
            `--scale ${flags.scale}: ${dataset} has ${vol.info.scales.length} scale(s)`,
          );
        }
        const ext = extname(flags.output).toLowerCase();
        if (![".npy", ".raw", ".png", ".tif", ".tiff"].includes(ext)) {
          throw new VoxportError(
            "INVALID_ARGUMENT",
            `--output ${flags.output}: use a .npy, .raw, .png or .tif file name`,
          );
        }
        const block = await vol.read(flags.scale, flags.box);
        if (ext === ".npy") await writeFile(flags.output, encodeNpy(block));
        else if (ext === ".raw") await writeFile(flags.output, asBytes(block.data));
        else await writeImages(block, flags.output, ext);
        process.stderr.write(
          `wrote ${flags.output}: ${block.shape.join("×")} ${block.dtype} (x, y, z, channels)\n`,
        );
      },
    );
}

async function writeImages(block: Block, output: string, ext: string): Promise<void> {
  const [sx, sy, sz, nc] = block.shape;
  if (!(block.dtype === "uint8" || block.dtype === "uint16") || !(nc === 1 || nc === 3)) {
    throw new VoxportError(
      "UNSUPPORTED",
      `${ext} output needs uint8/uint16 with 1 or 3 channels; use .npy for ${block.dtype} × ${nc}`,
    );
  }
  const base = output.slice(0, output.length - ext.length);
  const Ctor = block.dtype === "uint8" ? Uint8Array : Uint16Array;
  for (let z = 0; z < sz; z++) {
    // Interleave channels per pixel, as image files want.
    const px = new Ctor(sx * sy * nc);
    const src = block.data as Uint8Array | Uint16Array;
    for (let c = 0; c < nc; c++) {
      const plane = (z + sz * c) * sx * sy;
      for (let i = 0; i < sx * sy; i++) px[i * nc + c] = src[plane + i];
    }
    let img = sharp(px, { raw: { width: sx, height: sy, channels: nc as 1 | 3 } });
    if (block.dtype === "uint16") img = img.toColourspace(nc === 1 ? "grey16" : "rgb16");
    const file = sz === 1 ? output : `${base}_z${String(z).padStart(4, "0")}${ext}`;
    await (ext === ".png" ? img.png() : img.tiff()).toFile(file);
  }
}
