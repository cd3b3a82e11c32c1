import type { Command } from "commander";
import { VoxportError } from "../errors.js";
import { buildServer } from "../server/app.js";
import { type AuthOptions, readTokenFile } from "../server/auth.js";
import { parseBytes, parseIntIn } from "./parse.js";

/**
 * `voxport serve`: the HTTP service (src/server). emwrite's /alignedslice, /ngmeta, /ngshard,
 * voxport's /tasks (a task message or a Pub/Sub push envelope), /healthz and /openapi.json.
 */

interface ServeFlags {
  port: number;
  host: string;
  allow: string[];
  bucketBase?: string;
  tokenFile?: string;
  idTokenAudience?: string;
  idTokenCerts?: string;
  idTokenEmail: string[];
  insecureNoAuth?: boolean;
  concurrency: number;
  retryAfter: number;
  bodyLimit: number;
  forward?: string;
}

const collect = (value: string, previous: string[]) => [...previous, value];

async function authOf(flags: ServeFlags): Promise<AuthOptions | "none"> {
  const tokens: string[] = [];
  if (flags.tokenFile) tokens.push(...(await readTokenFile(flags.tokenFile)));
  const env = process.env.VOXPORT_SERVE_TOKENS;
  if (env)
    tokens.push(
      ...env
        .split(",")
        .map((t) => t.trim())
        .filter(Boolean),
    );
  const configured = tokens.length > 0 || flags.idTokenAudience !== undefined;
  if (flags.insecureNoAuth) {
    if (configured) {
      throw new VoxportError(
        "INVALID_ARGUMENT",
        "--insecure-no-auth together with tokens or --id-token-audience: choose one",
      );
    }
    return "none";
  }
  if (!configured) {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      "no authentication configured: give --token-file FILE, VOXPORT_SERVE_TOKENS or " +
        "--id-token-audience URL (or --insecure-no-auth, for local tests only)",
    );
  }
  return {
    tokens,
    audience: flags.idTokenAudience,
    certs: flags.idTokenCerts,
    emails: flags.idTokenEmail,
  };
}

export function registerServe(program: Command): void {
  program
    .command("serve")
    .description(
      "Run the HTTP service: emwrite-compatible /alignedslice, /ngmeta, /ngshard, and /tasks " +
        "(one voxport task message, or a Pub/Sub push envelope holding one).\n\n" +
        "Work runs inside the request, --concurrency at a time (429 + Retry-After beyond). " +
        "Callers need a bearer token (--token-file, VOXPORT_SERVE_TOKENS) or a Google identity " +
        "token for --id-token-audience. Every location a request names must lie under an " +
        "--allow prefix (403 otherwise, before any read or write). API: GET /openapi.json.",
    )
    .option(
      "-p, --port <n>",
      "port (default $PORT, else 8080)",
      parseIntIn("--port", 0, 65535),
      Number(process.env.PORT ?? 8080),
    )
    .option("--host <addr>", "address to listen on (0.0.0.0 in containers)", "127.0.0.1")
    .option(
      "--allow <prefix>",
      "a prefix requests may read and write under, e.g. gs://lab-bucket/ or file:///data/ (repeatable; at least one)",
      collect,
      [] as string[],
    )
    .option(
      "--bucket-base <url>",
      "what emwrite bucket names map onto: gs:// (bucket b → gs://b) or file:///data/ (→ file:///data/b)",
    )
    .option("--token-file <file>", "bearer tokens, one per line (must be chmod 600)")
    .option(
      "--id-token-audience <aud>",
      "accept Google identity tokens issued for this audience (the service URL)",
    )
    .option(
      "--id-token-certs <url|file>",
      "signing certificates for identity tokens (default Google's)",
    )
    .option(
      "--id-token-email <email>",
      "only identity tokens of this account (repeatable)",
      collect,
      [] as string[],
    )
    .option("--insecure-no-auth", "accept every caller (local testing only)")
    .option(
      "--concurrency <n>",
      "requests doing work at once",
      parseIntIn("--concurrency", 1, 1024),
      1,
    )
    .option(
      "--retry-after <seconds>",
      "Retry-After of a 429",
      parseIntIn("--retry-after", 0, 3600),
      5,
    )
    .option("--body-limit <size>", "largest request body (413 beyond)", parseBytes, 1024 * 1024)
    .option(
      "--forward <url>",
      "where /tasks sends tasks it made ready: a queue URL or pubsub://projects/P/topics/T",
    )
    .action(async (flags: ServeFlags) => {
      if (flags.allow.length === 0) {
        throw new VoxportError(
          "INVALID_ARGUMENT",
          "give at least one --allow PREFIX (e.g. --allow gs://lab-bucket/): requests may touch nothing else",
        );
      }
      const server = await buildServer({
        auth: await authOf(flags),
        allow: flags.allow,
        bucketBase: flags.bucketBase,
        concurrency: flags.concurrency,
        retryAfter: flags.retryAfter,
        bodyLimit: flags.bodyLimit,
        forward: flags.forward,
      });
      const address = await server.app.listen({ port: flags.port, host: flags.host });
      server.app.log.info(
        { address, allow: flags.allow, concurrency: flags.concurrency },
        `voxport serve listening on ${address}${flags.insecureNoAuth ? " WITHOUT AUTHENTICATION" : ""}`,
      );
      let stopping = false;
      const stop = (sig: NodeJS.Signals) => {
        if (stopping) process.exit(130);
        stopping = true;
        // Cloud Run sends SIGTERM and waits ~10 s: stop accepting, finish what runs.
        server.app.log.info({ signal: sig }, "closing: finishing running requests");
        void server.close().then(() => process.exit(0));
      };
      process.on("SIGTERM", stop);
      process.on("SIGINT", stop);
      await new Promise(() => {});
    });
}
