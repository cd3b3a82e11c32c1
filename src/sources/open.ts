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
        allowGaps: spec.allowGaps,
        signal: options.signal,
      });
    }
    case "tiff": {
      const { openTiff } = await import("./tiff/source.js");
      return openTiff(spec.input);
    }
    case "nifti": {
      const { openNifti } = await import("./nifti.js");
      return openNifti(spec.input);
    }
    case "contrast": {
      const { ContrastSource } = await import("./contrast.js");
      return new ContrastSource(await openSource(spec.source, options), spec.window);
    }
    case "aligned": {
      const { openAligned } = await import("./aligned/source.js");
      return openAligned(spec.input, {
        method: spec.method,
        box: spec.box,
        removeNaN: spec.removeNaN,
        signal: options.signal,
      });
    }
    case "render": {
      const { openRender } = await import("./render.js");
      return openRender(spec.input, { signal: options.signal });
    }
    case "precomputed":
      // Convert jobs read scale by scale through PrecomputedVolume, not as one VolumeSource.
      throw new Error("a precomputed source is read through PrecomputedVolume, not openSource");
  }
}
