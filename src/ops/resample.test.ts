import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  type Affine2,
  composeAffine,
  IDENTITY,
  invertAffine,
  outputExtent,
  type Plane,
  parseAffine,
  sourceFootprint,
  warpAffine,
} from "./resample.js";

function plane(width: number, height: number, f: (x: number, y: number) => number): Plane {
  const data = new Float32Array(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data[y * width + x] = f(x, y);
  return { data, x0: 0, y0: 0, width, height, channels: 1 };
}

function outPlane(x0: number, y0: number, width: number, height: number): Plane {
  return { data: new Float32Array(width * height), x0, y0, width, height, channels: 1 };
}

describe("resample", () => {
  it("identity and integer translations copy pixels exactly, zeros outside", () => {
    const src = plane(7, 5, (x, y) => 1 + x + 10 * y);
    for (const method of ["linear", "nearest"] as const) {
      const out = outPlane(-2, -1, 12, 8);
      warpAffine(src, 7, 5, [1, 0, 0, 1, 3, 2], out, method, "float32");
      for (let j = 0; j < 8; j++) {
        for (let i = 0; i < 12; i++) {
          const x = -2 + i - 3;
          const y = -1 + j - 2;
          const want = x >= 0 && x < 7 && y >= 0 && y < 5 ? 1 + x + 10 * y : 0;
          assert.equal(out.data[j * 12 + i], want, `${method} at output (${-2 + i}, ${-1 + j})`);
        }
      }
    }
  });

  it("a quarter turn maps pixel centres to pixel centres", () => {
    const src = plane(4, 3, (x, y) => 1 + x + 4 * y);
    // (x, y) → (3 - y, x): a 90° turn of the 4×3 image into a 3×4 canvas.
    const m: Affine2 = [0, 1, -1, 0, 3, 0];
    for (const method of ["linear", "nearest"] as const) {
      const out = outPlane(0, 0, 3, 4);
      warpAffine(src, 4, 3, m, out, method, "float32");
      for (let y = 0; y < 3; y++) {
        for (let x = 0; x < 4; x++) {
          assert.equal(out.data[x * 3 + (2 - y)], 1 + x + 4 * y, `${method} source (${x}, ${y})`);
        }
      }
    }
  });

  it("linear reproduces a linear ramp under rotation, scale and shear (interior)", () => {
    const ramp = (x: number, y: number) => 3 * x - 2 * y + 100;
    const src = plane(64, 64, (x, y) => ramp(x + 0.5, y + 0.5));
    const m = composeAffine(
      [1.3, 0.2, 0.4, 0.9, 0, 0],
      [Math.cos(0.5), Math.sin(0.5), -Math.sin(0.5), Math.cos(0.5), 40, -10],
    );
    const inv = invertAffine(m);
    const out = outPlane(0, 0, 100, 100);
    warpAffine(src, 64, 64, m, out, "linear", "float32");
    let checked = 0;
    for (let j = 0; j < 100; j++) {
      for (let i = 0; i < 100; i++) {
        const sx = inv[0] * (i + 0.5) + inv[2] * (j + 0.5) + inv[4];
        const sy = inv[1] * (i + 0.5) + inv[3] * (j + 0.5) + inv[5];
        if (sx < 1 || sy < 1 || sx > 63 || sy > 63) continue;
        assert.ok(
          Math.abs((out.data[j * 100 + i] as number) - ramp(sx, sy)) < 1e-3,
          `output (${i}, ${j})`,
        );
        checked++;
      }
    }
    assert.ok(checked > 1000, `checked ${checked} interior pixels`);
  });

  it("reading only the footprint gives the same result as reading the whole section", () => {
    const full = plane(50, 40, (x, y) => (x * 7 + y * 13) % 251);
    const m: Affine2 = composeAffine([0.8, -0.3, 0.35, 1.1, 0, 0], IDENTITY);
    for (const method of ["linear", "nearest"] as const) {
      const box = { x0: 10, y0: 5, x1: 30, y1: 27 };
      const fp = sourceFootprint(m, box, 50, 40, method);
      assert.ok(fp, "the window sees part of the section");
      assert.ok(
        (fp.x1 - fp.x0) * (fp.y1 - fp.y0) < 50 * 40,
        "the footprint is smaller than the section",
      );
      const part = plane(
        fp.x1 - fp.x0,
        fp.y1 - fp.y0,
        (x, y) => full.data[(y + fp.y0) * 50 + x + fp.x0] as number,
      );
      part.x0 = fp.x0;
      part.y0 = fp.y0;
      const a = outPlane(box.x0, box.y0, 20, 22);
      const b = outPlane(box.x0, box.y0, 20, 22);
      warpAffine(full, 50, 40, m, a, method, "uint8");
      warpAffine(part, 50, 40, m, b, method, "uint8");
      assert.deepEqual(b.data, a.data, method);
    }
  });

  it("rounds and clamps integer types", () => {
    const src: Plane = {
      data: new Uint8Array([0, 255]),
      x0: 0,
      y0: 0,
      width: 2,
      height: 1,
      channels: 1,
    };
    const out: Plane = { data: new Uint8Array(4), x0: 0, y0: 0, width: 4, height: 1, channels: 1 };
    warpAffine(src, 2, 1, [2, 0, 0, 1, 0, 0], out, "linear", "uint8");
    // centres 0.5,1.5,2.5,3.5 → source 0.25,0.75,1.25,1.75 → u clamps to [0,1]: 0, 0.25, 0.75, 1
    assert.deepEqual([...out.data], [0, 64, 191, 255]);
  });

  it("parses emwrite's forms and names the place on bad input", () => {
    assert.deepEqual(parseAffine("[1, 0, 0, 1, 5, -3]", "x"), [1, 0, 0, 1, 5, -3]);
    assert.deepEqual(parseAffine("1 0 0 1 5 -3", "x"), [1, 0, 0, 1, 5, -3]);
    assert.deepEqual(parseAffine([1, 0, 0, 1, 5, -3], "x"), [1, 0, 0, 1, 5, -3]);
    assert.throws(
      () => parseAffine("[1 0 0 1 5]", "reg.txt line 3"),
      /reg.txt line 3: an affine needs six numbers/,
    );
    assert.throws(() => parseAffine("[1 0 0 1 5 x]", "f"), /f: .*not a finite number/);
    assert.throws(
      () => parseAffine([1, 2, 2, 4, 0, 0], "body.transform"),
      /body.transform: .*singular/,
    );
  });

  it("output extent covers the transformed corners", () => {
    assert.deepEqual(outputExtent([0, 1, -1, 0, 3, 0], 4, 3), { x0: 0, y0: 0, x1: 3, y1: 4 });
  });
});
