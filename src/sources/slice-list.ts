/**
 * Turning an image-stack argument (folder, glob or printf pattern) into an ordered list of slice
 * files. No image decoding happens here; see decode.ts.
 *
 * Accepted inputs (`input` is checked literally first, so a folder whose name contains `*` or `%`
 * still works):
 * - a folder: every `.png/.tif/.tiff/.jpg/.jpeg` file in it (case-insensitive, non-recursive);
 * - a glob: `*` and `?` in the last path component only (`data/sec_*.tif`);
 * - a printf pattern: exactly one `%d`, `%Nd` or `%0Nd` in the last path component
 *   (`sections/s%04d.png`); z is the number, and every number between the smallest and the
 *   largest one found must exist;
 * - a single image file (a one-slice stack).
 * `options.pattern` applies a glob or printf pattern to the folder `input`
 * (`listSlices("sections", { pattern: "s%04d.png" })`).
 *
 * In folder and glob mode hidden files (names starting with ".", e.g. macOS "._x.tif" resource
 * forks) are skipped unless the glob itself starts with ".". Non-image extensions are skipped.
 *
 * Order: natural sort of file names ("s2" < "s10"), or z taken from `zRegex` (one capture group,
 * or a named group `z`), or z from the printf number. With `zRegex`, gaps in z are allowed: z
 * only orders the slices; slice k of the volume is the k-th smallest z.
 */
import type { Dirent } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import { basename, dirname, extname, join } from "node:path";
import { VoxportError } from "../errors.js";

export const IMAGE_EXTENSIONS: readonly string[] = [".png", ".tif", ".tiff", ".jpg", ".jpeg"];

export interface SliceFile {
  /** Path as given (joined from the input's folder and the file name). */
  path: string;
  /** File name without folder. */
  name: string;
  /** The z number from a printf pattern or `zRegex`; undefined in natural-sort mode. */
  z?: number;
  /** Tiled sections: the tile's column and row numbers (see the file comment). */
  x?: number;
  y?: number;
}

export interface SliceList {
  /** The folder, glob or pattern, for messages and provenance. */
  description: string;
  files: SliceFile[];
}

export interface SliceListOptions {
  /** Regular expression applied to each file name; z = named group `z` or the only group. */
  zRegex?: string;
  /** Glob or printf pattern for file names inside the folder `input`. */
  pattern?: string;
  /** Missing z numbers are allowed (they become zero sections); so are missing tiles. */
  allowGaps?: boolean;
}

export function isImageFileName(name: string): boolean {
  return IMAGE_EXTENSIONS.includes(extname(name).toLowerCase());
}

/**
 * Natural order: runs of ASCII digits compare as numbers ("s2" < "s10", "a01" == "a1" numerically,
 * then fewer leading zeros first); other runs compare by UTF-16 code units (locale-independent).
 * Ties are broken by plain string order, so the order is total.
 */
export function naturalCompare(a: string, b: string): number {
  const ra = /(\d+|\D+)/g;
  const rb = /(\d+|\D+)/g;
  for (;;) {
    const ma = ra.exec(a);
    const mb = rb.exec(b);
    if (ma === null || mb === null) {
      if (ma === null && mb === null) break;
      return ma === null ? -1 : 1;
    }
    const ta = ma[0];
    const tb = mb[0];
    const da = isDigit(ta.charCodeAt(0));
    const db = isDigit(tb.charCodeAt(0));
    if (da && db) {
      const na = ta.replace(/^0+/, "");
      const nb = tb.replace(/^0+/, "");
      if (na.length !== nb.length) return na.length - nb.length;
      if (na !== nb) return na < nb ? -1 : 1;
      if (ta.length !== tb.length) return ta.length - tb.length;
    } else if (ta !== tb) {
      return ta < tb ? -1 : 1;
    }
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

export function hasGlobChars(s: string): boolean {
  return s.includes("*") || s.includes("?");
}

/** `*` = any run of characters, `?` = one character; everything else is literal. */
export function globToRegExp(glob: string): RegExp {
  let re = "^";
  for (const ch of glob) {
    if (ch === "*") re += ".*";
    else if (ch === "?") re += ".";
    else re += escapeRegExp(ch);
  }
  return new RegExp(`${re}$`, "s");
}

function escapeRegExp(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|/]/g, "\\$&");
}

