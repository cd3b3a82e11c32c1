import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { isVoxportError } from "../errors.js";
import { globToRegExp, listSlices, naturalCompare, parsePrintfPattern } from "./slice-list.js";

describe("naturalCompare", () => {
  it("orders digit runs numerically", () => {
    const names = [
      "s10.png",
      "s2.png",
      "s1.png",
      "s010.png",
      "s9.png",
      "t1.png",
      "s1a.png",
      "S3.png",
    ];
    assert.deepEqual([...names].sort(naturalCompare), [
      "S3.png",
      "s1.png",
      "s1a.png",
      "s2.png",
      "s9.png",
      "s10.png",
      "s010.png",
      "t1.png",
    ]);
    assert.ok(naturalCompare("img_2_z3", "img_2_z12") < 0);
    assert.ok(naturalCompare("a99999999999999999999b", "a100000000000000000000b") < 0);
    assert.equal(naturalCompare("x", "x"), 0);
  });
});

describe("globToRegExp", () => {
  it("supports * and ? and escapes everything else", () => {
    const re = globToRegExp("sec_*.t?f");
    assert.ok(re.test("sec_001.tif"));
    assert.ok(!re.test("sec_001.tiff"));
    assert.ok(globToRegExp("a+b(1).png").test("a+b(1).png"));
    assert.ok(!globToRegExp("a.png").test("aXpng"));
  });
});

describe("parsePrintfPattern", () => {
  it("formats and parses exactly like printf", () => {
    const p = parsePrintfPattern("s%04d.png");
    assert.ok(p);
    assert.equal(p.format(7), "s0007.png");
    assert.equal(p.format(12345), "s12345.png");
    assert.equal(p.parse("s0007.png"), 7);
    assert.equal(p.parse("s12345.png"), 12345);
    assert.equal(p.parse("s007.png"), undefined); // not what %04d writes
    assert.equal(p.parse("s0007.tif"), undefined);
    const d = parsePrintfPattern("z%d_100%%.tif");
    assert.ok(d);
    assert.equal(d.format(3), "z3_100%.tif");
    assert.equal(d.parse("z3_100%.tif"), 3);
    assert.equal(d.parse("z03_100%.tif"), undefined);
    const w = parsePrintfPattern("%3d.png");
    assert.equal(w?.format(5), "  5.png");
    assert.equal(parsePrintfPattern("plain.png"), undefined);
  });

  it("rejects unsupported or repeated conversions", () => {
    assert.throws(
      () => parsePrintfPattern("s%s.png"),
      (e) => isVoxportError(e, "INVALID_ARGUMENT"),
    );
    assert.throws(
      () => parsePrintfPattern("s%d_%d.png"),
      (e) => isVoxportError(e, "INVALID_ARGUMENT"),
    );
  });
});

