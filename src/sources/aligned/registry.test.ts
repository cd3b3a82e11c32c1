import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { isVoxportError } from "../../errors.js";
import {
  isAlignedInput,
  parseRegistry,
  parseSectionsFile,
  readSectionList,
  sectionPath,
} from "./registry.js";

/** The error a call throws, asserting it is a VoxportError whose message matches `re`. */
function errorOf(fn: () => unknown, re: RegExp): string {
  try {
    fn();
  } catch (e) {
    assert.ok(isVoxportError(e), `not a VoxportError: ${e}`);
    assert.match((e as Error).message, re);
    return (e as Error).message;
  }
  assert.fail(`expected an error matching ${re}`);
}

describe("registry.txt (ChunkFlow.jl / Alembic)", () => {
  it("parses 7-field lines as Alembic writes them (tabs, negative offsets), z = line order", () => {
    const text =
      "1,2_finished\t0\t-1234\t567\t40000\t38000\ttrue\n" +
      "1,3_finished\t0.5\t-1200\t-80\t39990\t38010\ttrue\n" +
      "2,1_finished\t0\t0\t0\t100\t90\tfalse\n";
    const r = parseRegistry(text, "/d/registry.txt");
    assert.equal(r.format, "registry");
    assert.deepEqual(
      r.sections.map((s) => [s.z, s.name, [...s.affine], s.declaredSize, s.where]),
      [
        [0, "1,2_finished", [1, 0, 0, 1, -1234, 567], [40000, 38000], "/d/registry.txt:1"],
        [1, "1,3_finished", [1, 0, 0, 1, -1200, -80], [39990, 38010], "/d/registry.txt:2"],
        [2, "2,1_finished", [1, 0, 0, 1, 0, 0], [100, 90], "/d/registry.txt:3"],
      ],
    );
  });

  it("parses the older 6-field form (no rotation), spaces, and integral floats", () => {
    const r = parseRegistry("a_aligned  -5 7.0  20 10  true\nb_aligned 3 -4 20 10 1\n", "reg");
    assert.deepEqual(
      r.sections.map((s) => [s.name, s.affine[4], s.affine[5], s.declaredSize]),
      [
        ["a_aligned", -5, 7, [20, 10]],
        ["b_aligned", 3, -4, [20, 10]],
      ],
    );
  });

  it("quirks: comments, blank lines, trailing whitespace, CRLF, CR, BOM, rendered case", () => {
    const text =
      "\uFEFF# written by hand\r\n" +
      "\r\n" +
      "s1\t0\t1\t2\t3\t4\tTRUE   \r\n" +
      "   \t\r\n" +
      "s2 0 5 6 7 8 False # re-rendered later\r" +
      "s3 0 9 10 11 12 0\n" +
      "# trailing comment";
    const r = parseRegistry(text, "reg.txt");
    // z counts section lines only (as readdlm skips comments and blanks): 0, 1, 2.
    assert.deepEqual(
      r.sections.map((s) => [s.z, s.name, s.affine[4], s.affine[5], s.where]),
      [
        [0, "s1", 1, 2, "reg.txt:3"],
        [1, "s2", 5, 6, "reg.txt:5"],
        [2, "s3", 9, 10, "reg.txt:6"],
      ],
    );
  });

  it("rejects bad lines with the file and line named", () => {
    errorOf(
      () => parseRegistry("a 0 1 2 3 4 true\nb 1 2 3 4\n", "r.txt"),
      /^r\.txt:2: expected 6 fields.*got 5/,
    );
    errorOf(() => parseRegistry("a 0 1 2 3 4 5 true x\n", "r.txt"), /r\.txt:1: .*got 9/);
    errorOf(
      () => parseRegistry("a 0 1 2 3 4 yes\n", "r.txt"),
      /r\.txt:1: rendered must be true or false, got "yes"/,
    );
    errorOf(
      () => parseRegistry("a 0 1.5 2 3 4 true\n", "r.txt"),
      /r\.txt:1: off_x 1\.5 is not a whole number.*\.jsonl/,
    );
    errorOf(
      () => parseRegistry("a 0 x 2 3 4 true\n", "r.txt"),
      /r\.txt:1: off_x "x" is not a number/,
    );
    errorOf(() => parseRegistry("a zero 1 2 3 4 true\n", "r.txt"), /r\.txt:1: rotation "zero"/);
    errorOf(() => parseRegistry("a 0 1 2 0 4 true\n", "r.txt"), /r\.txt:1: size 0×4 is empty/);
    errorOf(
      () => parseRegistry("# nothing\n\n", "r.txt"),
      /r\.txt: the registry lists no sections/,
    );
    errorOf(
      () => parseRegistry("a 0 1 2 3 4 true\nb 0 1 2 3 4 true\na 0 1 2 3 4 true\n", "r.txt"),
      /r\.txt:3: section a is listed twice \(also at r\.txt:1\)/,
    );
  });
});

