/**
 * The two ways to list aligned sections, parsed into one form: a section at z, its file and the
 * affine that places it (source pixels → global output pixels, emwrite's `[a b c d e f]`, the
 * conventions of src/ops/resample.ts).
 *
 * 1. `registry.txt`, the ChunkFlow.jl / Alembic format (BigArrays' AlignedBigArray reads it):
 *      name [rotation] off_x off_y width height rendered
 *    one section per line, fields separated by spaces or tabs. The section's pixel (i, j) lands
 *    on global pixel (off_x + i, off_y + j): a translation by whole pixels, offsets may be
 *    negative. Pixels live in `<dir>/<name>.h5` (HDF5 dataset "img", as Alembic writes them) or,
 *    for users without HDF5, in `<dir>/<name>.png|.tif|.tiff|.jpg|.jpeg` (first that exists,
 *    in that order, `.h5` and `.hdf5` first).
 *
 * 2. A sections file (`*.jsonl`, voxport's extension for per-section affines): one JSON object
 *    per line, `{"z": 0, "file": "s000.png", "affine": [a, b, c, d, e, f]}`; `file` is relative to
 *    the sections file (or absolute); `.h5`/`.hdf5` files are HDF5 (dataset "img"), anything else
 *    an image; `affine` may be omitted (identity) and may also be emwrite's string form
 *    "[a, b, c, d, e, f]".
 *
 * Decisions on the quirks of real registry files (seed-systems §2.3, §6.3):
 *  - z is the line's index among section lines, from 0 (BigArrays: the 1-based row of
 *    `readdlm`, which skips blank and comment lines the same way). A sections file has explicit z;
 *    z values it does not list are missing sections and read as zeros.
 *  - `#` starts a comment anywhere on a line (as `readdlm`); blank lines are skipped; trailing
 *    whitespace, Windows (CRLF) and old Mac (CR) line endings and a UTF-8 byte-order mark are
 *    accepted.
 *  - `rotation` (7-field form) must be a number and is ignored, as BigArrays ignores it: Alembic
 *    records the rotation it already applied when rendering the section.
 *  - `rendered` must be true/false (any case) or 1/0 and does not change placement (as
 *    BigArrays). Any other value is an error: it almost always means shifted columns.
 *  - Offsets must be whole numbers (`-1234` or `-1234.0`); a fractional offset is an error that
 *    points to the sections file, which can express sub-pixel placement.
 *  - The same name on two lines, or the same z twice in a sections file, is an error naming both
 *    lines (a registry concatenated twice would otherwise silently double the stack).
 *  - width/height must match the section file; a mismatch is an error naming the line
 *    (checked when the files are opened, see source.ts).
 *  - A directory argument means `<dir>/registry.txt` (as ChunkFlow's `registerFile`).
 * Every error names the file and line, and nothing is written before the list validates.
 */
import { existsSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname, extname, isAbsolute, join, resolve } from "node:path";
import { VoxportError } from "../../errors.js";
import { type Affine2, IDENTITY, parseAffine } from "../../ops/resample.js";

export interface SectionEntry {
  /** z of the section in the output volume (global, before any voxel offset). */
  z: number;
  /** The name as the list gives it: a registry name or a sections-file `file`. */
  name: string;
  /** Source pixels → global output pixels. */
  affine: Affine2;
  /** registry.txt only: the width and height the line declares. */
  declaredSize?: [number, number];
  /** `<list file>:<line>`, for error messages. */
  where: string;
}

export interface SectionList {
  /** The registry or sections file that was read (absolute). */
  file: string;
  format: "registry" | "sections";
  /** Sorted by z. */
  sections: SectionEntry[];
}

/** Extensions tried, in order, for a registry name; the first file that exists is used. */
export const REGISTRY_EXTENSIONS = [".h5", ".hdf5", ".png", ".tif", ".tiff", ".jpg", ".jpeg"];

const HDF5_EXTENSIONS = new Set([".h5", ".hdf5"]);

export function isHdf5Path(path: string): boolean {
  return HDF5_EXTENSIONS.has(extname(path).toLowerCase());
}

function bad(where: string, message: string): VoxportError {
  return new VoxportError("INVALID_SOURCE", `${where}: ${message}`);
}