describe("listSlices", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "voxport-slices-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const touch = async (sub: string, names: string[]) => {
    await mkdir(join(dir, sub), { recursive: true });
    for (const n of names) await writeFile(join(dir, sub, n), "x");
    return join(dir, sub);
  };

  it("folder: image extensions only, hidden files skipped, natural order", async () => {
    const d = await touch("folder", [
      "s10.PNG",
      "s2.png",
      "s1.tif",
      "notes.txt",
      "._s3.png",
      ".hidden.png",
    ]);
    const list = await listSlices(d);
    assert.deepEqual(
      list.files.map((f) => f.name),
      ["s1.tif", "s2.png", "s10.PNG"],
    );
    assert.equal(list.files[0].path, join(d, "s1.tif"));
  });

  it("glob in the last component", async () => {
    const d = await touch("glob", ["a_1.png", "a_2.png", "b_1.png"]);
    const list = await listSlices(join(d, "a_*.png"));
    assert.deepEqual(
      list.files.map((f) => f.name),
      ["a_1.png", "a_2.png"],
    );
    await assert.rejects(listSlices(join(d, "c_*.png")), (e) => {
      assert.ok(isVoxportError(e, "INVALID_SOURCE"));
      assert.match(e.message, /c_\*\.png/);
      return true;
    });
    await assert.rejects(listSlices(join(dir, "gl*", "a_1.png")), (e) =>
      isVoxportError(e, "INVALID_ARGUMENT"),
    );
  });

  it("printf pattern: z from the number, gaps are errors naming the missing file", async () => {
    const d = await touch("printf", [
      "s0000.png",
      "s0001.png",
      "s0002.png",
      "s0004.png",
      "s0005.png",
      "other.png",
    ]);
    await assert.rejects(listSlices(join(d, "s%04d.png")), (e) => {
      assert.ok(isVoxportError(e, "INVALID_SOURCE"));
      assert.match(e.message, /s0003\.png/);
      return true;
    });
    await writeFile(join(d, "s0003.png"), "x");
    const list = await listSlices(d, { pattern: "s%04d.png" });
    assert.deepEqual(
      list.files.map((f) => f.z),
      [0, 1, 2, 3, 4, 5],
    );
    await assert.rejects(listSlices(join(d, "q%04d.png")), (e) =>
      isVoxportError(e, "INVALID_SOURCE"),
    );
  });

  it("zRegex: unnamed or named group, duplicates and non-matching names are errors", async () => {
    const d = await touch("regex", ["img_z12_c0.png", "img_z3_c0.png", "img_z7_c0.png"]);
    // Gaps in z are errors naming the missing numbers, unless allowed.
    await assert.rejects(listSlices(d, { zRegex: "_z(\\d+)_" }), (e) => {
      assert.ok(isVoxportError(e, "INVALID_SOURCE"));
      assert.match(e.message, /7 z value\(s\) missing between 3 and 12: 4, 5, 6, 8, 9, 10, 11 /);
      assert.match(e.message, /--allow-gaps/);
      return true;
    });
    const a = await listSlices(d, { zRegex: "_z(\\d+)_", allowGaps: true });
    assert.deepEqual(
      a.files.map((f) => f.z),
      [3, 7, 12],
    );
    const b = await listSlices(d, { zRegex: "(img)_z(?<z>\\d+)", allowGaps: true });
    assert.deepEqual(
      b.files.map((f) => f.name),
      ["img_z3_c0.png", "img_z7_c0.png", "img_z12_c0.png"],
    );
    await assert.rejects(listSlices(d, { zRegex: "(img)_z(\\d+)" }), (e) =>
      isVoxportError(e, "INVALID_ARGUMENT"),
    );
    await assert.rejects(listSlices(d, { zRegex: "([" }), (e) =>
      isVoxportError(e, "INVALID_ARGUMENT"),
    );
    await writeFile(join(d, "img_z007_c1.png"), "x");
    await assert.rejects(listSlices(d, { zRegex: "_z(\\d+)_" }), (e) => {
      assert.ok(isVoxportError(e, "INVALID_SOURCE"));
      assert.match(e.message, /img_z7_c0\.png/);
      assert.match(e.message, /img_z007_c1\.png/);
      assert.match(e.message, /z=7/);
      return true;
    });
    await writeFile(join(d, "thumb.png"), "x");
    await assert.rejects(listSlices(d, { zRegex: "_z(\\d+)_c0" }), (e) => {
      assert.ok(isVoxportError(e, "INVALID_SOURCE"));
      assert.match(e.message, /img_z007_c1\.png|thumb\.png/);
      return true;
    });
  });

  it("empty folder, missing folder, single file", async () => {
    const d = await touch("empty", ["readme.txt"]);
    await assert.rejects(listSlices(d), (e) => {
      assert.ok(isVoxportError(e, "INVALID_SOURCE"));
      assert.ok(e.message.includes(d));
      return true;
    });
    await assert.rejects(listSlices(join(dir, "nope")), (e) => isVoxportError(e, "NOT_FOUND"));
    const s = await touch("single", ["one.tif"]);
    const list = await listSlices(join(s, "one.tif"));
    assert.equal(list.files.length, 1);
  });
});
