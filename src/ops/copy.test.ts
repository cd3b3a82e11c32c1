import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isVoxportError } from "../errors.js";
import { type Block, makeBlock, type Shape4, type Vec3 } from "./array.js";
import type { Box } from "./bbox.js";
import { copyBox } from "./copy.js";

/** Per-voxel reference: the slow, obviously right version. */
function naive(src: Block, sb: Box, dst: Block, db: Box): void {
  const [sx, sy, sz, ch] = src.shape;
  const [dx, dy, dz] = dst.shape;
  for (let c = 0; c < ch; c++) {
    for (let z = db.min[2]; z < db.max[2]; z++) {
      for (let y = db.min[1]; y < db.max[1]; y++) {
        for (let x = db.min[0]; x < db.max[0]; x++) {
          if (x < sb.min[0] || y < sb.min[1] || z < sb.min[2]) continue;
          if (x >= sb.max[0] || y >= sb.max[1] || z >= sb.max[2]) continue;
          const si = x - sb.min[0] + sx * (y - sb.min[1] + sy * (z - sb.min[2] + sz * c));
          const di = x - db.min[0] + dx * (y - db.min[1] + dy * (z - db.min[2] + dz * c));
          (dst.data as Uint16Array)[di] = (src.data as Uint16Array)[si];
        }
      }
    }
  }
}

function filled(box: Box, channels: number, seed: number): Block {
  const shape = [...[0, 1, 2].map((d) => box.max[d] - box.min[d]), channels] as Shape4;
  const b = makeBlock("uint16", shape);
  for (let i = 0; i < b.data.length; i++) (b.data as Uint16Array)[i] = (i * 7 + seed) & 0xffff;
  return b;
}

let rng = 12345;
const rand = (n: number) => {
  rng = (rng * 1103515245 + 12345) & 0x7fffffff;
  return rng % n;
};
const randBox = (): Box => {
  const min = [0, 1, 2].map(() => rand(12) - 4) as Vec3;
  return { min, max: min.map((m) => m + 1 + rand(9)) as Vec3 };
};

describe("copyBox", () => {
  it("matches a per-voxel copy on random boxes, all channels", () => {
    for (let t = 0; t < 300; t++) {
      const sb = randBox();
      const db = randBox();
      const ch = 1 + rand(3);
      const src = filled(sb, ch, t);
      const a = filled(db, ch, 1000 + t);
      const b = filled(db, ch, 1000 + t);
      copyBox(src, sb, a, db);
      naive(src, sb, b, db);
      assert.deepEqual(a.data, b.data, `case ${t}`);
    }
  });

  it("uses the contiguous paths correctly (full rows, full planes, identical boxes)", () => {
    const cases: [Box, Box][] = [
      [
        { min: [0, 0, 0], max: [4, 5, 6] },
        { min: [0, 0, 0], max: [4, 5, 6] },
      ],
      [
        { min: [0, 0, 0], max: [4, 5, 6] },
        { min: [0, 0, 2], max: [4, 5, 9] },
      ],
      [
        { min: [0, 0, 0], max: [4, 5, 6] },
        { min: [0, 2, 1], max: [4, 9, 3] },
      ],
    ];
    for (const [sb, db] of cases) {
      const src = filled(sb, 2, 3);
      const a = filled(db, 2, 9);
      const b = filled(db, 2, 9);
      copyBox(src, sb, a, db);
      naive(src, sb, b, db);
      assert.deepEqual(a.data, b.data);
    }
  });

  it("copies nothing when the boxes do not meet", () => {
    const sb: Box = { min: [0, 0, 0], max: [2, 2, 2] };
    const db: Box = { min: [2, 0, 0], max: [4, 2, 2] };
    const dst = makeBlock("uint16", [2, 2, 2, 1]);
    assert.equal(copyBox(filled(sb, 1, 1), sb, dst, db), 0);
    assert.ok(dst.data.every((v) => v === 0));
  });

  it("works for uint64 and rejects mismatched blocks", () => {
    const sb: Box = { min: [0, 0, 0], max: [3, 1, 1] };
    const src = makeBlock("uint64", [3, 1, 1, 1]);
    (src.data as BigUint64Array).set([1n, 2n, 2n ** 63n]);
    const dst = makeBlock("uint64", [2, 1, 1, 1]);
    copyBox(src, sb, dst, { min: [1, 0, 0], max: [3, 1, 1] });
    assert.deepEqual([...dst.data], [2n, 2n ** 63n]);
    const bad = (f: () => void) => assert.throws(f, (e) => isVoxportError(e, "INVALID_ARGUMENT"));
    bad(() => copyBox(src, sb, makeBlock("uint8", [3, 1, 1, 1]), sb));
    bad(() => copyBox(src, sb, makeBlock("uint64", [3, 1, 1, 2]), sb));
    bad(() => copyBox(src, { min: [0, 0, 0], max: [4, 1, 1] }, dst, sb));
  });
});
