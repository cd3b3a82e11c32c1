import { FileKvStore } from "./drivers/file.js";
import { HttpKvStore } from "./drivers/http.js";
import { MemoryKvStore } from "./drivers/memory.js";
import type { StoreFactory } from "./registry.js";

/**
 * The schemes every build has. The registry seeds itself from this list at load time (rather
 * than this module calling registerScheme), which keeps the import graph acyclic: importing
 * registry.ts alone is enough for openStore("file://…") to work. Drivers with heavy or optional
 * dependencies (s3, gs, swift) call registerScheme from their own register module instead.
 */
export const BUILTIN_SCHEMES: ReadonlyArray<readonly [scheme: string, factory: StoreFactory]> = [
  ["file", (url) => new FileKvStore(url)],
  ["mem", (url) => new MemoryKvStore(url)],
  ["http", (url) => new HttpKvStore(url)],
  ["https", (url) => new HttpKvStore(url)],
];
