import { VoxportError } from "../errors.js";
import type { Box } from "../ops/bbox.js";
import { redact } from "../storage/credentials.js";
import type { BossConfig } from "./config.js";

/**
 * The few BOSS REST calls an ingest needs (jhuapl-boss/boss `django/boss/urls.py`, as intern
 * sends them): resource GET/POST under `/v1/collection/…` and `/v1/coord/…`, experiment
 * metadata under `/v1/meta/…`, and cutout POST/GET under `/v1/cutout/…` with blosc bodies.
 * Every call carries `Authorization: Token <token>`; the token never appears in an error.
 */

export class BossHttpError extends VoxportError {
  constructor(
    readonly status: number,
    message: string,
  ) {
    // 4xx other than throttling/timeouts is the caller's mistake: retrying will not fix it.
    const fatal = status >= 400 && status < 500 && status !== 408 && status !== 429;
    super(fatal ? "INVALID_ARGUMENT" : "STORAGE", message);
    this.name = "BossHttpError";
  }
}

export type Json = Record<string, unknown>;

export interface CutoutTarget {
  collection: string;
  experiment: string;
  channel: string;
}

const RESOURCE_TIMEOUT_MS = 60_000;
const CUTOUT_TIMEOUT_MS = 300_000;

export function cutoutPath(t: CutoutTarget, res: number, b: Box): string {
  return (
    `/cutout/${t.collection}/${t.experiment}/${t.channel}/${res}/` +
    `${b.min[0]}:${b.max[0]}/${b.min[1]}:${b.max[1]}/${b.min[2]}:${b.max[2]}/`
  );
}

export class BossClient {
  readonly base: string;
  private readonly token: string;

  constructor(cfg: Pick<BossConfig, "protocol" | "host" | "token">) {
    this.base = `${cfg.protocol}://${cfg.host}/v1`;
    this.token = cfg.token;
  }

  private async call(
    method: string,
    path: string,
    init: { body?: Uint8Array | string; contentType?: string; accept?: string; timeoutMs?: number },
  ): Promise<Response> {
    const headers: Record<string, string> = {
      Authorization: `Token ${this.token}`,
      "User-Agent": "voxport",
    };
    if (init.contentType) headers["Content-Type"] = init.contentType;
    if (init.accept) headers.Accept = init.accept;
    try {
      return await fetch(`${this.base}${path}`, {
        method,
        headers,
        body: init.body,
        signal: AbortSignal.timeout(init.timeoutMs ?? RESOURCE_TIMEOUT_MS),
      });
    } catch (e) {
      const why = (e as Error).cause ? String((e as Error).cause) : (e as Error).message;
      throw new VoxportError("STORAGE", `BOSS ${method} ${this.base}${path}: ${why}`, {
        cause: e,
      });
    }
  }

  private async fail(method: string, path: string, r: Response): Promise<never> {
    let body = "";
    try {
      body = (await r.text()).slice(0, 400);
    } catch {
      /* the status says enough */
    }
    // BOSS errors are JSON {status, code, message}; show the message when there is one.
    try {
      const m = (JSON.parse(body) as Json).message;
      if (typeof m === "string") body = m;
    } catch {
      /* not JSON */
    }
    throw new BossHttpError(
      r.status,
      redact(`BOSS ${method} ${this.base}${path}: HTTP ${r.status}${body ? ` — ${body}` : ""}`, [
        this.token,
      ]),
    );
  }

  /** A resource's JSON, or undefined when the BOSS says it does not exist (404). */
  async getResource(path: string): Promise<Json | undefined> {
    const r = await this.call("GET", path, { accept: "application/json" });
    if (r.status === 404) {
      await r.body?.cancel();
      return undefined;
    }
    if (r.status !== 200) return this.fail("GET", path, r);
    return (await r.json()) as Json;
  }

  async createResource(path: string, body: Json): Promise<Json> {
    const r = await this.call("POST", path, {
      body: JSON.stringify(body),
      contentType: "application/json",
      accept: "application/json",
    });
    if (r.status !== 201) return this.fail("POST", path, r);
    return (await r.json()) as Json;
  }

  /** Experiment metadata `key`: created, or updated when it holds another value. */
  async setExperimentMetadata(
    collection: string,
    experiment: string,
    key: string,
    value: string,
  ): Promise<void> {
    const path = `/meta/${collection}/${experiment}/`;
    const q = `?key=${encodeURIComponent(key)}`;
    const cur = await this.getResource(`${path}${q}`);
    if (cur?.value === value) return;
    const method = cur ? "PUT" : "POST";
    const r = await this.call(method, `${path}${q}&value=${encodeURIComponent(value)}`, {});
    if (r.status !== (cur ? 200 : 201)) return this.fail(method, path, r);
    await r.body?.cancel();
  }

  /** POST one cutout; `frame` is blosc of the C-order (z, y, x) voxels. Success is 201. */
  async postCutout(t: CutoutTarget, res: number, b: Box, frame: Uint8Array): Promise<void> {
    const path = cutoutPath(t, res, b);
    const r = await this.call("POST", path, {
      body: frame,
      contentType: "application/blosc",
      timeoutMs: CUTOUT_TIMEOUT_MS,
    });
    if (r.status !== 201) return this.fail("POST", path, r);
    await r.body?.cancel();
  }

  /** GET one cutout as a blosc frame. */
  async getCutout(t: CutoutTarget, res: number, b: Box): Promise<Uint8Array> {
    const path = `${cutoutPath(t, res, b)}?access-mode=no-cache`;
    const r = await this.call("GET", path, {
      accept: "application/blosc",
      timeoutMs: CUTOUT_TIMEOUT_MS,
    });
    if (r.status !== 200) return this.fail("GET", path, r);
    return new Uint8Array(await r.arrayBuffer());
  }
}
