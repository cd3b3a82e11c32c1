import { readFileSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { VoxportError } from "../errors.js";

/**
 * Secrets files (a Swift settings JSON, a GOOGLE_APPLICATION_CREDENTIALS key, the AWS shared
 * credentials file) must be private to their owner, as ssh insists for keys and as the HBP
 * image-service README demands for its settings file ("chmod 0600"). A file that group or
 * others can read or write is refused before anything is sent, with the command that fixes it.
 *
 * And secrets never reach a message: `redact` replaces every known secret with "***" in text
 * that might echo one (a server's error body, an exception from a client library).
 */

/** Throws INVALID_ARGUMENT unless `path` exists and only its owner may read or write it. */
export function checkSecretFile(path: string, what: string): void {
  let mode: number;
  try {
    mode = statSync(path).mode;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new VoxportError(
      code === "ENOENT" ? "NOT_FOUND" : "INVALID_ARGUMENT",
      `${what} ${path}: ${code === "ENOENT" ? "no such file" : `cannot read it (${code})`}`,
      { cause: e },
    );
  }
  if (process.platform === "win32") return; // no POSIX modes to check
  if ((mode & 0o077) !== 0) {
    const octal = (mode & 0o777).toString(8).padStart(4, "0");
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `${what} ${path} is readable or writable by group or others (mode ${octal}); it holds ` +
        `secrets, so it must be private to its owner: run \`chmod 600 ${path}\``,
    );
  }
}

/** Reads a JSON secrets file after checkSecretFile. Parse errors never quote the content. */
export function readSecretJson(path: string, what: string): Record<string, unknown> {
  checkSecretFile(path, what);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `${what} ${path}: cannot read it (${(e as NodeJS.ErrnoException).code ?? "error"})`,
      { cause: e },
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    // JSON.parse messages quote the text around the error, which may be a password.
    const at = /position (\d+)/.exec((e as Error).message)?.[1];
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `${what} ${path} is not valid JSON${at === undefined ? "" : ` (error at character ${at})`}`,
    );
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new VoxportError("INVALID_ARGUMENT", `${what} ${path} must hold a JSON object`);
  }
  return value as Record<string, unknown>;
}

/**
 * The AWS shared credentials file, when the SDK's default chain would read it (no access key
 * in the environment): refused if group/others can read it. Missing is fine (other sources).
 */
export function checkAwsSharedCredentials(env: NodeJS.ProcessEnv = process.env): void {
  if (env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) return;
  const path = env.AWS_SHARED_CREDENTIALS_FILE || join(homedir(), ".aws", "credentials");
  try {
    statSync(path);
  } catch {
    return;
  }
  checkSecretFile(path, "AWS shared credentials file");
}

/** GOOGLE_APPLICATION_CREDENTIALS, when set, must name a private file. */
export function checkGoogleCredentials(env: NodeJS.ProcessEnv = process.env): void {
  const path = env.GOOGLE_APPLICATION_CREDENTIALS;
  if (path) checkSecretFile(path, "GOOGLE_APPLICATION_CREDENTIALS file");
}

/** `text` with every non-trivial secret replaced by "***". */
export function redact(text: string, secrets: ReadonlyArray<string | undefined>): string {
  let out = text;
  for (const secret of secrets) {
    if (secret === undefined || secret.length < 4) continue;
    out = out.split(secret).join("***");
    // Also the URL-encoded form, which shows up in echoed query strings.
    const encoded = encodeURIComponent(secret);
    if (encoded !== secret) out = out.split(encoded).join("***");
  }
  return out;
}
