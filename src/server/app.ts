import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import pino, { type DestinationStream, type Logger } from "pino";
import type { z } from "zod";
import { isVoxportError } from "../errors.js";
import { MessageError } from "../queue/message.js";
import { openStore } from "../storage/registry.js";
import { IngestHandler } from "../worker/handler.js";
import { describeError, isRetryable } from "../worker/loop.js";
import { Authenticator, type AuthOptions } from "./auth.js";
import {
  bucketLocation,
  type Confinement,
  checkAllowed,
  ForbiddenLocation,
  joinLocation,
  makeConfinement,
  objectKey,
} from "./confine.js";
import { alignedSlice } from "./emwrite/alignedslice.js";
import type { EmwriteGeometry } from "./emwrite/layout.js";
import { JPEG_PATH, ngMeta, ngShard, RAW_PATH } from "./emwrite/volume.js";
import { type Forwarder, openForwarder } from "./forward.js";
import { openApiDocument } from "./openapi.js";
import {
  alignedSliceBody,
  describeIssue,
  type NgMetaBody,
  ngMetaBody,
  ngShardBody,
  pushEnvelope,
  tasksBody,
} from "./schemas.js";
import { TaskRunner } from "./tasks.js";

/**
 * `voxport serve`: the HTTP service. Every work request runs inside the request, at most
 * `concurrency` at once (Cloud Run's concurrency-1 model); one more gets 429 with Retry-After,
 * which Pub/Sub push and emwrite's orchestrator both retry. Order of checks, so nothing is read
 * or written for a request that will be refused: auth (401, before the body is read) → body
 * size (413) → JSON and schema (400 naming the field) → locations (403) → capacity (429) → work.
 */

