import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { alignedSliceBody } from "../../src/server/schemas.js";
import { type Running, startServer, tempDir } from "./helpers.js";

let srv: Running;
before(async () => {
  srv = await startServer({ allow: [`file://${await tempDir("openapi")}/`] });
});
after(() => srv?.close());

interface Doc {
  openapi: string;
  paths: Record<
    string,
    { post?: { requestBody: { content: Record<string, { schema: Schema }> } } }
  >;
}
interface Schema {
  type?: string;
  required?: string[];
  properties?: Record<string, { description?: string }>;
}

test("GET /openapi.json: OpenAPI 3.1 from the schemas that validate requests", async () => {
  const r = await fetch(`${srv.url}/openapi.json`);
  assert.equal(r.status, 200);
  const doc = (await r.json()) as Doc;
  assert.equal(doc.openapi, "3.1.0");
  for (const p of ["/alignedslice", "/ngmeta", "/ngshard", "/tasks"]) {
    assert.ok(doc.paths[p]?.post, p);
  }
  const schema = doc.paths["/alignedslice"].post!.requestBody.content["application/json"].schema;
  assert.equal(schema.type, "object");
  assert.deepEqual(
    new Set(schema.required),
    new Set(["img", "transform", "bbox", "dest", "dest-tmp", "slice"]),
  );
  // Every field is documented, and the documented fields are exactly the validated ones.
  for (const [k, v] of Object.entries(schema.properties ?? {})) assert.ok(v.description, k);
  assert.deepEqual(
    Object.keys(schema.properties ?? {}).sort(),
    Object.keys(alignedSliceBody.shape).sort(),
  );
  const ngmeta = doc.paths["/ngmeta"].post!.requestBody.content["application/json"].schema;
  assert.ok(ngmeta.properties?.writeRaw?.description?.includes("True"));
});
