import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";

/**
 * One HTTP exchange over node:http, for drivers that need the stored bytes as they are. The
 * global fetch (undici) always decodes `Content-Encoding: gzip`, which is wrong for an object
 * store that keeps gzip'd chunks and serves them with that header (Swift does): the driver must
 * hand back the stored bytes plus their encoding, and a ranged read of a gzip'd object is a
 * slice of the compressed bytes. Keep-alive agents are shared by every store in the process.
 *
 * A body shorter than its Content-Length (a connection cut mid-transfer) rejects, so the retry
 * loop sees it as a failed attempt instead of handing back truncated data.
 */

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

const httpAgent = new HttpAgent({ keepAlive: true, maxSockets: 64 });
const httpsAgent = new HttpsAgent({ keepAlive: true, maxSockets: 64 });

export function rawRequest(
  url: string,
  init: {
    method: string;
    headers?: Record<string, string>;
    body?: Uint8Array;
    signal?: AbortSignal;
  },
): Promise<RawResponse> {
  const target = new URL(url);
  const send = target.protocol === "https:" ? httpsRequest : httpRequest;
  const headers: Record<string, string> = { ...init.headers };
  if (init.body !== undefined) headers["Content-Length"] = String(init.body.byteLength);
  return new Promise<RawResponse>((resolve, reject) => {
    const req = send(
      target,
      {
        method: init.method,
        headers,
        agent: target.protocol === "https:" ? httpsAgent : httpAgent,
        signal: init.signal,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let received = 0;
        res.on("data", (chunk: Buffer) => {
          chunks.push(chunk);
          received += chunk.length;
        });
        res.on("error", reject);
        res.on("aborted", () => reject(connectionError("response aborted")));
        res.on("end", () => {
          const expected = res.headers["content-length"];
          if (
            init.method !== "HEAD" &&
            expected !== undefined &&
            res.statusCode !== 304 &&
            res.statusCode !== 204 &&
            Number(expected) !== received
          ) {
            reject(connectionError(`body cut short: ${received} of ${expected} bytes received`));
            return;
          }
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: chunks.length === 1 ? chunks[0] : Buffer.concat(chunks),
          });
        });
      },
    );
    req.on("error", reject);
    req.end(
      init.body === undefined
        ? undefined
        : Buffer.from(init.body.buffer, init.body.byteOffset, init.body.byteLength),
    );
  });
}

function connectionError(message: string): Error {
  return Object.assign(new Error(message), { code: "ECONNRESET" });
}

/** First value of a response header as a string. */
export function header(response: RawResponse, name: string): string | undefined {
  const value = response.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}
