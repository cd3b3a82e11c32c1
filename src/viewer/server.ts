/**
 * The local HTTP server behind `voxport view`: the bundled Neuroglancer (dist/viewer, built by
 * scripts/build-viewer.mjs) at `/`, and each local dataset at `/data/<n>/<key>` from its KvStore,
 * served the way Neuroglancer needs (precomputed-format.md §7.3, §7.4):
 *
 * - CORS on every answer (`Access-Control-Allow-Origin: *`, exposed Content-Range and
 *   Content-Encoding), and OPTIONS preflights (Range allowed);
 * - GET and HEAD; `Range: bytes=a-b`, `a-` and `-n` → 206 with Content-Range (shards);
 *   416 when the range starts past the end;
 * - objects stored gzip'd (`<key>.gz` in file stores, Content-Encoding metadata elsewhere) go out
 *   as the stored bytes with `Content-Encoding: gzip`, which the browser decodes; a ranged read of
 *   such an object is answered from the decoded bytes, without Content-Encoding, since a gzip
 *   stream cannot be sliced;
 * - a missing key → 404 (Neuroglancer draws a missing chunk as zeros); a store error → 500.
 *
 * Binds 127.0.0.1 only: it serves local files to anyone who can reach it.
 */
import { existsSync, readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import { isVoxportError, VoxportError } from "../errors.js";
import type { ByteRange, KvStore } from "../storage/kvstore.js";

/** Where the bundle is: <repo>/dist/viewer, from src/viewer/*.ts and dist/viewer/*.js alike. */
export function defaultBundleDir(): string {
  return (
    process.env.VOXPORT_VIEWER_DIR ?? fileURLToPath(new URL("../../dist/viewer/", import.meta.url))
  );
}

export const BUNDLE_MANIFEST = "viewer-bundle.json";

export interface ViewerServerOptions {
  /** Stores served at /data/0, /data/1, … (index = position in this array). */
  stores: KvStore[];
  /** 0 (default): any free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Folder of the Neuroglancer bundle; default `defaultBundleDir()`. */
  bundleDir?: string;
  /** Called after each request (tests, --verbose). */
  onRequest?: (info: { method: string; path: string; status: number }) => void;
}

export interface ViewerServer {
  readonly port: number;
  /** `http://127.0.0.1:PORT/` */
  readonly baseUrl: string;
  /** URL of store `index` as Neuroglancer reads it (`http://127.0.0.1:PORT/data/<index>`). */
  dataUrl(index: number): string;
  close(): Promise<void>;
}

const CONTENT_TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  wasm: "application/wasm",
  json: "application/json",
  svg: "image/svg+xml",
};

/** The bundle's files by name (from its manifest); throws a clear error when it was not built. */
export function loadBundle(bundleDir: string): Set<string> {
  const manifest = join(bundleDir, BUNDLE_MANIFEST);
  if (!existsSync(manifest)) {
    throw new VoxportError(
      "NOT_FOUND",
      `the Neuroglancer bundle is not built (no ${manifest}); run \`npm run build\` ` +
        "(or `node scripts/build-viewer.mjs`) in the voxport checkout",
    );
  }
  let files: unknown;
  try {
    files = JSON.parse(readFileSync(manifest, "utf8")).files;
  } catch (e) {
    throw new VoxportError("NOT_FOUND", `cannot read ${manifest}: ${(e as Error).message}`);
  }
  if (!Array.isArray(files) || !files.includes("index.html")) {
    throw new VoxportError("NOT_FOUND", `${manifest} lists no index.html; rebuild the viewer`);
  }
  return new Set(files.filter((f): f is string => typeof f === "string" && !f.includes("/")));
}

