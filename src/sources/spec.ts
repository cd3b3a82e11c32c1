/**
 * How a job names its input, as plain JSON: it travels in `.voxport/job.json` and in queue
 * messages, so a worker on another machine reopens exactly the same source. Options that change
 * voxel values (a contrast window resolved from a histogram, for instance) are stored resolved,
 * never as "auto", so every worker computes the same bytes.
 *
 * Every kind has `input`: the main path or URL (the CLI makes local paths absolute before a job
 * goes on a queue; provenance and the worker's context cache key use it).
 */
export type SourceSpec =
  | {
      kind: "image-stack";
      input: string;
      zRegex?: string;
      filter?: string;
      /** Missing z numbers (and missing tiles of tiled sections) read as zeros. */
      allowGaps?: boolean;
    }
  /** One TIFF file, classic or BigTIFF: its pages are z (src/sources/tiff/). */
  | { kind: "tiff"; input: string }
  /** A NIfTI-1/2 file, `.nii` or `.nii.gz`: voxel axes i, j, k are x, y, z; a 4th is channels. */
  | { kind: "nifti"; input: string }
  /** `source` mapped to uint8 through `window` [min, max] (resolved numbers, never "auto"). */
  | { kind: "contrast"; input: string; source: SourceSpec; window: [number, number] }
  /**
   * Aligned sections: `input` is a registry.txt (ChunkFlow.jl/Alembic), a directory holding one,
   * or a .jsonl sections file with per-section affines (src/sources/aligned/). `box` is the
   * output extent in the list's global coordinates (default: the union of the placed sections);
   * `method` is linear for images, nearest for labels.
   */
  | {
      kind: "aligned";
      input: string;
      method: "linear" | "nearest";
      box?: { min: [number, number, number]; max: [number, number, number] };
      removeNaN?: boolean;
    }
  /** An existing precomputed dataset: `voxport convert` copies each scale, re-encoded. */
  | { kind: "precomputed"; input: string }
  /** A render-ws stack, `render://host/owner/project/stack?…` (src/sources/render.ts). */
  | { kind: "render"; input: string };

export type SourceKind = SourceSpec["kind"];