export interface PrintfPattern {
  readonly source: string;
  /** The file name for number `n`, exactly as C printf would write it. */
  format(n: number): string;
  /** The number encoded in `name`, or undefined when `name` is not exactly `format(n)` for some n. */
  parse(name: string): number | undefined;
}

/**
 * Parse a file-name pattern with exactly one integer conversion: `%d`, `%i`, `%u`, `%Nd`
 * (space-padded) or `%0Nd` (zero-padded). `%%` is a literal percent sign. Returns undefined when
 * the string has no conversion at all; throws INVALID_ARGUMENT for anything else with a `%`.
 */
export function parsePrintfPattern(pattern: string): PrintfPattern | undefined {
  const { literals, convs } = splitConversions(pattern);
  const count = convs.length;
  if (count === 0) return undefined;
  if (count > 1) {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `pattern "${pattern}": exactly one %d conversion is allowed, found ${count}`,
    );
  }
  const [prefix, suffix] = literals;
  const { zero, width } = convs[0];
  const format = (n: number): string => {
    const digits = String(n);
    return prefix + digits.padStart(width, zero ? "0" : " ") + suffix;
  };
  const re = new RegExp(`^${escapeRegExp(prefix)}( *\\d+)${escapeRegExp(suffix)}$`, "s");
  const parse = (name: string): number | undefined => {
    const m = re.exec(name);
    if (m === null) return undefined;
    const n = Number(m[1].trim());
    if (!Number.isSafeInteger(n)) return undefined;
    return format(n) === name ? n : undefined;
  };
  return { source: pattern, format, parse };
}

async function statOrUndefined(path: string) {
  try {
    return await stat(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new VoxportError("INVALID_SOURCE", `cannot access ${path}: ${(e as Error).message}`, {
      cause: e,
    });
  }
}

/** Regular files (following symlinks) in `dir`, unsorted. */
async function listFileNames(dir: string, what: string): Promise<string[]> {
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new VoxportError("NOT_FOUND", `${what}: folder ${dir} not found`);
    if (code === "ENOTDIR") {
      throw new VoxportError("INVALID_ARGUMENT", `${what}: ${dir} is not a folder`);
    }
    throw new VoxportError(
      "INVALID_SOURCE",
      `${what}: cannot list ${dir}: ${(e as Error).message}`,
      {
        cause: e,
      },
    );
  }
  const names: string[] = [];
  for (const e of entries) {
    if (e.isFile()) names.push(e.name);
    else if (e.isSymbolicLink()) {
      const s = await statOrUndefined(join(dir, e.name));
      if (s?.isFile()) names.push(e.name);
    }
  }
  return names;
}

/** Resolve `input` to an ordered list of slice files; errors name the folder or pattern. */
export async function listSlices(
  input: string,
  options: SliceListOptions = {},
): Promise<SliceList> {
  if (input === "") throw new VoxportError("INVALID_ARGUMENT", "image stack: empty input path");
  let dir: string;
  let namePattern: string | undefined;
  let description: string;
  if (options.pattern !== undefined) {
    if (options.pattern.includes("/") || options.pattern.includes("\\")) {
      throw new VoxportError(
        "INVALID_ARGUMENT",
        `pattern "${options.pattern}" must be a file name pattern without folders`,
      );
    }
    dir = input;
    namePattern = options.pattern;
    description = join(input, options.pattern);
  } else {
    const s = await statOrUndefined(input);
    if (s?.isDirectory()) {
      dir = input;
      description = input;
    } else if (s?.isFile()) {
      const name = basename(input);
      if (!isImageFileName(name)) {
        throw new VoxportError(
          "INVALID_SOURCE",
          `${input}: not an image slice (expected ${IMAGE_EXTENSIONS.join(", ")})`,
        );
      }
      return { description: input, files: [{ path: input, name }] };
    } else if (s !== undefined) {
      throw new VoxportError("INVALID_SOURCE", `${input} is neither a file nor a folder`);
    } else {
      dir = dirname(input);
      namePattern = basename(input);
      description = input;
      if (hasGlobChars(dir)) {
        throw new VoxportError(
          "INVALID_ARGUMENT",
          `image stack "${input}": wildcards are only allowed in the last path component`,
        );
      }
      if (parseTemplate(namePattern) === undefined && !hasGlobChars(namePattern)) {
        throw new VoxportError("NOT_FOUND", `image stack: ${input} not found`);
      }
    }
  }

  const names = await listFileNames(dir, description);
  return selectSlices(names, {
    dir,
    description,
    namePattern,
    zRegex: options.zRegex,
    allowGaps: options.allowGaps,
  });
}

