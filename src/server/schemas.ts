import { z } from "zod";
import { parseAffine } from "../ops/resample.js";
import { MESSAGE_KINDS } from "../queue/message.js";

/**
 * Request bodies, as zod schemas: the same objects validate requests (400 naming the field) and
 * generate /openapi.json. emwrite's bodies are accepted as its Airflow DAG sends them, with its
 * quirks fixed deliberately:
 *  - `transform`, `bbox`, `start`: a JSON array, or emwrite's JSON-string form "[1, 2]";
 *  - `writeRaw`: a boolean, or emwrite's strings "True"/"False" (any case);
 *  - `shard-size`: only 1024 (emwrite's own limit), refused with a clear message otherwise;
 *  - `clip-limit` (CLAHE): emwrite's default 0.02 when absent, ≤ 0 turns it off; the pixels
 *    emwrite overwrote to pin each tile's range are left alone (src/server/emwrite/alignedslice.ts).
 * Unknown fields are ignored, as emwrite's Flask handlers did.
 */

const jsonString = (what: string) =>
  z.string().transform((s, ctx) => {
    try {
      return JSON.parse(s) as unknown;
    } catch {
      ctx.addIssue({ code: "custom", message: `not a JSON ${what}: ${JSON.stringify(s)}` });
      return z.NEVER;
    }
  });

const positiveInt = z.number().int().positive();

/** `[w, h]` or `"[w, h]"`. */
export const bboxField = z
  .union([z.array(z.unknown()), jsonString("array [width, height]")])
  .pipe(z.tuple([positiveInt, positiveInt]))
  .describe('output canvas [width, height] in pixels; a JSON array or emwrite\'s string "[w, h]"');

/** `[cx, cy, cz]` or `"[cx, cy, cz]"`. */
const startField = z
  .union([z.array(z.unknown()), jsonString("array [cx, cy, cz]")])
  .pipe(z.tuple([z.number().int().min(0), z.number().int().min(0), z.number().int().min(0)]))
  .describe("block index [cx, cy, cz] in units of 1024 voxels (z counted from slice 0)");

const transformField = z
  .union([z.array(z.number()), z.string()])
  .transform((v, ctx) => {
    try {
      return parseAffine(v, "transform");
    } catch (e) {
      ctx.addIssue({ code: "custom", message: (e as Error).message.replace(/^transform: /, "") });
      return z.NEVER;
    }
  })
  .describe(
    "affine [a, b, c, d, e, f] mapping section pixels to the canvas: x' = a·x + c·y + e, " +
      "y' = b·x + d·y + f; a JSON array or emwrite's string \"[a, b, c, d, e, f]\"",
  );

const boolish = z
  .union([z.boolean(), z.enum(["True", "False", "true", "false", "TRUE", "FALSE"])])
  .transform((v) => v === true || (typeof v === "string" && v.toLowerCase() === "true"));

const shardSize = z
  .union([z.number(), z.string()])
  .optional()
  .transform((v, ctx) => {
    if (v === undefined || Number(v) === 1024) return 1024 as const;
    ctx.addIssue({
      code: "custom",
      message: `shard size must be 1024 (emwrite stages 1024² tiles and builds 1024³ blocks), got ${JSON.stringify(v)}`,
    });
    return z.NEVER;
  })
  .describe("must be 1024 (default 1024)");

const location = (what: string) =>
  z
    .string()
    .min(1)
    .describe(
      `${what}: an emwrite bucket name (mapped onto the server's --bucket-base) or a storage URL (gs://, s3://, file://); must lie under an --allow prefix`,
    );

const sliceNumber = z
  .union([z.number().int().min(0), z.string().regex(/^\d+$/).transform(Number)])
  .describe("section number = z index of the section (non-negative integer)");

