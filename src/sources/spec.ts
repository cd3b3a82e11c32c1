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
  | { kind: "image-stack"; input: string; zRegex?: string; filter?: string }
  /** An existing precomputed dataset: `voxport convert` copies each scale, re-encoded. */
  | { kind: "precomputed"; input: string };

export type SourceKind = SourceSpec["kind"];