/**
 * Picks and orders slices among the file names found in one folder (or, for remote inputs,
 * the object names under one prefix): the printf / glob / natural-sort / zRegex rules above.
 * `pathOf` turns a name into the slice's path (default: joined to `dir`).
 */
export function selectSlices(
  names: string[],
  where: {
    dir: string;
    description: string;
    namePattern?: string;
    zRegex?: string;
    allowGaps?: boolean;
    pathOf?: (name: string) => string;
  },
): SliceList {
  const { dir, description, namePattern } = where;
  const options = { zRegex: where.zRegex };
  const pathOf = where.pathOf ?? ((name: string) => join(dir, name));
  const template = namePattern === undefined ? undefined : parseTemplate(namePattern);
  const printf = template?.fields.length === 1 ? template : undefined;

  if (template !== undefined && options.zRegex !== undefined) {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `image stack "${description}": zRegex cannot be combined with a printf pattern (the pattern already gives z)`,
    );
  }
  if (template !== undefined && (template.fields.length === 3 || where.allowGaps)) {
    // Tiled sections, or gaps allowed: the general path below, numbers from the template.
    const files: SliceFile[] = [];
    for (const name of names) {
      const v = template.parse(name);
      if (v === undefined) continue;
      const f: SliceFile = { path: pathOf(name), name, z: v.z };
      if (v.x !== undefined) f.x = v.x;
      if (v.y !== undefined) f.y = v.y;
      files.push(f);
    }
    if (files.length === 0) {
      throw new VoxportError("INVALID_SOURCE", `image stack "${description}": no files match`);
    }
    return orderNumbered(files, description, `pattern ${template.source}`, where.allowGaps);
  }

  if (printf !== undefined) {
    const files: SliceFile[] = [];
    for (const name of names) {
      const z = printf.parse(name)?.z;
      if (z !== undefined) files.push({ path: pathOf(name), name, z });
    }
    if (files.length === 0) {
      throw new VoxportError("INVALID_SOURCE", `image stack "${description}": no files match`);
    }
    files.sort((a, b) => (a.z as number) - (b.z as number));
    const missing: number[] = [];
    for (let i = 1; i < files.length; i++) {
      for (let z = (files[i - 1].z as number) + 1; z < (files[i].z as number); z++) {
        missing.push(z);
        if (missing.length > 5) break;
      }
      if (missing.length > 5) break;
    }
    if (missing.length > 0) {
      const shown = missing.slice(0, 5).map((z) => pathOf(printf.format({ z })));
      const more = missing.length > 5 ? ", ..." : "";
      throw new VoxportError(
        "INVALID_SOURCE",
        `image stack "${description}": missing slice file ${shown.join(", ")}${more} ` +
          `(numbers ${files[0].z}..${files[files.length - 1].z} must all exist; --allow-gaps reads missing ones as zeros)`,
      );
    }
    return { description, files };
  }

  const glob = namePattern === undefined ? undefined : globToRegExp(namePattern);
  const allowHidden = namePattern?.startsWith(".") ?? false;
  const selected = names.filter(
    (n) =>
      isImageFileName(n) &&
      (allowHidden || !n.startsWith(".")) &&
      (glob === undefined || glob.test(n)),
  );
  if (selected.length === 0) {
    throw new VoxportError(
      "INVALID_SOURCE",
      glob === undefined
        ? `image stack: folder ${dir} has no ${IMAGE_EXTENSIONS.join("/")} files`
        : `image stack "${description}": no image files match`,
    );
  }

  if (options.zRegex === undefined) {
    selected.sort(naturalCompare);
    return { description, files: selected.map((name) => ({ path: pathOf(name), name })) };
  }

  const { regex, tiled } = compileZRegex(options.zRegex);
  const files: SliceFile[] = selected.map((name) => {
    const m = regex.exec(name);
    const number = (group: "z" | "x" | "y"): number => {
      const text =
        m === null ? undefined : group === "z" && !m.groups?.z ? m[1] : m.groups?.[group];
      if (text === undefined) {
        throw new VoxportError(
          "INVALID_SOURCE",
          `${pathOf(name)}: file name does not match zRegex /${options.zRegex}/`,
        );
      }
      const v = /^[+-]?\d+$/.test(text) ? Number(text) : Number.NaN;
      if (!Number.isSafeInteger(v)) {
        throw new VoxportError(
          "INVALID_SOURCE",
          `${pathOf(name)}: zRegex /${options.zRegex}/ captured ${group} "${text}", which is not an integer`,
        );
      }
      return v;
    };
    const f: SliceFile = { path: pathOf(name), name, z: number("z") };
    if (tiled) {
      f.x = number("x");
      f.y = number("y");
    }
    return f;
  });
  return orderNumbered(files, description, `zRegex /${options.zRegex}/`, where.allowGaps);
}

