import { VoxportError } from "../errors.js";

/**
 * Every store call takes an AbortSignal; a cancelled call surfaces as one tagged error
 * (code ABORTED, the signal's reason as cause) whatever the driver, so callers test one thing.
 */
export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw abortedError(signal, what);
}

export function abortedError(signal: AbortSignal, what: string): VoxportError {
  return new VoxportError("ABORTED", `${what}: aborted`, { cause: signal.reason });
}
