import assert from "node:assert/strict";
import { homedir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { isVoxportError } from "../../errors.js";
import { mergeTask, parseChunkflowTask } from "./task.js";

/** The pinky40 ingestion task (seed-systems §2.2), as ChunkFlow.jl's docs give it. */
function pinky40(params: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
  return {
    input: {
      kind: "cutoutchunk",
      params: {
        bigArrayType: "aligned",
        origin: [1, 1, 1],
        cutoutSize: [4096, 4096, 64],
        offset: [0, 0, 0],
        voxelSize: [4, 4, 40],
        nonzeroRatioThreshold: 0.01,
        ...params,
      },
      inputs: { registerFile: "/mnt/data01/datasets/pinky40-4/5_finished/registry.txt" },
      outputs: { data: "img" },
      ...extra,
    },
    blend2cloud: {
      kind: "blendchunk",
      params: { backend: "gs" },
      inputs: { chunk: "img" },
      outputs: { path: "gs://neuroglancer/pinky40_v4/image/4_4_40/" },
    },
  };
}

function rejects(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isVoxportError(e), `not a VoxportError: ${e}`);
    assert.match((e as Error).message, re);
    return true;
  });
}

describe("ChunkFlow task JSON", () => {
  it("maps the pinky40 task: 1-based origin → box, voxelSize, threshold; blendchunk ignored", () => {
    const t = parseChunkflowTask(pinky40(), "/t/ingest2gs.json");
    assert.equal(t.registerFile, "/mnt/data01/datasets/pinky40-4/5_finished/registry.txt");
    assert.deepEqual(t.box, { min: [0, 0, 0], max: [4096, 4096, 64] });
    assert.deepEqual(t.offset, [0, 0, 0]);
    assert.deepEqual(t.resolution, [4, 4, 40]);
    assert.equal(t.skipEmptyRatio, 0.01);
    assert.equal(t.removeNaN, false);
    assert.equal(t.notes.length, 1);
    assert.match(t.notes[0], /blend2cloud \(blendchunk\) ignored/);
  });

  it("piriform: origin and offset (output placement) as taskproducer sets them", () => {
    const t = parseChunkflowTask(
      pinky40({ origin: [39883, 10187, 125], offset: [4096, 4096, 0], voxelSize: [7, 7, 40] }),
      "p.json",
    );
    assert.deepEqual(t.box, { min: [39882, 10186, 124], max: [43978, 14282, 188] });
    assert.deepEqual(t.offset, [43978, 14282, 124]);
  });

  it("negative origins (taskproducer -o -16383,-4095,1), originOffset, grid and stride", () => {
    const t = parseChunkflowTask(
      pinky40({
        origin: [-16383, -4095, 1],
        originOffset: [10, 0, 0],
        cutoutSize: [4096, 4096, 64],
        grid: [50, 44, 16],
        stride: [2048, 2048, 64],
      }),
      "g.json",
    );
    assert.deepEqual(t.box.min, [-16374, -4096, 0]);
    assert.deepEqual(t.box.max, [-16374 + 49 * 2048 + 4096, -4096 + 43 * 2048 + 4096, 16 * 64]);
  });

  it("accepts chunkSize (deprecated), deviceID, isRemoveNaN, 4-vectors ending in 1, ~ paths", () => {
    const task = pinky40({
      cutoutSize: undefined,
      chunkSize: [8, 8, 2, 1],
      deviceID: 0,
      isRemoveNaN: true,
    });
    (task.input.inputs as Record<string, string>).registerFile = "~/stack";
    const t = parseChunkflowTask(JSON.parse(JSON.stringify(task)), "c.json");
    assert.deepEqual(t.box, { min: [0, 0, 0], max: [8, 8, 2] });
    assert.equal(t.removeNaN, true);
    assert.equal(t.registerFile, join(homedir(), "stack"));
    assert.ok(t.notes.some((n) => /chunkSize is deprecated/.test(n)));
  });

  it("relative registerFile is relative to the task file", () => {
    const task = pinky40();
    (task.input.inputs as Record<string, string>).registerFile = "sections/registry.txt";
    assert.equal(
      parseChunkflowTask(task, "/data/tasks/t.json").registerFile,
      "/data/tasks/sections/registry.txt",
    );
  });

  it("rejects unknown, missing and unsupported fields, naming them", () => {
    rejects(
      () => parseChunkflowTask(pinky40({ foo: 1 }), "t.json"),
      /t\.json: input\.params\.foo: unknown field/,
    );
    rejects(
      () => parseChunkflowTask(pinky40({}, { extra: {} }), "t.json"),
      /t\.json: input\.extra: unknown field/,
    );
    rejects(
      () => parseChunkflowTask(pinky40({ bigArrayType: "gs" }), "t.json"),
      /input\.params\.bigArrayType: "gs"/,
    );
    rejects(
      () => parseChunkflowTask(pinky40({ origin: undefined }), "t.json"),
      /input\.params\.origin: missing/,
    );
    rejects(
      () => parseChunkflowTask(pinky40({ origin: [1, 1] }), "t.json"),
      /input\.params\.origin: expected \[x, y, z\]/,
    );
    rejects(
      () => parseChunkflowTask(pinky40({ origin: [1.5, 1, 1] }), "t.json"),
      /input\.params\.origin: 1\.5 is not an integer/,
    );
    rejects(
      () => parseChunkflowTask(pinky40({ cutoutSize: [0, 1, 1] }), "t.json"),
      /cutoutSize: 0 is below 1/,
    );
    rejects(
      () => parseChunkflowTask(pinky40({ chunkSize: [1, 1, 1] }), "t.json"),
      /chunkSize: give cutoutSize or .*not both/,
    );
    rejects(
      () => parseChunkflowTask(pinky40({ nonzeroRatioThreshold: 2 }), "t.json"),
      /nonzeroRatioThreshold: expected a fraction/,
    );
    rejects(
      () => parseChunkflowTask(pinky40({ voxelSize: [4, 0, 40] }), "t.json"),
      /voxelSize: must be positive/,
    );
    rejects(
      () => parseChunkflowTask(pinky40({ grid: [2, 1, 1], stride: [5000, 0, 0] }), "t.json"),
      /stride: 5000 along x is larger than cutoutSize 4096/,
    );
    rejects(
      () =>
        parseChunkflowTask({ ...pinky40(), other: { kind: "inference", params: {} } }, "t.json"),
      /t\.json: other\.kind: "inference" is not supported/,
    );
    rejects(
      () => parseChunkflowTask({ b: pinky40().blend2cloud }, "t.json"),
      /no cutoutchunk node/,
    );
    rejects(() => parseChunkflowTask([], "t.json"), /t\.json: expected an object/);
  });

  it("merging with the command line: agreeing values pass, conflicts name both sides", () => {
    const t = parseChunkflowTask(pinky40({ offset: [5, 0, 0] }), "t.json");
    const ok = mergeTask(
      t,
      { resolution: [4, 4, 40], offset: [5, 0, 0], skipEmptyRatio: 0.01 },
      "t.json",
    );
    assert.deepEqual(ok.offset, [5, 0, 0]);
    assert.equal(ok.source, t.registerFile);
    rejects(
      () => mergeTask(t, { resolution: [8, 8, 40] }, "t.json"),
      /params\.voxelSize 4,4,40 conflicts with --resolution 8,8,40/,
    );
    rejects(
      () => mergeTask(t, { offset: [0, 0, 0] }, "t.json"),
      /voxel_offset 5,0,0, which conflicts with --offset 0,0,0/,
    );
    rejects(
      () => mergeTask(t, { skipEmptyRatio: 0.5 }, "t.json"),
      /nonzeroRatioThreshold 0\.01 conflicts with --skip-empty 0\.5/,
    );
    rejects(
      () => mergeTask(t, { source: "/elsewhere/registry.txt" }, "t.json"),
      /registerFile .* conflicts with SOURCE \/elsewhere\/registry\.txt/,
    );
    const noSize = parseChunkflowTask(pinky40({ voxelSize: undefined }), "t.json");
    assert.deepEqual(
      mergeTask(noSize, { resolution: [8, 8, 40] }, "t.json").resolution,
      [8, 8, 40],
    );
  });
});
