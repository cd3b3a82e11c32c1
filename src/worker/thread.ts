import { parentPort } from "node:worker_threads";
import { isVoxportError } from "../errors.js";
import { executeMessage } from "./execute.js";
import type { SerializedError } from "./pool.js";

/** Worker-thread entry: run each message it is sent, answer with its result or its error. */
if (!parentPort) throw new Error("thread.ts must run as a worker thread");
const port = parentPort;

port.on("message", async (message: unknown) => {
  try {
    const value = await executeMessage(message, (event) => port.postMessage({ event }));
    port.postMessage({ ok: true, value });
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    const error: SerializedError = {
      message: err.message,
      code: isVoxportError(err) ? err.code : undefined,
      stack: err.stack,
    };
    port.postMessage({ ok: false, error });
  }
});
