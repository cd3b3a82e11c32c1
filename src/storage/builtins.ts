import { parseBucketUrl } from "./cloud-url.js";
import { FileKvStore } from "./drivers/file.js";
import { HttpKvStore } from "./drivers/http.js";
import { MemoryKvStore } from "./drivers/memory.js";
import { SwiftKvStore } from "./drivers/swift.js";
import type { KvStoreCapabilities } from "./kvstore.js";
import { LazyKvStore } from "./lazy.js";
import type { StoreFactory } from "./registry.js";

const OBJECT_STORE: KvStoreCapabilities = {
  write: true,
  list: true,
  rangeReads: true,
  suffixReads: true,
};

/**
 * The schemes every build has. The registry seeds itself from this list at load time (rather
 * than this module calling registerScheme), which keeps the import graph acyclic: importing
 * registry.ts alone is enough for openStore("file://…") to work.
 *
 * s3 and gs load their SDKs on first use (LazyKvStore): the URL is checked at open time, the
 * AWS / Google client is imported only when the store is first read or written. swift speaks
 * plain HTTP and opens at once (its settings are read and checked then).
 */
export const BUILTIN_SCHEMES: ReadonlyArray<readonly [scheme: string, factory: StoreFactory]> = [
  ["file", (url) => new FileKvStore(url)],
  ["mem", (url) => new MemoryKvStore(url)],
  ["http", (url) => new HttpKvStore(url)],
  ["https", (url) => new HttpKvStore(url)],
  [
    "s3",
    (url) =>
      new LazyKvStore(
        parseBucketUrl(url, "s3", "bucket").url,
        OBJECT_STORE,
        async () => new (await import("./drivers/s3.js")).S3KvStore(url),
      ),
  ],
  [
    "gs",
    (url) =>
      new LazyKvStore(
        parseBucketUrl(url, "gs", "bucket").url,
        OBJECT_STORE,
        async () => new (await import("./drivers/gcs.js")).GcsKvStore(url),
      ),
  ],
  ["swift", (url) => new SwiftKvStore(url)],
];
