import { createReadStream } from "node:fs";
import * as fs from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import * as path from "node:path";

/**
 * A small static file server for the http store tests, behaving like the servers neuroglancer
 * users put in front of precomputed data (precomputed-format.md 7.3): Range → 206 with
 * Content-Range, 416 past the end, `<key>.gz` on disk served as `<key>` with
 * `Content-Encoding: gzip`. Knobs let a test inject failures and misbehaviour.
 */
export interface TestServerBehaviour {
  /** The next N requests (any path) answer 503 before being looked at. */
  failNext: number;
  /** Retry-After (seconds) sent with the injected 503s. */
  retryAfter?: string;
  /** Answer HEAD with 405, like some object gateways. */
  headNotAllowed: boolean;
  /** Ignore Range and always send the whole file with 200. */
  ignoreRange: boolean;
  /** Paths answered with this status instead of the file. */
  statusFor: Map<string, number>;
}

export interface TestHttpServer {
  url: string;
  root: string;
  behaviour: TestServerBehaviour;
  /** Every request seen: method, path and Range header. */
  requests: { method: string; path: string; range?: string }[];
  close(): Promise<void>;
}

export async function startTestHttpServer(root: string): Promise<TestHttpServer> {
  const behaviour: TestServerBehaviour = {
    failNext: 0,
    headNotAllowed: false,
    ignoreRange: false,
    statusFor: new Map(),
  };
  const requests: TestHttpServer["requests"] = [];
  const server: Server = createServer((req, res) => {
    handle(root, behaviour, requests, req, res).catch((e) => {
      res.statusCode = 500;
      res.end(String(e));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    root,
    behaviour,
    requests,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((e) => (e ? reject(e) : resolve()));
      }),
  };
}

async function handle(
  root: string,
  behaviour: TestServerBehaviour,
  requests: TestHttpServer["requests"],
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const urlPath = new URL(req.url ?? "/", "http://x").pathname;
  const method = req.method ?? "GET";
  requests.push({ method, path: urlPath, range: req.headers.range });
  if (behaviour.failNext > 0) {
    behaviour.failNext--;
    res.statusCode = 503;
    if (behaviour.retryAfter !== undefined) res.setHeader("Retry-After", behaviour.retryAfter);
    res.end("try again");
    return;
  }
  const forced = behaviour.statusFor.get(urlPath);
  if (forced !== undefined) {
    res.statusCode = forced;
    res.end();
    return;
  }
  if (method === "HEAD" && behaviour.headNotAllowed) {
    res.statusCode = 405;
    res.end();
    return;
  }
  const file = path.join(root, ...urlPath.split("/").map(decodeURIComponent));
  if (!file.startsWith(root + path.sep)) {
    res.statusCode = 400;
    res.end();
    return;
  }
  let target = file;
  let stats = await fs.stat(file).catch(() => undefined);
  if (!stats?.isFile()) {
    target = `${file}.gz`;
    stats = await fs.stat(target).catch(() => undefined);
    if (!stats?.isFile()) {
      res.statusCode = 404;
      res.end("not found");
      return;
    }
    res.setHeader("Content-Encoding", "gzip");
  }
  res.setHeader("Content-Type", "application/octet-stream");
  res.setHeader("Accept-Ranges", "bytes");
  res.setHeader("ETag", `"${stats.size}-${stats.mtimeMs}"`);
  const size = stats.size;
  let start = 0;
  let end = size; // exclusive
  const range = behaviour.ignoreRange ? undefined : req.headers.range;
  if (range !== undefined) {
    const m = /^bytes=(\d*)-(\d*)$/.exec(range);
    if (m === null || (m[1] === "" && m[2] === "")) {
      res.statusCode = 400;
      res.end();
      return;
    }
    if (m[1] === "") {
      start = Math.max(0, size - Number(m[2]));
    } else {
      start = Number(m[1]);
      end = m[2] === "" ? size : Math.min(size, Number(m[2]) + 1);
    }
    if (start >= size || (m[1] === "" && Number(m[2]) === 0)) {
      res.statusCode = 416;
      res.setHeader("Content-Range", `bytes */${size}`);
      res.end();
      return;
    }
    res.statusCode = 206;
    res.setHeader("Content-Range", `bytes ${start}-${end - 1}/${size}`);
  } else {
    res.statusCode = 200;
  }
  res.setHeader("Content-Length", String(end - start));
  if (method === "HEAD" || end === start) {
    res.end();
    return;
  }
  createReadStream(target, { start, end: end - 1 }).pipe(res);
}
