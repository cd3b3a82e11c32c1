import { VoxportError } from "../../errors.js";
import type { Box } from "../../ops/bbox.js";
import type { SourceSpec } from "../spec.js";
import { isAlignedInput } from "./registry.js";

/** The ingest options an aligned source depends on (a subset of IngestOptions). */
export interface AlignedIngestOptions {
  source: string;
  type?: "image" | "segmentation";
  zRegex?: string;
  filter?: string;
  box?: Box;
  removeNaN?: boolean;
}

/**
 * The aligned-sections SourceSpec when `opts.source` is a registry file, a directory holding
 * registry.txt, or a .jsonl sections file; undefined otherwise. Options that only make sense for
 * one kind are rejected here, naming the option.
 */
export function alignedSpecOf(opts: AlignedIngestOptions): SourceSpec | undefined {
  if (!isAlignedInput(opts.source)) {
    if (opts.box !== undefined || opts.removeNaN) {
      throw new VoxportError(
        "INVALID_ARGUMENT",
        `--task: ${opts.source} is not a registry (registry.txt, a folder holding one, or a .jsonl sections file); a ChunkFlow task reads aligned sections`,
      );
    }
    return undefined;
  }
  if (opts.zRegex !== undefined) {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `--z-regex: ${opts.source} is a section list, where z is the line order (registry) or the z field (.jsonl)`,
    );
  }
  if (opts.filter !== undefined) {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `--filter applies to remote image stacks, not to ${opts.source}`,
    );
  }
  return {
    kind: "aligned",
    input: opts.source,
    method: opts.type === "segmentation" ? "nearest" : "linear",
    ...(opts.box ? { box: { min: [...opts.box.min], max: [...opts.box.max] } } : {}),
    ...(opts.removeNaN ? { removeNaN: true } : {}),
  };
}
