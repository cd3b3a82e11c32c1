import { VoxportError } from "../errors.js";
import { type Box, boxToString, containsBox } from "../ops/bbox.js";
import type { BossClient, Json } from "./client.js";
import type { BossJob } from "./job.js";

/**
 * Make sure the collection, coordinate frame, experiment and channel exist and fit the data, in
 * that order (ndpush's `boss_resources.py`), before any cutout is posted. Missing resources are
 * created; existing ones are checked, and a mismatch (another datatype, a frame that does not
 * contain the data, another voxel size) stops the ingest with one error naming the resource.
 *
 * ndpush quirks, decided here: hierarchy levels come from the larger of the x and y sizes
 * (ndpush used x only); the coordinate frame is named `<collection>_<experiment>` as ndpush
 * does; an annotation channel whose source channel is missing gets a placeholder uint8 image
 * channel first, as ndpush does, because the BOSS requires the source to exist.
 */

export interface ResourceReport {
  created: string[];
  existing: string[];
  coordFrame: string;
}

/** max(1, ceil(log2(max_xy / 512)) + 1): downsampling levels until a 512² tile holds a slice. */
export function hierarchyLevels(size: [number, number, number]): number {
  const m = Math.max(size[0], size[1]);
  return Math.max(1, Math.ceil(Math.log2(m / 512)) + 1);
}

function frameBox(f: Json): Box {
  const n = (k: string) => Number(f[k]);
  return {
    min: [n("x_start"), n("y_start"), n("z_start")],
    max: [n("x_stop"), n("y_stop"), n("z_stop")],
  };
}

export async function ensureResources(job: BossJob, client: BossClient): Promise<ResourceReport> {
  const t = job.target;
  const report: ResourceReport = { created: [], existing: [], coordFrame: "" };
  const ensure = async (what: string, path: string, body: () => Json): Promise<Json> => {
    const got = await client.getResource(path);
    if (got) {
      report.existing.push(what);
      return got;
    }
    const made = await client.createResource(path, body());
    report.created.push(what);
    return made;
  };

  const collPath = `/collection/${t.collection}/`;
  await ensure(`collection ${t.collection}`, collPath, () => ({
    name: t.collection,
    description: "",
  }));

  // An existing experiment names its frame; a new one gets ndpush's `<coll>_<exp>`.
  const expPath = `${collPath}experiment/${t.experiment}/`;
  const existingExp = await client.getResource(expPath);
  const frameName =
    typeof existingExp?.coord_frame === "string"
      ? existingExp.coord_frame
      : `${t.collection}_${t.experiment}`;
  report.coordFrame = frameName;
  const size = [0, 1, 2].map((d) => job.frame.max[d] - job.frame.min[d]) as [
    number,
    number,
    number,
  ];
  const frame = await ensure(`coordinate frame ${frameName}`, `/coord/${frameName}/`, () => ({
    name: frameName,
    description: "",
    x_start: job.frame.min[0],
    x_stop: job.frame.max[0],
    y_start: job.frame.min[1],
    y_stop: job.frame.max[1],
    z_start: job.frame.min[2],
    z_stop: job.frame.max[2],
    x_voxel_size: job.voxelSize[0],
    y_voxel_size: job.voxelSize[1],
    z_voxel_size: job.voxelSize[2],
    voxel_unit: job.voxelUnit,
  }));
  const fb = frameBox(frame);
  if (!containsBox(fb, job.extent)) {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `the data extent ${boxToString(job.extent)} lies outside coordinate frame ${frameName} ` +
        `${boxToString(fb)} of ${t.collection}/${t.experiment}: check --offset, or ingest into a new experiment`,
    );
  }
  const vs = ["x_voxel_size", "y_voxel_size", "z_voxel_size"].map((k) => Number(frame[k]));
  if (
    frame.voxel_unit !== job.voxelUnit ||
    vs.some((v, d) => Math.abs(v - job.voxelSize[d]) > 1e-9 * job.voxelSize[d])
  ) {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `coordinate frame ${frameName} has voxels of ${vs.join("×")} ${String(frame.voxel_unit)}; ` +
        `--resolution says ${job.voxelSize.join("×")} ${job.voxelUnit}`,
    );
  }

  let exp = existingExp;
  if (exp) report.existing.push(`experiment ${t.experiment}`);
  else {
    const iso = job.voxelSize.every((v) => v === job.voxelSize[0]);
    exp = await client.createResource(expPath, {
      name: t.experiment,
      description: "",
      coord_frame: frameName,
      num_hierarchy_levels: hierarchyLevels(size),
      hierarchy_method: iso ? "isotropic" : "anisotropic",
      num_time_samples: 1,
      collection: t.collection,
      time_step: 0,
      time_step_unit: "seconds",
    });
    report.created.push(`experiment ${t.experiment}`);
  }
  if (job.resolution >= Number(exp.num_hierarchy_levels ?? 1)) {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `resolution ${job.resolution} is beyond experiment ${t.experiment}'s ${String(exp.num_hierarchy_levels)} level(s)`,
    );
  }

  const channelBody = (name: string, type: string, datatype: string, sources: string[]) => ({
    name,
    description: "",
    default_time_sample: 0,
    datatype,
    base_resolution: 0,
    type,
    sources,
    related: [],
  });
  if (job.channelType === "annotation" && job.sourceChannel) {
    const src = job.sourceChannel;
    await ensure(`channel ${src} (annotation source)`, `${expPath}channel/${src}/`, () =>
      channelBody(src, "image", "uint8", []),
    );
  }
  const chanPath = `${expPath}channel/${t.channel}/`;
  const chan = await ensure(`channel ${t.channel}`, chanPath, () =>
    channelBody(
      t.channel,
      job.channelType,
      job.datatype,
      job.sourceChannel ? [job.sourceChannel] : [],
    ),
  );
  if (chan.datatype !== job.datatype || (chan.type && chan.type !== job.channelType)) {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `channel ${t.collection}/${t.experiment}/${t.channel} exists as ${String(chan.type)} ` +
        `${String(chan.datatype)}, but the data is ${job.channelType} ${job.datatype}: ` +
        "choose another channel name",
    );
  }

  if (job.shift.some((v) => v !== 0)) {
    // ndpush records the shift it applied to negative extents as experiment metadata.
    await client.setExperimentMetadata(
      t.collection,
      t.experiment,
      "offsets",
      JSON.stringify(job.shift),
    );
  }
  return report;
}