export async function startViewerServer(options: ViewerServerOptions): Promise<ViewerServer> {
  const bundleDir = options.bundleDir ?? defaultBundleDir();
  const bundle = loadBundle(bundleDir);
  const host = options.host ?? "127.0.0.1";
  const stores = options.stores;

  const server: Server = createServer((req, res) => {
    handle(req, res)
      .catch((e) => {
        if (!res.headersSent) {
          const status = isVoxportError(e, "INVALID_ARGUMENT") ? 400 : 500;
          send(res, status, `${e instanceof Error ? e.message : String(e)}\n`);
        } else res.destroy();
      })
      .finally(() => {
        options.onRequest?.({
          method: req.method ?? "",
          path: req.url ?? "",
          status: res.statusCode,
        });
      });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    setCors(res);
    const method = req.method ?? "GET";
    if (method === "OPTIONS") {
      res.writeHead(204, { "Access-Control-Max-Age": "86400", "Content-Length": "0" });
      res.end();
      return;
    }
    if (method !== "GET" && method !== "HEAD") {
      res.setHeader("Allow", "GET, HEAD, OPTIONS");
      send(res, 405, "method not allowed\n");
      return;
    }
    const path = (req.url ?? "/").replace(/[?#].*$/, "");
    const data = /^\/data\/(\d+)(?:\/(.*))?$/.exec(path);
    if (data !== null) {
      const store = stores[Number(data[1])];
      const key = decodePath(data[2] ?? "");
      if (store === undefined || key === undefined || key === "") {
        send(res, 404, "not found\n");
        return;
      }
      await serveKey(req, res, store, key, method === "HEAD");
      return;
    }
    const name = path === "/" ? "index.html" : path.slice(1);
    if (name === "favicon.ico") {
      res.writeHead(204, { "Cache-Control": "max-age=86400" });
      res.end();
      return;
    }
    if (!bundle.has(name)) {
      send(res, 404, "not found\n");
      return;
    }
    const body = await readFile(join(bundleDir, name));
    const ext = name.slice(name.lastIndexOf(".") + 1);
    res.writeHead(200, {
      "Content-Type": CONTENT_TYPES[ext] ?? "application/octet-stream",
      "Content-Length": String(body.length),
      "Cache-Control": name === "index.html" ? "no-cache" : "max-age=3600",
    });
    res.end(method === "HEAD" ? undefined : body);
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) => {
      reject(
        new VoxportError(
          e.code === "EADDRINUSE" ? "INVALID_ARGUMENT" : "STORAGE",
          e.code === "EADDRINUSE"
            ? `port ${options.port} on ${host} is in use; pick another with --port (0 = any free port)`
            : `cannot listen on ${host}:${options.port ?? 0}: ${e.message}`,
          { cause: e },
        ),
      );
    });
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(":") ? `[${host}]` : host;
  const baseUrl = `http://${urlHost}:${port}/`;
  let closed: Promise<void> | undefined;
  return {
    port,
    baseUrl,
    dataUrl: (index: number) => `${baseUrl}data/${index}`,
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
  };
}

function setCors(res: ServerResponse): void {
  res.setHeader("Access-Control-Allow-Origin", "*");
  res.setHeader("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS");
  res.setHeader("Access-Control-Allow-Headers", "range, content-type, cache-control");
  res.setHeader(
    "Access-Control-Expose-Headers",
    "content-range, content-encoding, content-length, accept-ranges, etag",
  );
}

function send(res: ServerResponse, status: number, text: string): void {
  const body = Buffer.from(text);
  res.writeHead(status, {
    "Content-Type": "text/plain; charset=utf-8",
    "Content-Length": String(body.length),
  });
  res.end(res.req.method === "HEAD" ? undefined : body);
}

/** Percent-decoded key, or undefined when it cannot be one (bad escapes, `.`/`..` segments). */
function decodePath(raw: string): string | undefined {
  try {
    const parts = raw.split("/").map((p) => decodeURIComponent(p));
    if (parts.some((p) => p === "." || p === ".." || p.includes("/"))) return undefined;
    return parts.join("/");
  } catch {
    return undefined;
  }
}

type ParsedRange = ByteRange | "unsatisfiable" | undefined;

/** One `bytes=` range; undefined (serve the whole object) for anything else, as RFC 9110 allows. */
export function parseRange(header: string | undefined): ParsedRange {
  if (header === undefined) return undefined;
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (m === null) return undefined;
  const [, a, b] = m;
  if (a === "" && b === "") return undefined;
  if (a === "") {
    const n = Number(b);
    return n === 0 ? "unsatisfiable" : { suffixLength: n };
  }
  const start = Number(a);
  if (b === "") return { offset: start, length: Number.MAX_SAFE_INTEGER - start };
  const end = Number(b);
  if (end < start) return undefined;
  return { offset: start, length: end - start + 1 };
}

async function serveKey(
  req: IncomingMessage,
  res: ServerResponse,
  store: KvStore,
  key: string,
  head: boolean,
): Promise<void> {
  const contentType = key === "info" || key.endsWith("/info") ? "application/json" : undefined;
  const baseHeaders: Record<string, string> = {
    "Content-Type": contentType ?? "application/octet-stream",
    // Datasets may be rewritten while the viewer is open: always revalidate.
    "Cache-Control": "no-cache",
    "Accept-Ranges": "bytes",
  };
  const range = parseRange(req.headers.range);
  if (head) {
    const st = await store.stat(key);
    if (st === undefined) return send(res, 404, "not found\n");
    res.writeHead(200, {
      ...baseHeaders,
      "Content-Length": String(st.size),
      ...(st.contentEncoding ? { "Content-Encoding": st.contentEncoding } : {}),
    });
    res.end();
    return;
  }
  if (range === undefined) {
    const obj = await store.get(key);
    if (obj === undefined) return send(res, 404, "not found\n");
    res.writeHead(200, {
      ...baseHeaders,
      "Content-Length": String(obj.data.length),
      ...(obj.contentEncoding ? { "Content-Encoding": obj.contentEncoding } : {}),
    });
    res.end(obj.data);
    return;
  }
  // Ranged read. Stores that keep the object gzip'd cannot slice it: decode, then slice.
  const st = await store.stat(key);
  if (st === undefined) return send(res, 404, "not found\n");
  let data: Uint8Array;
  let total: number;
  if (st.contentEncoding === "gzip") {
    const obj = await store.get(key);
    if (obj === undefined) return send(res, 404, "not found\n");
    const plain = obj.contentEncoding === "gzip" ? new Uint8Array(gunzipSync(obj.data)) : obj.data;
    total = plain.length;
    if (range === "unsatisfiable" || ("offset" in range && range.offset >= total)) {
      return unsatisfiable(res, total);
    }
    const start = "offset" in range ? range.offset : Math.max(0, total - range.suffixLength);
    const end = "offset" in range ? Math.min(total, range.offset + range.length) : total;
    data = plain.subarray(start, end);
    return partial(res, baseHeaders, data, start, total);
  }
  total = st.size;
  if (range === "unsatisfiable" || ("offset" in range && range.offset >= total)) {
    return unsatisfiable(res, total);
  }
  const obj = await store.get(key, { range });
  if (obj === undefined) return send(res, 404, "not found\n");
  total = obj.totalSize ?? total;
  const start = "offset" in range ? range.offset : Math.max(0, total - range.suffixLength);
  return partial(res, baseHeaders, obj.data, start, total);
}

function partial(
  res: ServerResponse,
  headers: Record<string, string>,
  data: Uint8Array,
  start: number,
  total: number,
): void {
  res.writeHead(206, {
    ...headers,
    "Content-Length": String(data.length),
    "Content-Range": `bytes ${start}-${start + data.length - 1}/${total}`,
  });
  res.end(data);
}

function unsatisfiable(res: ServerResponse, total: number): void {
  res.writeHead(416, { "Content-Range": `bytes */${total}`, "Content-Length": "0" });
  res.end();
}
