/**
 * Run Python helper scripts in the peer venv (`<repo>/.venv`, built by
 * test/setup/provision-python.mjs) and exchange arrays with them as .npy files.
 *
 * Protocol: the JSON arguments go to the script's stdin; the script prints one JSON document on
 * stdout (test/interop/py/common.py keeps library chatter on stderr).
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import type { Block, DataType, Shape4, TypedArray } from "../../src/ops/array.js";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const VENV = `${ROOT}.venv`;
export const VENV_PYTHON = `${VENV}/bin/python`;
const STAMP = `${VENV}/.voxport-requirements`;

/** Whether the venv was provisioned completely (its stamp is written last). */
export function pythonAvailable(): boolean {
  return existsSync(VENV_PYTHON) && existsSync(STAMP);
}

/** Why the Python peers cannot run, or undefined when they can. */
export function pythonMissingReason(): string | undefined {
  if (pythonAvailable()) return undefined;
  return (
    `the Python peer venv ${VENV} is missing or incomplete: run ` +
    "`node test/setup/provision-python.mjs` (npm test does it first)"
  );
}

export class PythonError extends Error {
  constructor(
    message: string,
    readonly stderr: string,
  ) {
    super(message);
    this.name = "PythonError";
  }
}

export interface RunPythonOptions {
  /** Kill the process after this many ms; default 10 minutes. */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
}

/**
 * Run `script` (a path, absolute or relative to the repo root) with the venv's python, `args`
 * as JSON on stdin. Returns stdout parsed as JSON (or the raw text when it is not JSON).
 * @throws PythonError when the venv is missing, or the script exits non-zero (with its stderr)
 */
export async function runPython<T = unknown>(
  script: string,
  args: unknown,
  options: RunPythonOptions = {},
): Promise<T> {
  const missing = pythonMissingReason();
  if (missing) throw new PythonError(missing, "");
  const path = script.startsWith("/") ? script : `${ROOT}${script}`;
  const child = spawn(VENV_PYTHON, [path], {
    cwd: ROOT,
    env: { ...process.env, PYTHONUNBUFFERED: "1", PYTHONDONTWRITEBYTECODE: "1", ...options.env },
    stdio: ["pipe", "pipe", "pipe"],
    timeout: options.timeoutMs ?? 600_000,
    signal: options.signal,
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on("data", (d: Buffer) => out.push(d));
  child.stderr.on("data", (d: Buffer) => err.push(d));
  child.stdin.on("error", () => {}); // a script that exits early closes stdin; its exit code says why
  child.stdin.end(JSON.stringify(args));
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>(
    (resolve, reject) => {
      child.on("error", reject);
      child.on("close", (c, s) => resolve([c, s]));
    },
  );
  const stdout = Buffer.concat(out).toString("utf8");
  const stderr = Buffer.concat(err).toString("utf8");
  if (code !== 0) {
    const tail = stderr.trim().split("\n").slice(-30).join("\n");
    throw new PythonError(
      `${script} exited with ${signal ?? `code ${code}`}:\n${tail || stdout.slice(-2000)}`,
      stderr,
    );
  }
  try {
    return JSON.parse(stdout) as T;
  } catch {
    return stdout as T;
  }
}

/** Per-case answer of a batch script (test/interop/py/common.py `run_batch`). */
export type CaseResult =
  | ({ ok: true; seconds: number } & Record<string, unknown>)
  | { ok: false; error: string; traceback?: string; seconds: number };

/** Run a batch job `{op, cases}`; returns the results keyed by case name. */
export async function runPythonBatch(
  script: string,
  op: string,
  cases: Array<{ name: string } & Record<string, unknown>>,
  options: RunPythonOptions = {},
): Promise<Map<string, CaseResult>> {
  if (cases.length === 0) return new Map();
  const r = await runPython<{ results: Record<string, CaseResult> }>(
    script,
    { op, cases },
    options,
  );
  return new Map(Object.entries(r.results));
}

// ---- .npy (format 1.0), little-endian, shape (x, y, z, c) ----

const DESCR: Record<DataType, string> = {
  uint8: "|u1",
  int8: "|i1",
  uint16: "<u2",
  int16: "<i2",
  uint32: "<u4",
  int32: "<i4",
  uint64: "<u8",
  float32: "<f4",
};
const DTYPE_OF_DESCR = new Map<string, DataType>(
  Object.entries(DESCR).map(([k, v]) => [v, k as DataType]),
);
DTYPE_OF_DESCR.set("<u1", "uint8").set("<i1", "int8");

const ARRAYS: Record<DataType, { new (b: ArrayBuffer): TypedArray }> = {
  uint8: Uint8Array,
  int8: Int8Array,
  uint16: Uint16Array,
  int16: Int16Array,
  uint32: Uint32Array,
  int32: Int32Array,
  uint64: BigUint64Array,
  float32: Float32Array,
};

/**
 * A block as .npy bytes, `fortran_order: True`, shape (x, y, z, c): the block's own memory
 * layout. Written here rather than with src/ops/npy.ts so the transport to the peers shares no
 * code with what is under test.
 */
export function toNpy(block: Block): Uint8Array {
  const shape = block.shape.join(", ");
  const dict = `{'descr': '${DESCR[block.dtype]}', 'fortran_order': True, 'shape': (${shape}), }`;
  const headerLen = Math.ceil((10 + dict.length + 1) / 64) * 64 - 10;
  const header = `${dict.padEnd(headerLen - 1, " ")}\n`;
  const data = new Uint8Array(block.data.buffer, block.data.byteOffset, block.data.byteLength);
  const out = new Uint8Array(10 + headerLen + data.byteLength);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, headerLen, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(data, 10 + headerLen);
  return out;
}

/**
 * Parse a .npy of 3 or 4 dimensions (x, y, z[, c]) into a block. Only Fortran order is accepted
 * (the helpers always save Fortran order), so the bytes are already the block layout.
 */
export function fromNpy(bytes: Uint8Array, where = "npy"): Block {
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
  if (!magic.every((b, i) => bytes[i] === b)) throw new Error(`${where}: not a .npy file`);
  const major = bytes[6];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const [len, start] = major === 1 ? [view.getUint16(8, true), 10] : [view.getUint32(8, true), 12];
  const header = new TextDecoder().decode(bytes.subarray(start, start + len));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1] === "True";
  const dims = /'shape':\s*\(([^)]*)\)/
    .exec(header)?.[1]
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)
    .map(Number);
  const dtype = descr ? DTYPE_OF_DESCR.get(descr) : undefined;
  if (!dtype || !dims) throw new Error(`${where}: unsupported .npy header ${header.trim()}`);
  if (dims.length !== 3 && dims.length !== 4) {
    throw new Error(`${where}: expected 3 or 4 dimensions, got (${dims.join(", ")})`);
  }
  const shape = (dims.length === 3 ? [...dims, 1] : dims) as Shape4;
  const n = shape.reduce((a, b) => a * b, 1);
  if (!fortran && shape.filter((d) => d > 1).length > 1) {
    throw new Error(`${where}: C-order .npy with shape (${dims.join(", ")}); save Fortran order`);
  }
  const body = bytes.slice(start + len); // copy: aligned, owned buffer
  const data = new ARRAYS[dtype](body.buffer);
  if (data.length !== n) {
    throw new Error(`${where}: ${data.length} values for shape (${dims.join(", ")})`);
  }
  return { dtype, shape, data };
}

export async function writeNpy(path: string, block: Block): Promise<void> {
  await writeFile(path, toNpy(block));
}

export async function readNpy(path: string): Promise<Block> {
  return fromNpy(new Uint8Array(await readFile(path)), path);
}
