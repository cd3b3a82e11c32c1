import type { Command } from "commander";
import { bytesPerVoxel } from "../ops/array.js";
import { serializeInfo } from "../precomputed/info.js";
import { PrecomputedVolume } from "../precomputed/volume.js";
import { openStore } from "../storage/registry.js";
import { formatBytes } from "./parse.js";

export function registerInfo(program: Command): void {
  program
    .command("info")
    .description("Show a precomputed dataset's layout: type, data type, and every scale.")
    .argument("<dataset>", "path or URL of the dataset (the folder holding `info`)")
    .option("--json", "print the info file itself")
    .action(async (dataset: string, flags: { json?: boolean }) => {
      const vol = await PrecomputedVolume.open(openStore(dataset));
      const info = vol.info;
      if (flags.json) {
        process.stdout.write(serializeInfo(info));
        return;
      }
      const bpv = bytesPerVoxel(info.data_type) * info.num_channels;
      const lines = [
        `${vol.store.url}`,
        `  type ${info.type}, ${info.data_type}, ${info.num_channels} channel(s), ${info.scales.length} scale(s)`,
        "  scale  key                size                 offset          resolution (nm)   chunk        encoding  chunks   raw size",
      ];
      info.scales.forEach((s, i) => {
        const c = s.chunk_sizes[0];
        const chunks = [0, 1, 2].reduce((n, d) => n * Math.ceil(s.size[d] / c[d]), 1);
        const raw = s.size[0] * s.size[1] * s.size[2] * bpv;
        lines.push(
          `  ${String(i).padEnd(6)} ${s.key.padEnd(18)} ${s.size.join("×").padEnd(20)} ${(s.voxel_offset ?? [0, 0, 0]).join(",").padEnd(15)} ${s.resolution.join("×").padEnd(17)} ${c.join("×").padEnd(12)} ${(s.encoding + (s.sharding ? "+shard" : "")).padEnd(9)} ${String(chunks).padEnd(8)} ${formatBytes(raw)}`,
        );
      });
      process.stdout.write(`${lines.join("\n")}\n`);
    });
}
