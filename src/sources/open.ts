import type { VolumeSource } from "./source.js";
import type { SourceSpec } from "./spec.js";

/**
 * Opens the input a job names. Every source kind has one case here, so the planner, the
 * workers and the HTTP service open inputs the same way.
 */
export async function openSource(
  spec: SourceSpec,
  options: { signal?: AbortSignal } = {},
): Promise<VolumeSource> {
  switch (spec.kind) {
    case "image-stack": {
      const { openImageStack } = await import("./image-stack.js");
      return openImageStack(spec.input, {
        zRegex: spec.zRegex,
        filter: spec.filter,
        signal: options.signal,
      });
    }
    case "precomputed":
      // Convert jobs read scale by scale through PrecomputedVolume, not as one VolumeSource.
      throw new Error("a precomputed source is read through PrecomputedVolume, not openSource");
  }
}