describe("sections file (.jsonl, per-section affines)", () => {
  it("parses z, file and affine (array or emwrite's string), sorts by z, allows gaps", () => {
    const text =
      '{"z": 3, "file": "c.h5", "affine": "[0.9, 0.1, -0.1, 0.9, 10, 20]"}\r\n' +
      "# comment line\n" +
      '{"z": 0, "file": "a.png"}\n' +
      '{"z": 1, "file": "sub/b.tif", "affine": [1, 0, 0.25, 1, -3, 4]}\n';
    const r = parseSectionsFile(text, "s.jsonl");
    assert.deepEqual(
      r.sections.map((s) => [s.z, s.name, [...s.affine], s.where]),
      [
        [0, "a.png", [1, 0, 0, 1, 0, 0], "s.jsonl:3"],
        [1, "sub/b.tif", [1, 0, 0.25, 1, -3, 4], "s.jsonl:4"],
        [3, "c.h5", [0.9, 0.1, -0.1, 0.9, 10, 20], "s.jsonl:1"],
      ],
    );
  });

  it("rejects malformed lines, affines and duplicates with the line named", () => {
    errorOf(
      () => parseSectionsFile('{"z": 0, "file": "a.png"}\n{"z": 1, "file"\n', "s.jsonl"),
      /s\.jsonl:2: not a JSON object/,
    );
    errorOf(
      () => parseSectionsFile('{"z": 0, "file": "a.png", "affine": [1, 0, 0, 1, 5]}', "s.jsonl"),
      /s\.jsonl:1: affine: an affine needs six numbers/,
    );
    errorOf(
      () =>
        parseSectionsFile('{"z": 0, "file": "a.png", "affine": [1, 0, "x", 1, 5, 6]}', "s.jsonl"),
      /s\.jsonl:1: affine: .*not a finite number/,
    );
    errorOf(
      () => parseSectionsFile('{"z": 0, "file": "a.png", "affine": [1, 2, 2, 4, 0, 0]}', "s.jsonl"),
      /s\.jsonl:1: affine: .*singular/,
    );
    errorOf(
      () => parseSectionsFile('{"z": 0.5, "file": "a.png"}', "s.jsonl"),
      /s\.jsonl:1: z must be an integer/,
    );
    errorOf(
      () => parseSectionsFile('{"z": 0}', "s.jsonl"),
      /s\.jsonl:1: file must be a non-empty string/,
    );
    errorOf(
      () => parseSectionsFile('{"z": 0, "file": "a", "offset": [1, 2]}', "s.jsonl"),
      /s\.jsonl:1: unknown key "offset"/,
    );
    errorOf(() => parseSectionsFile("[1, 2]", "s.jsonl"), /s\.jsonl:1: expected an object/);
    errorOf(
      () => parseSectionsFile('{"z": 2, "file": "a"}\n{"z": 2, "file": "b"}', "s.jsonl"),
      /s\.jsonl:2: z 2 is listed twice \(also at s\.jsonl:1\)/,
    );
  });
});

describe("reading a list from disk", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "voxport-registry-"));
    await mkdir(join(dir, "stack"));
    await writeFile(
      join(dir, "stack", "registry.txt"),
      "a_finished 0 -2 3 4 5 true\nb_finished 0 0 0 4 5 true\n",
    );
    await writeFile(join(dir, "stack", "a_finished.h5"), "x");
    await writeFile(join(dir, "stack", "a_finished.png"), "x");
    await writeFile(join(dir, "stack", "b_finished.tif"), "x");
    await writeFile(
      join(dir, "list.jsonl"),
      '{"z": 0, "file": "stack/b_finished.tif"}\n{"z": 1, "file": "nope.png"}\n',
    );
    await writeFile(join(dir, "plain"), "");
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("a folder means its registry.txt; names resolve to .h5 first, then images", async () => {
    assert.ok(isAlignedInput(join(dir, "stack")));
    assert.ok(isAlignedInput(join(dir, "stack", "registry.txt")));
    assert.ok(isAlignedInput(join(dir, "list.jsonl")));
    assert.ok(!isAlignedInput(dir), "a folder without registry.txt is an image stack");
    assert.ok(!isAlignedInput(join(dir, "plain")));
    assert.ok(!isAlignedInput("s3://bucket/registry.txt"));
    const list = await readSectionList(join(dir, "stack"));
    assert.equal(list.file, join(dir, "stack", "registry.txt"));
    assert.equal(sectionPath(list, list.sections[0]), join(dir, "stack", "a_finished.h5"));
    assert.equal(sectionPath(list, list.sections[1]), join(dir, "stack", "b_finished.tif"));
  });

  it("a sections file resolves files relative to itself; a missing one names the line", async () => {
    const list = await readSectionList(join(dir, "list.jsonl"));
    assert.equal(sectionPath(list, list.sections[0]), join(dir, "stack", "b_finished.tif"));
    const msg = errorOf(
      () => sectionPath(list, list.sections[1]),
      /list\.jsonl:2: section file .*nope\.png not found/,
    );
    assert.ok(msg.includes(join(dir, "nope.png")));
  });

  it("a missing registry is NOT_FOUND naming the path", async () => {
    await assert.rejects(readSectionList(join(dir, "missing.txt")), (e: unknown) => {
      assert.ok(isVoxportError(e, "NOT_FOUND"));
      assert.match((e as Error).message, /missing\.txt/);
      return true;
    });
  });
});
