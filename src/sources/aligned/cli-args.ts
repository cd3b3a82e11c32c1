import { VoxportError } from "../../errors.js";
import type { Vec3 } from "../../ops/array.js";
import type { Box } from "../../ops/bbox.js";
import { mergeTask, readChunkflowTask } from "./task.js";

export interface IngestArgs {
  source: string;
  destination: string;
  resolution: Vec3;
  offset?: Vec3;
  skipEmptyRatio?: number;
  box?: Box;
  removeNaN?: boolean;
}

/**
 * `voxport ingest [SOURCE] DESTINATION` with or without `--task FILE`: with a task, SOURCE may
 * be omitted (the task's registerFile), and the task's origin/voxelSize/threshold fill in
 * --offset/--resolution/--skip-empty, which must agree when given too.
 */
export async function ingestArgs(
  first: string,
  second: string | undefined,
  flags: { task?: string; resolution?: Vec3; offset?: Vec3; skipEmpty?: number },
  log: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): Promise<IngestArgs> {
  if (!flags.task) {
    if (second === undefined) {
      throw new VoxportError("INVALID_ARGUMENT", "missing required argument 'destination'");
    }
    if (!flags.resolution) {
      throw new VoxportError(
        "INVALID_ARGUMENT",
        "required option '-r, --resolution <x,y,z>' not specified (image files carry no voxel size)",
      );
    }
    return {
      source: first,
      destination: second,
      resolution: flags.resolution,
      offset: flags.offset,
      skipEmptyRatio: flags.skipEmpty,
    };
  }
  const task = await readChunkflowTask(flags.task);
  for (const note of task.notes) log(`--task ${flags.task}: ${note}`);
  const m = mergeTask(
    task,
    {
      source: second === undefined ? undefined : first,
      resolution: flags.resolution,
      offset: flags.offset,
      skipEmptyRatio: flags.skipEmpty,
    },
    flags.task,
  );
  if (!m.resolution) {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `${flags.task}: no params.voxelSize; give it there or as --resolution`,
    );
  }
  return {
    source: m.source,
    destination: second ?? first,
    resolution: m.resolution,
    offset: m.offset,
    skipEmptyRatio: m.skipEmptyRatio,
    box: m.box,
    removeNaN: m.removeNaN,
  };
}