/** Lines with their 1-based numbers, comments and surrounding whitespace removed, blanks dropped. */
function contentLines(text: string, comments: boolean): Array<{ n: number; text: string }> {
  const out: Array<{ n: number; text: string }> = [];
  const lines = text.replace(/^\uFEFF/, "").split(/\r\n|\r|\n/);
  for (let i = 0; i < lines.length; i++) {
    let t = lines[i];
    if (comments) {
      const hash = t.indexOf("#");
      if (hash >= 0) t = t.slice(0, hash);
    } else if (/^\s*#/.test(t)) continue;
    t = t.trim();
    if (t.length > 0) out.push({ n: i + 1, text: t });
  }
  return out;
}

function wholeNumber(token: string, where: string, field: string): number {
  const v = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(token) ? Number(token) : Number.NaN;
  if (!Number.isFinite(v)) throw bad(where, `${field} ${JSON.stringify(token)} is not a number`);
  if (!Number.isSafeInteger(v)) {
    throw bad(
      where,
      `${field} ${token} is not a whole number of pixels (registry offsets are whole pixels; ` +
        "for sub-pixel placement list the sections in a .jsonl sections file with an affine)",
    );
  }
  return v;
}

/** Parses registry.txt text (ChunkFlow.jl / Alembic). `file` names it in errors. */
export function parseRegistry(text: string, file: string): SectionList {
  const sections: SectionEntry[] = [];
  const seen = new Map<string, string>();
  for (const { n, text: line } of contentLines(text, true)) {
    const where = `${file}:${n}`;
    const f = line.split(/\s+/);
    if (f.length !== 6 && f.length !== 7) {
      throw bad(
        where,
        `expected 6 fields (name off_x off_y width height rendered) or 7 (name rotation off_x ` +
          `off_y width height rendered), got ${f.length}: ${JSON.stringify(line)}`,
      );
    }
    const [name, ...rest] = f;
    if (f.length === 7) {
      const rotation = rest.shift() as string;
      if (!Number.isFinite(Number(rotation)) || rotation === "") {
        throw bad(where, `rotation ${JSON.stringify(rotation)} is not a number`);
      }
    }
    const [ox, oy, w, h, rendered] = rest;
    const offX = wholeNumber(ox, where, "off_x");
    const offY = wholeNumber(oy, where, "off_y");
    const width = wholeNumber(w, where, "width");
    const height = wholeNumber(h, where, "height");
    if (width <= 0 || height <= 0) throw bad(where, `size ${w}×${h} is empty`);
    if (!/^(true|false|1|0)$/i.test(rendered)) {
      throw bad(
        where,
        `rendered must be true or false, got ${JSON.stringify(rendered)} (are the columns shifted?)`,
      );
    }
    const prev = seen.get(name);
    if (prev !== undefined) throw bad(where, `section ${name} is listed twice (also at ${prev})`);
    seen.set(name, where);
    sections.push({
      z: sections.length,
      name,
      affine: [1, 0, 0, 1, offX, offY],
      declaredSize: [width, height],
      where,
    });
  }
  if (sections.length === 0) throw bad(file, "the registry lists no sections");
  return { file, format: "registry", sections };
}

const SECTION_KEYS = new Set(["z", "file", "affine"]);

/** Parses a sections file (JSON Lines, `{z, file, affine}` per line). */
export function parseSectionsFile(text: string, file: string): SectionList {
  const sections: SectionEntry[] = [];
  const seen = new Map<number, string>();
  for (const { n, text: line } of contentLines(text, false)) {
    const where = `${file}:${n}`;
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch (e) {
      throw bad(where, `not a JSON object: ${(e as Error).message}`);
    }
    if (typeof obj !== "object" || obj === null || Array.isArray(obj)) {
      throw bad(where, `expected an object {"z", "file", "affine"}, got ${line}`);
    }
    const o = obj as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      if (!SECTION_KEYS.has(k)) {
        throw bad(where, `unknown key ${JSON.stringify(k)} (a section has z, file and affine)`);
      }
    }
    if (typeof o.z !== "number" || !Number.isSafeInteger(o.z)) {
      throw bad(where, `z must be an integer, got ${JSON.stringify(o.z)}`);
    }
    if (typeof o.file !== "string" || o.file.length === 0) {
      throw bad(where, `file must be a non-empty string, got ${JSON.stringify(o.file)}`);
    }
    const affine = o.affine === undefined ? IDENTITY : parseAffine(o.affine, `${where}: affine`);
    const prev = seen.get(o.z);
    if (prev !== undefined) throw bad(where, `z ${o.z} is listed twice (also at ${prev})`);
    seen.set(o.z, where);
    sections.push({ z: o.z, name: o.file, affine, where });
  }
  if (sections.length === 0) throw bad(file, "the sections file lists no sections");
  sections.sort((a, b) => a.z - b.z);
  return { file, format: "sections", sections };
}

/**
 * Whether `input` names aligned sections: a `.jsonl` sections file, a registry `.txt` file, or a
 * directory holding `registry.txt`. Local paths only.
 */
export function isAlignedInput(input: string): boolean {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(input)) return false;
  try {
    const st = statSync(input);
    if (st.isDirectory()) return existsSync(join(input, "registry.txt"));
    const ext = extname(input).toLowerCase();
    return st.isFile() && (ext === ".jsonl" || ext === ".txt");
  } catch {
    return false;
  }
}

/** Reads and parses the list `input` names (a directory means `<dir>/registry.txt`). */
export async function readSectionList(input: string): Promise<SectionList> {
  let file = resolve(input);
  try {
    if (statSync(file).isDirectory()) file = join(file, "registry.txt");
  } catch {
    throw new VoxportError("NOT_FOUND", `${input}: no such registry or sections file`);
  }
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new VoxportError(
      code === "ENOENT" ? "NOT_FOUND" : "INVALID_SOURCE",
      `${file}: cannot read (${(e as Error).message})`,
      { cause: e },
    );
  }
  return extname(file).toLowerCase() === ".jsonl"
    ? parseSectionsFile(text, file)
    : parseRegistry(text, file);
}

/** The file holding a section's pixels; a NOT_FOUND error naming the list line when none. */
export function sectionPath(list: SectionList, s: SectionEntry): string {
  const dir = dirname(list.file);
  if (list.format === "sections") {
    const path = isAbsolute(s.name) ? s.name : join(dir, s.name);
    if (!isFile(path))
      throw new VoxportError("NOT_FOUND", `${s.where}: section file ${path} not found`);
    return path;
  }
  for (const ext of REGISTRY_EXTENSIONS) {
    const path = join(dir, `${s.name}${ext}`);
    if (isFile(path)) return path;
  }
  throw new VoxportError(
    "NOT_FOUND",
    `${s.where}: section ${s.name} has no file in ${dir} (looked for ${s.name}` +
      `{${REGISTRY_EXTENSIONS.join(",")}})`,
  );
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
