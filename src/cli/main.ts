#!/usr/bin/env node
import { Command, CommanderError } from "commander";
import { EXIT, isVoxportError } from "../errors.js";
import { registerConvert } from "./convert.js";
import { registerCutout } from "./cutout.js";
import { registerFetch } from "./fetch.js";
import { registerGraph } from "./graph.js";
import { registerInfo } from "./info.js";
import { registerIngest } from "./ingest.js";
import { logger } from "./log.js";
import { registerPlan } from "./plan.js";
import { registerEnqueue, registerQueue } from "./queue.js";
import { registerRetryLog } from "./retry-log.js";
import { registerServe } from "./serve.js";
import { registerStatus } from "./status.js";
import { registerView } from "./view.js";
import { registerWork } from "./work.js";

const program = new Command();
program
  .name("voxport")
  .description(
    "Move volumetric microscopy data into Neuroglancer precomputed datasets.\n\n" +
      "Example:\n" +
      "  voxport ingest ./sections/ file://./out/em --resolution 4,4,40\n" +
      "  voxport info ./out/em",
  )
  .version("0.1.0")
  .showHelpAfterError("(run with --help for usage)")
  .exitOverride()
  .configureOutput({
    outputError: (str, write) => write(`voxport: ${str.replace(/^error: /, "error: ")}`),
  });

registerIngest(program);
registerPlan(program);
registerRetryLog(program);
registerConvert(program);
registerFetch(program);
registerInfo(program);
registerView(program);
registerCutout(program);
registerEnqueue(program);
registerWork(program);
registerStatus(program);
registerQueue(program);
registerServe(program);
registerGraph(program);
// The command list shows one line each; `voxport help CMD` shows the whole description.
for (const c of program.commands) c.summary(c.description().split("\n")[0]);

function exitCodeFor(e: unknown): number {
  if (isVoxportError(e)) {
    switch (e.code) {
      case "INVALID_ARGUMENT":
      case "INVALID_INFO":
      case "INVALID_SOURCE":
      case "NOT_FOUND":
      case "UNSUPPORTED":
        return EXIT.USAGE;
      case "CONFLICT":
        return EXIT.CONFLICT;
      case "ABORTED":
        return EXIT.INTERRUPTED;
      default:
        return EXIT.FAILURE;
    }
  }
  return EXIT.FAILURE;
}

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) {
    // Help and version exit 0; every usage error exits 2.
    process.exit(e.exitCode === 0 ? 0 : EXIT.USAGE);
  }
  const msg = e instanceof Error ? e.message : String(e);
  if (!process.stderr.isTTY)
    logger().error(
      { err: { message: msg, code: isVoxportError(e) ? e.code : undefined } },
      "failed",
    );
  process.stderr.write(`voxport: error: ${msg}\n`);
  if (process.env.VOXPORT_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`);
  process.exit(exitCodeFor(e));
}