export const alignedSliceBody = z
  .object({
    img: z
      .string()
      .min(1)
      .describe("object name of the section image inside `dest` (PNG/TIFF/JPEG, 8-bit grey)"),
    transform: transformField,
    bbox: bboxField,
    dest: location("where `img` is read from"),
    "dest-tmp": location("where the staged tiles are written ({slice}_{xb}_{yb})"),
    slice: sliceNumber,
    "shard-size": shardSize,
    run_id: z
      .string()
      .optional()
      .describe(
        "Airflow run id; emwrite used it for a thumbnail voxport does not write (accepted, unused)",
      ),
    "clip-limit": z
      .number()
      .max(1, "clip-limit is a fraction of the kernel area: at most 1")
      .default(0.02)
      .describe(
        "CLAHE clip limit (scikit-image's, kernel 1024, 3072² tiles with 512 overlap); emwrite's default 0.02; 0 or less: no CLAHE",
      ),
  })
  .describe("transform one section and stage it as 1024² PNG tiles in 4096² region objects");

const volumeFields = {
  dest: location("bucket of the jpeg volume (written at <dest>/neuroglancer/jpeg)"),
  dest_raw: location(
    "bucket of the raw volume (written at <dest_raw>/neuroglancer/raw); needed when writeRaw",
  ).optional(),
  minz: z.number().int().min(0).describe("first section (inclusive)"),
  maxz: z.number().int().min(0).describe("last section (inclusive)"),
  resolution: z.number().positive().describe("isotropic voxel size in nm"),
  bbox: bboxField,
  "shard-size": shardSize,
  writeRaw: boolish
    .optional()
    .transform((v) => v ?? false)
    .describe('also write the raw 512³ volume; true/false or emwrite\'s "True"/"False"'),
  "jpeg-quality": z
    .number()
    .int()
    .min(1)
    .max(100)
    .optional()
    .transform((v) => v ?? 85)
    .describe("voxport extension: JPEG quality 1–100 (default 85, as `voxport ingest`)"),
};

function checkVolume<
  T extends { minz: number; maxz: number; writeRaw: boolean; dest_raw?: string },
>(v: T, ctx: z.RefinementCtx): void {
  if (v.maxz < v.minz) {
    ctx.addIssue({ code: "custom", path: ["maxz"], message: `maxz ${v.maxz} < minz ${v.minz}` });
  }
  if (v.writeRaw && v.dest_raw === undefined) {
    ctx.addIssue({ code: "custom", path: ["dest_raw"], message: "required when writeRaw is true" });
  }
}

export const ngMetaBody = z
  .object(volumeFields)
  .superRefine(checkVolume)
  .describe("write the info of the jpeg volume (and of the raw one with writeRaw)");

export const ngShardBody = z
  .object({
    ...volumeFields,
    source: location("bucket holding the staged tiles (the `dest-tmp` of /alignedslice)"),
    start: startField,
  })
  .superRefine(checkVolume)
  .describe("build one 1024³ block at every scale from the staged tiles");

/** A Pub/Sub push request (https://cloud.google.com/pubsub/docs/push). */
export const pushEnvelope = z.object({
  message: z.object({
    data: z.string().describe("base64 of the voxport task message (JSON)"),
    attributes: z.record(z.string(), z.string()).optional(),
    messageId: z.string().optional(),
    message_id: z.string().optional(),
    publishTime: z.string().optional(),
  }),
  subscription: z.string().optional(),
  deliveryAttempt: z.number().int().optional(),
});

/** Either a task message itself (src/queue/message.ts, validated there) or a push envelope. */
export const tasksBody = z
  .union([
    pushEnvelope,
    z
      .object({ v: z.literal(1), kind: z.enum(MESSAGE_KINDS), job: z.string() })
      .passthrough()
      .describe(
        'a voxport task message, e.g. {"v":1,"kind":"ingest","job":"gs://b/em","task":{…}}',
      ),
  ])
  .describe("run one voxport task message, or one delivered in a Pub/Sub push envelope");

export type AlignedSliceBody = z.output<typeof alignedSliceBody>;
export type NgMetaBody = z.output<typeof ngMetaBody>;
export type NgShardBody = z.output<typeof ngShardBody>;
export type TasksBody = z.output<typeof tasksBody>;

/** The first issue as "field: message" (the field path joined with dots). */
export function describeIssue(e: z.ZodError): { field: string; message: string } {
  const issue = e.issues[0];
  const field = issue.path.map(String).join(".") || "(body)";
  return { field, message: `${field}: ${issue.message}` };
}
