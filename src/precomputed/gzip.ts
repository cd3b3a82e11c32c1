/**
 * Asynchronous gzip for chunk writes (transfer gzip of unsharded chunks, `data_encoding: gzip`
 * inside shards). It runs on libuv's thread pool, so the chunks in flight compress on every core.
 *
 * Node's `zlib.gzip` works through 16 KiB output pieces, each a separate thread-pool job with a
 * main-thread callback in between: ~14 round trips for a 64³ uint8 chunk, which cost ~25% of
 * throughput on a busy 2-core machine (bench/codecs.ts). Here the output buffer holds the whole
 * result (deflateBound), so a chunk is compressed in one job. At levels 1–9 the bytes are the
 * same as `gzipBytes`' (level 0, stored blocks split by the output buffer, differs in framing).
 *
 * Level: callers pass it (gzipLevel, default 6 in volume.ts and in ingest). 6 is zlib's and
 * TensorStore's default, so the sharded bench writes the same size as TensorStore (27.9 MB).
 * Measured per core (bench inputs, 64³ chunks): EM-like uint8 compresses to 0.832 at every level
 * at 31–39 MB/s (the noise leaves nothing for LZ77 to find); uint32 labels give 0.090 at level 1
 * (250 MB/s), 0.045 at 6 (80 MB/s), 0.042 at 9 (43 MB/s). CloudVolume uses libdeflate at 9.
 */
import { promisify } from "node:util";
import { gzip as gzipCb, gzipSync as gzipSyncCb, type ZlibOptions } from "node:zlib";

const gzipP = promisify(gzipCb);

/**
 * zlib's memLevel for chunk data: 9 (default 8) measured 5–9% faster at level 6 and a hair smaller
 * on both EM-like uint8 and uint32 labels. Any gzip reader decodes it; only the bytes differ from
 * a default-options gzip.
 */
const MEM_LEVEL = 9;

function options(level: number, extra: ZlibOptions = {}): ZlibOptions {
  return { level, memLevel: MEM_LEVEL, ...extra };
}

/** `gzipAsync`'s bytes, synchronously (small payloads, e.g. minishard indexes; tests). */
export function gzipBytes(data: Uint8Array, level: number): Uint8Array {
  const out = gzipSyncCb(data, options(level));
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/**
 * zlib's tight deflateBound (memLevel 8) plus the gzip header and trailer. Output past it (data
 * that does not compress, at level 0) merely takes a second job.
 */
function gzipBound(n: number): number {
  return n + (n >>> 12) + (n >>> 14) + (n >>> 25) + 13 + 18;
}

export async function gzipAsync(data: Uint8Array, level: number): Promise<Uint8Array> {
  const out = await gzipP(
    data,
    options(level, { chunkSize: Math.max(64, gzipBound(data.byteLength)) }),
  );
  // The result is a view of the one-job buffer; keep a compact copy when most of it is unused
  // (compressible chunks), since shards hold all their chunks until the shard is built.
  const bytes = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  return out.buffer.byteLength > 2 * out.byteLength + 4096 ? bytes.slice() : bytes;
}