export interface ServeOptions {
  /** Static tokens and/or identity-token settings; "none" only with --insecure-no-auth. */
  auth: AuthOptions | "none";
  /** Prefixes requests may read and write under. */
  allow: string[];
  /** Base that emwrite bucket names map onto (`gs://`, `file:///data/`). */
  bucketBase?: string;
  /** Requests doing work at once; default 1. */
  concurrency?: number;
  /** Seconds in the Retry-After of a 429; default 5. */
  retryAfter?: number;
  /** Largest request body in bytes; default 1 MiB. */
  bodyLimit?: number;
  /** Where `/tasks` sends parents it made ready (see forward.ts). */
  forward?: string;
  logLevel?: string;
  /** Log destination (default stderr). */
  logStream?: DestinationStream;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

/** Status for an error a handler threw; the body never carries a stack. */
export function statusOf(e: unknown): number {
  if (e instanceof HttpError) return e.status;
  if (e instanceof ForbiddenLocation) return 403;
  if (e instanceof MessageError) return 400;
  if (isVoxportError(e)) {
    switch (e.code) {
      case "NOT_FOUND":
        return 404;
      case "CONFLICT":
        return 409;
      case "STORAGE":
        return 502;
      case "ABORTED":
        return 503;
      default:
        return 400;
    }
  }
  return 500;
}

function parse<T extends z.ZodType>(schema: T, body: unknown): z.output<T> {
  const r = schema.safeParse(body);
  if (!r.success) {
    const { field, message } = describeIssue(r.error);
    throw new HttpError(400, message, field);
  }
  return r.data;
}

function geometry(b: NgMetaBody): EmwriteGeometry {
  return {
    width: b.bbox[0],
    height: b.bbox[1],
    minz: b.minz,
    maxz: b.maxz,
    resolution: b.resolution,
    jpegQuality: b["jpeg-quality"],
  };
}

function makeLogger(o: ServeOptions): Logger {
  return pino(
    {
      base: undefined,
      level: o.logLevel ?? process.env.VOXPORT_LOG_LEVEL ?? "info",
      // Requests are logged by method, path and peer only: never headers (Authorization) or
      // bodies. The redaction is a second line of defence for anything that logs a header.
      serializers: {
        req: (req: FastifyRequest) => ({ method: req.method, url: req.url, remote: req.ip }),
        res: (res: FastifyReply) => ({ status: res.statusCode }),
      },
      redact: {
        paths: ["headers.authorization", "req.headers.authorization", "authorization"],
        censor: "***",
      },
    },
    o.logStream ?? pino.destination(2),
  );
}

export interface Server {
  app: FastifyInstance;
  /** Requests doing work now. */
  inFlight(): number;
  close(): Promise<void>;
}

export async function buildServer(o: ServeOptions): Promise<Server> {
  const concurrency = o.concurrency ?? 1;
  const retryAfter = String(o.retryAfter ?? 5);
  const confinement: Confinement = makeConfinement(o.allow, o.bucketBase);
  if (confinement.prefixes.length === 0) {
    throw new HttpError(500, "give at least one --allow prefix: requests may touch nothing else");
  }
  const auth = o.auth === "none" ? undefined : new Authenticator(o.auth);
  const forwarder: Forwarder | undefined = o.forward ? await openForwarder(o.forward) : undefined;
  const handler = new IngestHandler();
  const runner = new TaskRunner(handler, confinement, forwarder);
  const app = Fastify({
    loggerInstance: makeLogger(o),
    bodyLimit: o.bodyLimit ?? 1024 * 1024,
  }) as unknown as FastifyInstance;
  let active = 0;

  app.addHook("onRequest", async (req, reply) => {
    if (!auth || req.url === "/healthz" || req.url === "/openapi.json") return;
    if (!(await auth.check(req.headers.authorization))) {
      reply.header("www-authenticate", "Bearer").code(401).send({ error: "unauthorized" });
      return reply;
    }
  });

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
    let status = statusOf(err);
    let message = err.message;
    let field = err instanceof HttpError ? err.field : undefined;
    if (err instanceof ForbiddenLocation) field = err.field;
    if (err.code === "FST_ERR_CTP_INVALID_JSON_BODY" || err instanceof SyntaxError) {
      status = 400;
      field = "(body)";
      message = "the body is not valid JSON";
    } else if (typeof err.statusCode === "number" && err.code?.startsWith("FST_")) {
      status = err.statusCode;
    }
    if (status >= 500) req.log.error({ err: { message: err.message, code: err.code } }, "failed");
    else req.log.info({ status, error: message }, "refused");
    // Unexpected failures do not echo internals to the caller.
    const text = status === 500 ? "internal error (see the server log)" : message;
    reply.code(status).send(field ? { error: text, field } : { error: text });
  });

  /** Runs `work` if a slot is free, else 429. */
  async function limited<T>(reply: FastifyReply, work: (signal: AbortSignal) => Promise<T>) {
    if (active >= concurrency) {
      reply.header("retry-after", retryAfter).code(429);
      return { error: `busy: ${active} request(s) running, limit ${concurrency}` };
    }
    active++;
    const ac = new AbortController();
    const onClose = () => {
      if (!reply.raw.writableFinished) ac.abort();
    };
    reply.raw.on("close", onClose);
    try {
      return await work(ac.signal);
    } finally {
      reply.raw.off("close", onClose);
      active--;
    }
  }

  /** emwrite answered "success" (text/html); JSON callers get the details. */
  function success(req: FastifyRequest, reply: FastifyReply, details: Record<string, unknown>) {
    if ((req.headers.accept ?? "").includes("application/json")) {
      return { status: "success", ...details };
    }
    reply.type("text/plain; charset=utf-8");
    return "success";
  }

  app.get("/healthz", async () => ({ status: "ok", inFlight: active, concurrency }));
  app.get("/openapi.json", async () => openApiDocument());

  app.post("/alignedslice", async (req, reply) => {
    const b = parse(alignedSliceBody, req.body);
    const dest = bucketLocation(confinement, b.dest, "dest");
    const tmp = bucketLocation(confinement, b["dest-tmp"], "dest-tmp");
    checkAllowed(confinement, joinLocation(dest, b.img, "img"), "img");
    const key = objectKey(b.img, "img");
    const r = await limited(reply, (signal) =>
      alignedSlice({
        imageStore: openStore(dest),
        imageKey: key,
        tmpStore: openStore(tmp),
        transform: b.transform,
        width: b.bbox[0],
        height: b.bbox[1],
        slice: b.slice,
        clipLimit: b["clip-limit"],
        signal,
      }),
    );
    if (reply.statusCode === 429) return r;
    return success(req, reply, r as unknown as Record<string, unknown>);
  });

  /** The jpeg and (optional) raw dataset locations a /ngmeta or /ngshard body names, confined. */
  const destinations = (b: { dest: string; dest_raw?: string; writeRaw: boolean }) => ({
    jpeg: checkAllowed(
      confinement,
      joinLocation(bucketLocation(confinement, b.dest, "dest"), JPEG_PATH, "dest"),
      "dest",
    ),
    raw:
      b.writeRaw && b.dest_raw
        ? checkAllowed(
            confinement,
            joinLocation(bucketLocation(confinement, b.dest_raw, "dest_raw"), RAW_PATH, "dest_raw"),
            "dest_raw",
          )
        : undefined,
  });

  app.post("/ngmeta", async (req, reply) => {
    const b = parse(ngMetaBody, req.body);
    const { jpeg, raw } = destinations(b);
    const r = await limited(reply, () =>
      ngMeta(geometry(b), openStore(jpeg), raw ? openStore(raw) : undefined),
    );
    if (reply.statusCode === 429) return r;
    return success(req, reply, { ...r, jpegUrl: jpeg, rawUrl: raw });
  });

  app.post("/ngshard", async (req, reply) => {
    const b = parse(ngShardBody, req.body);
    const { jpeg, raw } = destinations(b);
    const tmp = bucketLocation(confinement, b.source, "source");
    const r = await limited(reply, (signal) =>
      ngShard(
        geometry(b),
        b.start,
        { jpeg: openStore(jpeg), raw: raw ? openStore(raw) : undefined, tmp: openStore(tmp) },
        signal,
      ),
    );
    if (reply.statusCode === 429) return r;
    return success(req, reply, r as unknown as Record<string, unknown>);
  });

  app.post("/tasks", async (req, reply) => {
    const b = parse(tasksBody, req.body);
    const env = pushEnvelope.safeParse(b);
    const push = env.success ? env.data : undefined;
    const text = push
      ? Buffer.from(push.message.data, "base64").toString("utf8")
      : JSON.stringify(b);
    const messageId = push?.message.messageId ?? push?.message.message_id;
    /** A push delivery that can never succeed is acknowledged (2xx): redelivering it would
     * loop until Pub/Sub's dead-letter policy gives up. It is logged with its error. */
    const fatal = (e: unknown) => {
      if (!push || isRetryable(e)) throw e;
      req.log.warn({ messageId, status: statusOf(e), error: describeError(e) }, "task rejected");
      return { status: "rejected", messageId, error: describeError(e) };
    };
    let message: ReturnType<TaskRunner["parse"]>;
    try {
      message = runner.parse(text);
    } catch (e) {
      return fatal(e);
    }
    try {
      const r = await limited(reply, () => runner.run(text, message, push?.deliveryAttempt ?? 1));
      if (reply.statusCode === 429) return r;
      const run = r as Awaited<ReturnType<TaskRunner["run"]>>;
      return {
        status: "done",
        messageId,
        kind: run.outcome.kind,
        skipped: run.outcome.skipped ?? false,
        alreadyPublished: run.outcome.alreadyPublished ?? false,
        result: run.outcome.result,
        ready: run.ready.map((i) => i.id),
        forwarded: run.forwarded,
      };
    } catch (e) {
      // Retryable failures (network, 5xx, throttling): a 5xx makes Pub/Sub redeliver.
      if (isRetryable(e)) {
        req.log.error({ messageId, error: describeError(e) }, "task failed, will be retried");
        reply.code(503);
        return { status: "failed", retryable: true, error: describeError(e) };
      }
      return fatal(e);
    }
  });

  return {
    app,
    inFlight: () => active,
    close: async () => {
      await app.close();
      await forwarder?.close();
    },
  };
}
