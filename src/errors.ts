/**
 * Tagged errors. Every error a user can see carries a `code` (stable, for scripts and tests)
 * and names the file, key, URL or field it is about in its message.
 */
export type ErrorCode =
  | "INVALID_ARGUMENT" // bad CLI flag value, bad option combination
  | "INVALID_INFO" // precomputed info JSON does not validate
  | "INVALID_SOURCE" // unreadable / inconsistent input slices
  | "NOT_FOUND" // a required key or file is missing
  | "STORAGE" // a store operation failed (permission, I/O, network)
  | "UNSUPPORTED" // scheme, encoding, dtype combination we do not handle
  | "CODEC" // encode/decode failure, wrong byte count
  | "CONFLICT" // destination holds a different dataset or job
  | "ABORTED";

export class VoxportError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = "VoxportError";
  }
}

export function isVoxportError(e: unknown, code?: ErrorCode): e is VoxportError {
  return e instanceof VoxportError && (code === undefined || e.code === code);
}

/** Process exit codes the CLI uses; scripts can rely on them. */
export const EXIT = {
  OK: 0,
  FAILURE: 1, // a task failed at run time
  USAGE: 2, // bad arguments or bad input detected before any work
  CONFLICT: 3, // destination holds something else
  INTERRUPTED: 130,
} as const;
