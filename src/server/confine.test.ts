import assert from "node:assert/strict";
import { test } from "node:test";
import {
  bucketLocation,
  checkAllowed,
  ForbiddenLocation,
  joinLocation,
  makeConfinement,
  normalizeLocation,
} from "./confine.js";

test("normalizeLocation resolves dots, slashes and percent-encoding once", () => {
  assert.equal(normalizeLocation("gs://b//x/./y/../z", "f"), "gs://b/x/z");
  assert.equal(normalizeLocation("gs://b/%78/y", "f"), "gs://b/x/y");
  assert.equal(normalizeLocation("file:///data/a/../b/", "f"), "file:///data/b");
  assert.equal(normalizeLocation("/data/./a", "f"), "file:///data/a");
  assert.throws(() => normalizeLocation("gs://b/../../x", "f"), ForbiddenLocation);
  assert.throws(() => normalizeLocation("gs://b/%252e%252e", "f"), /decoded once/);
  assert.throws(() => normalizeLocation("s3://b/x?endpoint=http://evil", "f"), /query/);
  assert.throws(() => normalizeLocation("gs://b/x%0a", "f"), /control/);
});

test("checkAllowed: inside a prefix only, never a sibling with the same start", () => {
  const c = makeConfinement(["gs://lab/", "file:///data"], "gs://");
  assert.equal(checkAllowed(c, "gs://lab/em", "f"), "gs://lab/em");
  assert.equal(checkAllowed(c, "gs://lab", "f"), "gs://lab");
  assert.equal(checkAllowed(c, "file:///data/x/../y", "f"), "file:///data/y");
  for (const bad of [
    "gs://lab-evil/x",
    "gs://other/x",
    "file:///data-evil",
    "file:///data/../etc",
    "s3://lab/x",
  ]) {
    assert.throws(() => checkAllowed(c, bad, "f"), ForbiddenLocation, bad);
  }
  assert.equal(bucketLocation(c, "lab", "dest"), "gs://lab");
  assert.throws(() => bucketLocation(c, "other", "dest"), ForbiddenLocation);
  assert.throws(() => bucketLocation(c, "../lab", "dest"), ForbiddenLocation);
  assert.throws(() => bucketLocation(c, "%2e%2e", "dest"), ForbiddenLocation);
  assert.equal(joinLocation("gs://lab", "a/./b//c.png", "img"), "gs://lab/a/b/c.png");
  assert.throws(() => joinLocation("gs://lab", "../x.png", "img"), ForbiddenLocation);
  assert.equal(joinLocation("file:///data/lab", "a b.png", "img"), "file:///data/lab/a%20b.png");
});
