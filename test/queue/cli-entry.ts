/**
 * The voxport CLI for the queue tests: `ingest` plus the queue commands (work, status, queue,
 * enqueue). It runs src/cli/main.ts when that already registers `work`; otherwise it builds the
 * same program here, with main.ts's exit-code rules, so the tests do not depend on the wiring.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const MAIN = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));

if (readFileSync(MAIN, "utf8").includes("registerWork")) {
  await import(MAIN);
} else {
  const { Command, CommanderError } = await import("commander");
  const { EXIT, isVoxportError } = await import("../../src/errors.js");
  const { registerIngest } = await import("../../src/cli/ingest.js");
  const { registerWork } = await import("../../src/cli/work.js");
  const { registerStatus } = await import("../../src/cli/status.js");
  const { registerQueue, registerEnqueue } = await import("../../src/cli/queue.js");
  const program = new Command().name("voxport").exitOverride();
  registerIngest(program);
  registerEnqueue(program);
  registerWork(program);
  registerStatus(program);
  registerQueue(program);
  try {
    await program.parseAsync(process.argv);
  } catch (e) {
    if (e instanceof CommanderError) process.exit(e.exitCode === 0 ? 0 : EXIT.USAGE);
    process.stderr.write(`voxport: error: ${e instanceof Error ? e.message : String(e)}\n`);
    const usage = [
      "INVALID_ARGUMENT",
      "INVALID_INFO",
      "INVALID_SOURCE",
      "NOT_FOUND",
      "UNSUPPORTED",
    ];
    process.exit(isVoxportError(e) && usage.includes(e.code) ? EXIT.USAGE : EXIT.FAILURE);
  }
}
