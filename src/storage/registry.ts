import { VoxportError } from "../errors.js";
import { BUILTIN_SCHEMES } from "./builtins.js";
import type { KvStore } from "./kvstore.js";

/**
 * Scheme → store factory, as in cloud-files' INTERFACES and neuroglancer's kvstore registry.
 * A factory receives the whole URL (`s3://bucket/prefix`) and returns an open store.
 */
export type StoreFactory = (url: string) => KvStore;

// `import type` above is erased, so builtins.ts importing StoreFactory from here is no cycle.
const factories = new Map<string, StoreFactory>(BUILTIN_SCHEMES);

const SCHEME_URL = /^([a-z][a-z0-9+.-]*):\/\//i;
const SCHEME_NAME = /^[a-z][a-z0-9+.-]*$/;

/** Adds a scheme (lower case, without "://"). Registering a scheme twice is a bug and throws. */
export function registerScheme(scheme: string, factory: StoreFactory): void {
  if (!SCHEME_NAME.test(scheme)) {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `invalid storage scheme ${JSON.stringify(scheme)}: use lower-case letters, digits, '+', '.', '-'`,
    );
  }
  if (factories.has(scheme)) {
    throw new VoxportError("INVALID_ARGUMENT", `storage scheme "${scheme}" is already registered`);
  }
  factories.set(scheme, factory);
}

/** Registered schemes, sorted (for help text and error messages). */
export function knownSchemes(): string[] {
  return [...factories.keys()].sort();
}

/**
 * Opens the store for `url`. A string without `scheme://` is a local path (relative paths are
 * resolved against the working directory).
 */
export function openStore(url: string): KvStore {
  const match = SCHEME_URL.exec(url);
  const scheme = match === null ? "file" : match[1].toLowerCase();
  const factory = factories.get(scheme);
  if (factory === undefined) {
    throw new VoxportError(
      "UNSUPPORTED",
      `unsupported storage scheme "${scheme}" in ${url}; known schemes: ${knownSchemes()
        .map((s) => `${s}://`)
        .join(", ")}`,
    );
  }
  return factory(url);
}