/**
 * Sorts numbered slices (or tiles) by z, then y, then x; rejects duplicates and — unless
 * `allowGaps` — gaps in z, naming the missing z numbers.
 */
function orderNumbered(
  files: SliceFile[],
  description: string,
  rule: string,
  allowGaps = false,
): SliceList {
  const key = (f: SliceFile) => [f.z as number, f.y ?? 0, f.x ?? 0];
  files.sort((a, b) => {
    const ka = key(a);
    const kb = key(b);
    return ka[0] - kb[0] || ka[1] - kb[1] || ka[2] - kb[2] || naturalCompare(a.name, b.name);
  });
  for (let i = 1; i < files.length; i++) {
    const a = key(files[i - 1]);
    const b = key(files[i]);
    if (a[0] === b[0] && a[1] === b[1] && a[2] === b[2]) {
      const what = files[i].x === undefined ? `z=${b[0]}` : `z=${b[0]} x=${b[2]} y=${b[1]}`;
      throw new VoxportError(
        "INVALID_SOURCE",
        `image stack "${description}": ${files[i - 1].path} and ${files[i].path} both have ${what} (${rule})`,
      );
    }
  }
  if (!allowGaps) {
    const missing: number[] = [];
    let count = 0;
    for (let i = 1; i < files.length; i++) {
      for (let z = (files[i - 1].z as number) + 1; z < (files[i].z as number); z++) {
        count++;
        if (missing.length < 10) missing.push(z);
      }
    }
    if (count > 0) {
      throw new VoxportError(
        "INVALID_SOURCE",
        `image stack "${description}": ${count} z value(s) missing between ${files[0].z} and ` +
          `${files[files.length - 1].z}: ${missing.join(", ")}${count > missing.length ? ", ..." : ""} ` +
          `(${rule}; --allow-gaps reads missing sections as zeros)`,
      );
    }
  }
  return { description, files };
}

