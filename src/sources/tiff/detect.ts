/**
 * Which single-file source kind an ingest input is, from its name, else its first bytes:
 * - `.nii`, `.nii.gz` (or NIfTI magic "n+1"/"n+2"/"ni1" at byte 344 of an uncompressed file) →
 *   "nifti";
 * - an existing regular file `.tif`/`.tiff`/`.btf`/`.tf8` (or TIFF/BigTIFF magic) → "tiff": one
 *   file whose pages are z, read by region with voxport's own TIFF reader;
 * - anything else (folders, globs, printf patterns, URLs, PNG/JPEG files) → undefined: an image
 *   stack.
 * Synchronous on purpose: it runs once, when an ingest is prepared.
 */
import { closeSync, openSync, readSync, statSync } from "node:fs";

export function detectFileKind(input: string): "tiff" | "nifti" | undefined {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(input)) return undefined;
  if (/\.nii(\.gz)?$/i.test(input)) return "nifti";
  let isFile = false;
  try {
    isFile = statSync(input).isFile();
  } catch {
    return undefined;
  }
  if (!isFile) return undefined;
  if (/\.(tiff?|btf|tf8)$/i.test(input)) return "tiff";
  if (/\.(png|jpe?g)$/i.test(input)) return undefined;
  const head = Buffer.alloc(348);
  let n = 0;
  try {
    const fd = openSync(input, "r");
    try {
      n = readSync(fd, head, 0, head.length, 0);
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined;
  }
  const b = head.subarray(0, n);
  if (n >= 4) {
    const s = b.toString("latin1", 0, 4);
    if (s === "II*\0" || s === "MM\0*" || s === "II+\0" || s === "MM\0+") return "tiff";
  }
  if (n >= 348) {
    const m = b.toString("latin1", 344, 347);
    if (m === "n+1" || m === "ni1") return "nifti";
  }
  if (n >= 8 && (b.toString("latin1", 4, 7) === "n+2" || b.toString("latin1", 4, 7) === "ni2")) {
    return "nifti";
  }
  return undefined;
}
