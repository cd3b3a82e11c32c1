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
  const parts: string[] = [];
  let conv: { zero: boolean; width: number } | undefined;
  let literal = "";
  let count = 0;
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
    count++;
    conv = { zero: m[1] === "0", width: m[2] === "" ? 0 : Number(m[2]) };
    parts.push(literal);
    literal = "";
    i += m[0].length - 1;
  }
  if (count === 0) return undefined;
  if (count > 1 || conv === undefined) {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `pattern "${pattern}": exactly one %d conversion is allowed, found ${count}`,
    );
  }
  const prefix = parts[0];
  const suffix = literal;
  const { zero, width } = conv;
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
      if (parsePrintfPattern(namePattern) === undefined && !hasGlobChars(namePattern)) {
        throw new VoxportError("NOT_FOUND", `image stack: ${input} not found`);
      }
    }
  }

  const names = await listFileNames(dir, description);
  return selectSlices(names, { dir, description, namePattern, zRegex: options.zRegex });
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
    pathOf?: (name: string) => string;
  },
): SliceList {
  const { dir, description, namePattern } = where;
  const options = { zRegex: where.zRegex };
  const pathOf = where.pathOf ?? ((name: string) => join(dir, name));
  const printf = namePattern === undefined ? undefined : parsePrintfPattern(namePattern);

  if (printf !== undefined) {
    if (options.zRegex !== undefined) {
      throw new VoxportError(
        "INVALID_ARGUMENT",
        `image stack "${description}": zRegex cannot be combined with a printf pattern (the pattern already gives z)`,
      );
    }
    const files: SliceFile[] = [];
    for (const name of names) {
      const z = printf.parse(name);
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
      const shown = missing.slice(0, 5).map((z) => pathOf(printf.format(z)));
      const more = missing.length > 5 ? ", ..." : "";
      throw new VoxportError(
        "INVALID_SOURCE",
        `image stack "${description}": missing slice file ${shown.join(", ")}${more} ` +
          `(numbers ${files[0].z}..${files[files.length - 1].z} must all exist)`,
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

  const { regex, group } = compileZRegex(options.zRegex);
  const files: SliceFile[] = selected.map((name) => {
    const m = regex.exec(name);
    const text = m === null ? undefined : group === "z" ? m.groups?.z : m[1];
    if (text === undefined) {
      throw new VoxportError(
        "INVALID_SOURCE",
        `${pathOf(name)}: file name does not match zRegex /${options.zRegex}/`,
      );
    }
    const z = /^[+-]?\d+$/.test(text) ? Number(text) : Number.NaN;
    if (!Number.isSafeInteger(z)) {
      throw new VoxportError(
        "INVALID_SOURCE",
        `${pathOf(name)}: zRegex /${options.zRegex}/ captured "${text}", which is not an integer`,
      );
    }
    return { path: pathOf(name), name, z };
  });
  files.sort((a, b) => (a.z as number) - (b.z as number) || naturalCompare(a.name, b.name));
  for (let i = 1; i < files.length; i++) {
    if (files[i].z === files[i - 1].z) {
      throw new VoxportError(
        "INVALID_SOURCE",
        `image stack "${description}": ${files[i - 1].path} and ${files[i].path} both have z=${files[i].z} (zRegex /${options.zRegex}/)`,
      );
    }
  }
  return { description, files };
}

function compileZRegex(source: string): { regex: RegExp; group: "z" | 1 } {
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
  if (/\(\?<z>/.test(source)) return { regex, group: "z" };
  if (groups !== 1) {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `zRegex /${source}/ must have exactly one capture group or a named group (?<z>...), found ${groups}`,
    );
  }
  return { regex, group: 1 };
}
