import { z } from "zod";
import { alignedSliceBody, ngMetaBody, ngShardBody, tasksBody } from "./schemas.js";

/**
 * `/openapi.json`: an OpenAPI 3.1 document generated from the zod schemas that validate the
 * requests (z.toJSONSchema, input side: what a client sends), so the two cannot drift apart.
 */

function bodySchema(schema: z.ZodType): Record<string, unknown> {
  const s = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as Record<
    string,
    unknown
  >;
  delete s.$schema;
  return s;
}

const errorBody = {
  type: "object",
  properties: {
    error: { type: "string" },
    field: { type: "string", description: "the request field at fault, when there is one" },
  },
  required: ["error"],
};

const standardErrors = {
  "400": { description: "invalid body; `field` names the field", content: json(errorBody) },
  "401": { description: "missing or wrong credentials", content: json(errorBody) },
  "403": {
    description: "a location outside the server's --allow prefixes",
    content: json(errorBody),
  },
  "404": { description: "an input does not exist", content: json(errorBody) },
  "409": { description: "the destination holds a different volume", content: json(errorBody) },
  "413": { description: "body larger than the server's limit", content: json(errorBody) },
  "429": {
    description: "all work slots busy; retry after the Retry-After seconds",
    headers: { "Retry-After": { schema: { type: "integer" } } },
    content: json(errorBody),
  },
  "503": { description: "a retryable failure (storage, network)", content: json(errorBody) },
};

function json(schema: unknown) {
  return { "application/json": { schema } };
}

function post(summary: string, schema: z.ZodType, ok: string) {
  return {
    post: {
      summary,
      security: [{ bearer: [] }],
      requestBody: { required: true, content: json(bodySchema(schema)) },
      responses: {
        "200": {
          description: ok,
          content: {
            "application/json": { schema: { type: "object" } },
            "text/plain": { schema: { type: "string", const: "success" } },
          },
        },
        ...standardErrors,
      },
    },
  };
}

let cached: Record<string, unknown> | undefined;

export function openApiDocument(): Record<string, unknown> {
  cached ??= {
    openapi: "3.1.0",
    info: {
      title: "voxport serve",
      version: "0.1.0",
      description:
        "emwrite-compatible ingest endpoints and a job API for serverless voxport workers. " +
        "Work runs inside the request; send `Accept: application/json` for JSON results " +
        '(emwrite\'s plain "success" otherwise).',
    },
    components: {
      securitySchemes: {
        bearer: {
          type: "http",
          scheme: "bearer",
          description: "a static token of the server, or a Google identity token for its audience",
        },
      },
    },
    paths: {
      "/alignedslice": post(
        "Transform one section and stage it as tiles",
        alignedSliceBody,
        "the section's region objects are written",
      ),
      "/ngmeta": post("Write the volume info", ngMetaBody, "info written or already identical"),
      "/ngshard": post(
        "Build one 1024³ block at every scale",
        ngShardBody,
        "the block's chunks and shards are written",
      ),
      "/tasks": post(
        "Run one voxport task message (or a Pub/Sub push envelope holding one)",
        tasksBody,
        "done, skipped (already done) or, for push envelopes, rejected for good (acknowledged)",
      ),
      "/healthz": {
        get: { summary: "liveness", responses: { "200": { description: "serving" } } },
      },
    },
  };
  return cached;
}
