import { VoxportError } from "../../errors.js";

/**
 * sqs:// URLs:
 *
 *   sqs://aws/NAME?region=us-east-1&state=STORE_URL
 *       AWS SQS, queue NAME in the region (default: AWS_REGION). Credentials from the SDK's
 *       default chain (environment, shared config, instance/task role).
 *   sqs://sqs.us-east-1.amazonaws.com/123456789012/NAME?state=STORE_URL
 *       the same, from a queue URL as the AWS console shows it (region taken from the host).
 *   sqs://127.0.0.1:9324/NAME?region=us-east-1&endpoint=http://127.0.0.1:9324&state=STORE_URL
 *       an emulator (moto, ElasticMQ, LocalStack); `endpoint` defaults to http://HOST:PORT.
 *       Without credentials in the environment, dummy ones are used (emulators accept any).
 *
 * `state` (required) is a voxport store URL shared by every worker — a directory on a shared
 * filesystem, or an object-store prefix — where the queue keeps ids, done/dead records and
 * dependency markers (see state.ts). The queue is created on first use if missing.
 */
export interface SqsLocation {
  name: string;
  region: string;
  endpoint?: string;
  state: string;
}

export function parseSqsUrl(url: string): SqsLocation {
  const m = /^sqs:\/\/([^/?]*)\/([^?]*)(?:\?(.*))?$/i.exec(url);
  if (!m) {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `invalid SQS queue URL ${url}; expected sqs://aws/NAME?region=…&state=… or sqs://HOST:PORT/NAME?…`,
    );
  }
  const host = m[1];
  const path = m[2].split("/").filter(Boolean);
  const params = new URLSearchParams(m[3] ?? "");
  const name = path[path.length - 1];
  if (name?.endsWith(".fifo")) {
    throw new VoxportError(
      "UNSUPPORTED",
      `${url}: FIFO queues are not supported; use a standard queue (voxport dedupes task ids itself)`,
    );
  }
  if (!name || !/^[A-Za-z0-9_-]{1,80}$/.test(name)) {
    throw new VoxportError("INVALID_ARGUMENT", `SQS queue name in ${url} is missing or not valid`);
  }
  const state = params.get("state");
  if (!state) {
    throw new VoxportError(
      "INVALID_ARGUMENT",
      `${url}: add state=STORE_URL (a directory or bucket prefix every worker can reach); ` +
        "SQS keeps no per-task records, so voxport keeps done/dead/dedupe records there",
    );
  }
  const aws = /^sqs\.([a-z0-9-]+)\.amazonaws\.com$/i.exec(host);
  let region =
    params.get("region") ?? aws?.[1] ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
  let endpoint = params.get("endpoint") ?? undefined;
  if (!aws && host.toLowerCase() !== "aws") {
    endpoint ??= `http://${host}`;
    region ??= "us-east-1";
  }
  if (!region) {
    throw new VoxportError("INVALID_ARGUMENT", `${url}: add region=… (or set AWS_REGION)`);
  }
  return { name, region, endpoint, state };
}
