import { VoxportError } from "../errors.js";

/**
 * Key rules shared by every driver, so a dataset written to one store reads back the same from
 * any other: keys are '/'-separated, relative (no leading '/'), with no empty, '.' or '..'
 * segments. Rejecting '..' is what keeps a key from escaping a file store's root; rejecting '.'
 * and empty segments keeps one object from having two names ("a/./b", "a//b" are "a/b" on disk
 * but not on S3).
 */
export function checkKey(storeUrl: string, key: string): void {
  const problem = keyProblem(key, false);
  if (problem !== undefined) {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `invalid key ${JSON.stringify(key)} for ${storeUrl}: ${problem}`,
    );
  }
}

/** A list prefix follows the key rules, except that it may be empty or end with '/'. */
export function checkPrefix(storeUrl: string, prefix: string): void {
  if (prefix === "") return;
  const problem = keyProblem(prefix.endsWith("/") ? prefix.slice(0, -1) : prefix, true);
  if (problem !== undefined) {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `invalid list prefix ${JSON.stringify(prefix)} for ${storeUrl}: ${problem}`,
    );
  }
}

function keyProblem(key: string, isPrefix: boolean): string | undefined {
  if (key === "") return isPrefix ? "empty segment" : "empty key";
  if (key.startsWith("/")) return "keys are relative and must not start with '/'";
  if (key.includes("\0")) return "NUL character";
  for (const segment of key.split("/")) {
    if (segment === "") return "empty path segment";
    if (segment === "." || segment === "..") return `'${segment}' path segment`;
  }
  return undefined;
}
