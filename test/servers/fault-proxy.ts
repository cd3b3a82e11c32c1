import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import type { AddressInfo, Socket } from "node:net";

/**
 * A reverse proxy that breaks a fraction of requests on purpose, to show that the storage
 * drivers survive what real object stores do under load. Each request is, with probability
 * `rate`, answered with one of the faults below instead of being forwarded; the rest go to the
 * target unchanged (Host header included, so signed S3 requests stay valid).
 *
 *  - "503": HTTP 503 with an S3-style `ServiceUnavailable` error body;
 *  - "slowdown": HTTP 503 `SlowDown` (S3's throttling answer) with Retry-After: 0;
 *  - "429": HTTP 429 Too Many Requests;
 *  - "reset": the connection is destroyed before any response;
 *  - "cut": the request is forwarded, and the response body is cut off half-way (the client
 *    sees a premature close with Content-Length unmet).
 *
 * Deterministic for a given seed. Loopback only; counts what it did in `stats`.
 */

export type FaultKind = "503" | "slowdown" | "429" | "reset" | "cut";

export interface FaultProxy {
  url: string;
  stats: { requests: number; forwarded: number; faults: Record<FaultKind, number> };
  /** Change the fault rate (0 = transparent). */
  setRate(rate: number): void;
  close(): Promise<void>;
}

export async function startFaultProxy(
  target: string,
  opts: { rate: number; kinds?: FaultKind[]; seed?: number },
): Promise<FaultProxy> {
  const to = new URL(target);
  const kinds: FaultKind[] = opts.kinds ?? ["503", "slowdown", "429", "reset", "cut"];
  let rate = opts.rate;
  let state = (opts.seed ?? 12345) >>> 0;
  const random = () => {
    // xorshift32: reproducible fault sequences.
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 4294967296;
  };
  const stats: FaultProxy["stats"] = {
    requests: 0,
    forwarded: 0,
    faults: { "503": 0, slowdown: 0, "429": 0, reset: 0, cut: 0 },
  };
  const sockets = new Set<Socket>();

  const handler = (req: IncomingMessage, res: ServerResponse) => {
    stats.requests++;
    const fault = random() < rate ? kinds[Math.floor(random() * kinds.length)] : undefined;
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("error", () => res.destroy());
    req.on("end", () => {
      if (fault !== undefined && fault !== "cut") {
        stats.faults[fault]++;
        if (fault === "reset") {
          req.socket.destroy();
          return;
        }
        const status = fault === "429" ? 429 : 503;
        const code =
          fault === "slowdown"
            ? "SlowDown"
            : fault === "429"
              ? "TooManyRequests"
              : "ServiceUnavailable";
        const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>injected fault</Message></Error>`;
        res.writeHead(status, {
          "Content-Type": "application/xml",
          "Content-Length": Buffer.byteLength(body),
          ...(fault === "slowdown" ? { "Retry-After": "0" } : {}),
        });
        res.end(body);
        return;
      }
      const body = Buffer.concat(chunks);
      const upstream = httpRequest(
        {
          host: to.hostname,
          port: to.port,
          method: req.method,
          path: req.url,
          headers: req.headers,
        },
        (up) => {
          const length = Number(up.headers["content-length"]);
          if (fault === "cut" && req.method !== "HEAD" && Number.isFinite(length) && length > 1) {
            stats.faults.cut++;
            res.writeHead(up.statusCode ?? 502, up.headers);
            let sent = 0;
            const half = Math.floor(length / 2);
            up.on("data", (c: Buffer) => {
              if (sent >= half) return;
              const part = c.subarray(0, half - sent);
              sent += part.length;
              res.write(part);
              if (sent >= half) {
                res.socket?.destroy();
                up.destroy();
              }
            });
            return;
          }
          stats.forwarded++;
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        },
      );
      upstream.on("error", () => res.destroy());
      upstream.end(body);
    });
  };

  const server: Server = createServer(handler);
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    stats,
    setRate(r: number) {
      rate = r;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
