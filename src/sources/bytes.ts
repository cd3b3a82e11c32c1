/**
 * Random access to a file's bytes, so that readers fetch only what a region needs: the TIFF
 * reader its header, IFDs and tiles or strips; the NIfTI reader its header and voxel rows.
 */
import { type FileHandle, open } from "node:fs/promises";
import { VoxportError } from "../errors.js";

export interface ByteSource {
  /** Names the file in errors. */
  readonly path: string;
  readonly size: number;
  /** Exactly `length` bytes at `position`; an error naming the file when fewer exist. */
  read(position: number, length: number): Promise<Buffer>;
  close(): Promise<void>;
}

/** A local file opened for positional reads. */
export async function openFileBytes(path: string): Promise<ByteSource> {
  let fh: FileHandle;
  try {
    fh = await open(path, "r");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new VoxportError(
      code === "ENOENT" ? "NOT_FOUND" : "INVALID_SOURCE",
      `${path}: cannot open: ${(e as Error).message}`,
      { cause: e },
    );
  }
  const size = (await fh.stat()).size;
  return {
    path,
    size,
    async read(position, length) {
      if (position < 0 || position + length > size) {
        throw new VoxportError(
          "INVALID_SOURCE",
          `${path}: needs bytes [${position}, ${position + length}) but the file has ${size} (truncated, or a header that lies about its size)`,
        );
      }
      const buf = Buffer.allocUnsafe(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await fh.read(buf, done, length - done, position + done);
        if (bytesRead === 0) {
          throw new VoxportError(
            "INVALID_SOURCE",
            `${path}: file shrank while reading bytes [${position}, ${position + length})`,
          );
        }
        done += bytesRead;
      }
      return buf;
    },
    close: () => fh.close(),
  };
}

/** Bytes already in memory (tests, small remote files). */
export function memoryBytes(path: string, data: Uint8Array): ByteSource {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return {
    path,
    size: buf.length,
    async read(position, length) {
      if (position < 0 || position + length > buf.length) {
        throw new VoxportError(
          "INVALID_SOURCE",
          `${path}: needs bytes [${position}, ${position + length}) but the file has ${buf.length} (truncated, or a header that lies about its size)`,
        );
      }
      return buf.subarray(position, position + length);
    },
    close: async () => {},
  };
}