function compileZRegex(source: string): { regex: RegExp; tiled: boolean } {
  let regex: RegExp;
  let groups: number;
  try {
    regex = new RegExp(source);
    // An always-matching alternative reveals the number of capture groups.
    groups = (new RegExp(`${source}|`).exec("") as RegExpExecArray).length - 1;
  } catch (e) {
    throw new VoxportError("INVALID_ARGUMENT", `zRegex /${source}/: ${(e as Error).message}`, {
      cause: e,
    });
  }
  const named = (g: string) => new RegExp(`\\(\\?<${g}>`).test(source);
  const tiled = named("x") || named("y");
  if (tiled && !(named("x") && named("y") && named("z"))) {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `zRegex /${source}/: tiled sections need all three named groups (?<z>…), (?<x>…) and (?<y>…)`,
    );
  }
  if (named("z")) return { regex, tiled };
  if (groups !== 1) {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `zRegex /${source}/ must have exactly one capture group or a named group (?<z>...), found ${groups}`,
    );
  }
  return { regex, tiled: false };
}

export interface Template {
  readonly source: string;
  /** What the conversions mean, in order: ["z"], or ["x", "y", "z"]. */
  readonly fields: readonly ("x" | "y" | "z")[];
  format(values: { x?: number; y?: number; z: number }): string;
  parse(name: string): { x?: number; y?: number; z: number } | undefined;
}

/**
 * Splits a printf template into its literal parts and its integer conversions (`%d`, `%4d`,
 * `%04d`; `%%` is a literal percent sign): literals[k] precedes conversion k, and the last
 * literal follows the last conversion.
 */
function splitConversions(pattern: string): {
  literals: string[];
  convs: { zero: boolean; width: number }[];
} {
  const literals: string[] = [];
  const convs: { zero: boolean; width: number }[] = [];
  let literal = "";
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i];
    if (ch !== "%") {
      literal += ch;
      continue;
    }
    if (pattern[i + 1] === "%") {
      literal += "%";
      i++;
      continue;
    }
    const m = /^%(0?)(\d*)[diu]/.exec(pattern.slice(i));
    if (m === null) {
      throw new VoxportError(
        "INVALID_ARGUMENT",
        `pattern "${pattern}": unsupported conversion at "${pattern.slice(i, i + 5)}" (use %d, %4d or %04d)`,
      );
    }
    convs.push({ zero: m[1] === "0", width: m[2] === "" ? 0 : Number(m[2]) });
    literals.push(literal);
    literal = "";
    i += m[0].length - 1;
  }
  literals.push(literal);
  return { literals, convs };
}

/**
 * A printf file-name template: one integer conversion (z), or three (x, y, z in that order,
 * e.g. `tile_%d_%d_z%04d.png`). Conversions as in parsePrintfPattern. Undefined when there is
 * no conversion; INVALID_ARGUMENT for 2 or more than 3.
 */
export function parseTemplate(pattern: string): Template | undefined {
  const { literals, convs } = splitConversions(pattern);
  if (convs.length === 0) return undefined;
  if (convs.length !== 1 && convs.length !== 3) {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `pattern "${pattern}": use one %d (z) or three (x, y, z in that order), found ${convs.length}; ` +
        "for another order use --z-regex with named groups (?<x>…)(?<y>…)(?<z>…)",
    );
  }
  const fields: ("x" | "y" | "z")[] = convs.length === 1 ? ["z"] : ["x", "y", "z"];
  const format = (values: { x?: number; y?: number; z: number }): string => {
    let out = literals[0];
    convs.forEach((c, k) => {
      out += String(values[fields[k]] ?? 0).padStart(c.width, c.zero ? "0" : " ") + literals[k + 1];
    });
    return out;
  };
  const re = new RegExp(`^${literals.map(escapeRegExp).join("( *\\d+)")}$`, "s");
  const parse = (name: string) => {
    const m = re.exec(name);
    if (m === null) return undefined;
    const values: { x?: number; y?: number; z: number } = { z: 0 };
    for (let k = 0; k < fields.length; k++) {
      const n = Number(m[k + 1].trim());
      if (!Number.isSafeInteger(n)) return undefined;
      values[fields[k]] = n;
    }
    return format(values) === name ? values : undefined;
  };
  return { source: pattern, fields, format, parse };
}
