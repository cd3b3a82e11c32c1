import pino, { type Logger } from "pino";

let instance: Logger | undefined;

/** JSON log lines on stderr (pino), for when no one is watching a terminal. */
export function logger(): Logger {
  instance ??= pino(
    { base: undefined, level: process.env.VOXPORT_LOG_LEVEL ?? "info" },
    pino.destination(2),
  );
  return instance;
}
