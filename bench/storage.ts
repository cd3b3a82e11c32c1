import { CreateBucketCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { mapLimit } from "../src/sources/concurrency.js";
import { S3KvStore } from "../src/storage/drivers/s3.js";
import { motoAvailable, motoEnv, startMoto } from "../test/servers/moto.js";

/**
 * Why sharding matters on object stores: upload throughput to S3 (moto on loopback) for the
 * same bytes written as many small chunk objects versus one shard object. Per-object cost
 * (request, signature, server bookkeeping) dominates small chunks; one shard pays it once.
 * Beside each voxport figure, the emulator's own floor: the same puts through a bare SDK client
 * (no retry loop, no limiter), so the ratio shows our overhead and not moto's slowness.
 */

export interface UploadFigure {
  label: string;
  objects: number;
  bytes: number;
  seconds: number;
  objectsPerSecond: number;
  mbPerSecond: number;
}

export interface StorageBenchResult {
  chunkBytes: number;
  chunks: number;
  concurrency: number;
  smallChunks: UploadFigure;
  smallChunksFloor: UploadFigure;
  oneShard: UploadFigure;
  oneShardFloor: UploadFigure;
}

function figure(label: string, objects: number, bytes: number, seconds: number): UploadFigure {
  return {
    label,
    objects,
    bytes,
    seconds,
    objectsPerSecond: objects / seconds,
    mbPerSecond: bytes / 1e6 / seconds,
  };
}

/**
 * Uploads `chunks` objects of `chunkBytes` (default 1024 × 32 KiB = 32 MiB, like 32³ uint8
 * chunks) with `concurrency` in flight, then one object of the same total size (a multipart
 * upload), each through voxport's S3 store and through a bare SDK client.
 */
export async function benchStorageUpload(
  opts: { chunkBytes?: number; chunks?: number; concurrency?: number } = {},
): Promise<StorageBenchResult> {
  const chunkBytes = opts.chunkBytes ?? 32 * 1024;
  const chunks = opts.chunks ?? 1024;
  const concurrency = opts.concurrency ?? 32;
  if (!motoAvailable()) {
    throw new Error("moto is not installed (node test/setup/provision-moto.mjs)");
  }
  const moto = await startMoto();
  const saved = { ...process.env };
  Object.assign(process.env, motoEnv(moto.endpoint));
  const sdk = new S3Client({ endpoint: moto.endpoint, forcePathStyle: true, region: "us-east-1" });
  try {
    await sdk.send(new CreateBucketCommand({ Bucket: "bench" }));
    const data = new Uint8Array(chunkBytes).map((_, i) => (i * 31) & 255);
    const total = chunkBytes * chunks;
    const shard = new Uint8Array(total).map((_, i) => (i * 7) & 255);
    const keys = Array.from({ length: chunks }, (_, i) => `chunks/${i % 16}_${i}`);
    const store = new S3KvStore("s3://bench/voxport", { concurrency });

    // Warm-up: connections and moto's first-request costs.
    await mapLimit(keys.slice(0, 32), concurrency, (k) => store.put(`warm/${k}`, data));

    let t0 = performance.now();
    await mapLimit(keys, concurrency, (k) =>
      store.put(k, data, { contentType: "application/octet-stream" }),
    );
    const small = figure(
      "many small chunks (voxport)",
      chunks,
      total,
      (performance.now() - t0) / 1000,
    );

    t0 = performance.now();
    await mapLimit(keys, concurrency, (k) =>
      sdk.send(new PutObjectCommand({ Bucket: "bench", Key: `floor/${k}`, Body: data })),
    );
    const smallFloor = figure(
      "many small chunks (bare SDK)",
      chunks,
      total,
      (performance.now() - t0) / 1000,
    );

    t0 = performance.now();
    await store.put("shard/0.shard", shard, { contentType: "application/octet-stream" });
    const one = figure("one shard (voxport, multipart)", 1, total, (performance.now() - t0) / 1000);

    t0 = performance.now();
    await sdk.send(new PutObjectCommand({ Bucket: "bench", Key: "floor/0.shard", Body: shard }));
    const oneFloor = figure(
      "one shard (bare SDK, single PUT)",
      1,
      total,
      (performance.now() - t0) / 1000,
    );

    return {
      chunkBytes,
      chunks,
      concurrency,
      smallChunks: small,
      smallChunksFloor: smallFloor,
      oneShard: one,
      oneShardFloor: oneFloor,
    };
  } finally {
    sdk.destroy();
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
    await moto.stop();
  }
}

/** Markdown table rows for bench/run.ts. */
export function formatStorageBench(r: StorageBenchResult): string {
  const mib = (n: number) => `${(n / 1024 ** 2).toFixed(0)} MiB`;
  const rows = [r.smallChunks, r.smallChunksFloor, r.oneShard, r.oneShardFloor].map(
    (f) =>
      `| ${f.label} | ${f.objects} × ${mib(f.bytes / f.objects).replace(" MiB", "") === "0" ? `${(f.bytes / f.objects / 1024).toFixed(0)} KiB` : mib(f.bytes / f.objects)} | ${f.seconds.toFixed(2)} s | ${f.objectsPerSecond.toFixed(0)} | ${f.mbPerSecond.toFixed(1)} |`,
  );
  return [
    `| upload to moto (${mib(r.chunks * r.chunkBytes)}, ${r.concurrency} in flight) | objects | wall | objects/s | MB/s |`,
    "|---|---|---|---|---|",
    ...rows,
  ].join("\n");
}
